//! `/v1/alarms`: create, list (with state and last transition), get and delete alarms on
//! queue and consumer metrics.
//!
//! Access is decided on the queue an alarm concerns: its queue, or for an alarm on a
//! consumer the queue that consumer consumed when the alarm was made. Making and deleting
//! one needs `manage` on that queue; reading it, `read` on it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::sync::Arc;
use switchyard_client::{Action, Alarm, AlarmList, CreateAlarm, Kind, PatchAlarm};
use tracing::instrument;

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson};
use crate::alarms::Alarms;

pub(super) type AlarmState = Arc<Alarms>;

pub(super) fn routes() -> Routes<AlarmState> {
    const MANAGE: Need = Need::some(Action::Manage, Kind::Queue);
    const READ: Need = Need::some(Action::Read, Kind::Queue);
    Routes::new()
        .post("/alarms", MANAGE, create_alarm)
        .get("/alarms", READ, list_alarms)
        .get("/alarms/{name}", READ, get_alarm)
        .patch("/alarms/{name}", MANAGE, patch_alarm)
        .delete("/alarms/{name}", MANAGE, delete_alarm)
}

#[instrument(skip_all, fields(alarm = %body.name))]
async fn create_alarm(
    State(alarms): State<AlarmState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateAlarm>,
) -> Result<(StatusCode, ApiJson<Alarm>), ApiError> {
    caller.note("alarm", &body.name);
    let queue = alarms.access_queue_of(&body)?;
    caller.require(Action::Manage, Kind::Queue, &queue)?;
    let alarm = alarms.create(body).await?;
    Ok((StatusCode::CREATED, ApiJson(alarm)))
}

async fn list_alarms(State(alarms): State<AlarmState>, caller: Caller) -> ApiJson<AlarmList> {
    let alarms = alarms.list(|queue| caller.may(Action::Read, Kind::Queue, queue));
    ApiJson(AlarmList { alarms })
}

async fn get_alarm(
    State(alarms): State<AlarmState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<ApiJson<Alarm>, ApiError> {
    caller.require(Action::Read, Kind::Queue, &alarms.access_queue(&name)?)?;
    Ok(ApiJson(alarms.get(&name)?))
}

#[instrument(skip_all, fields(alarm = %name))]
async fn patch_alarm(
    State(alarms): State<AlarmState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<PatchAlarm>,
) -> Result<ApiJson<Alarm>, ApiError> {
    caller.note("alarm", &name);
    caller.require(Action::Manage, Kind::Queue, &alarms.access_queue(&name)?)?;
    Ok(ApiJson(alarms.patch(&name, patch).await?))
}

#[instrument(skip_all, fields(alarm = %name))]
async fn delete_alarm(
    State(alarms): State<AlarmState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.note("alarm", &name);
    caller.require(Action::Manage, Kind::Queue, &alarms.access_queue(&name)?)?;
    alarms.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
