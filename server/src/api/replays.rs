//! `/v1/replays`: replay jobs (started at `POST /v1/topics/{t}/replays`): list, get with
//! progress, cancel. A job is read with `read` on its topic and cancelled with `manage`.

use axum::extract::{Path, State};
use switchyard_client::{Action, Kind, Replay, ReplayList};
use tracing::instrument;

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson, AppState};

pub(super) fn routes() -> Routes<AppState> {
    const READ: Need = Need::some(Action::Read, Kind::Topic);
    Routes::new()
        .get("/replays", READ, list_replays)
        .get("/replays/{id}", READ, get_replay)
        .delete(
            "/replays/{id}",
            Need::some(Action::Manage, Kind::Topic),
            cancel_replay,
        )
}

async fn list_replays(State(broker): State<AppState>, caller: Caller) -> ApiJson<ReplayList> {
    let mut replays = broker.list_replays();
    replays.retain(|r| caller.may(Action::Read, Kind::Topic, &r.topic));
    ApiJson(ReplayList { replays })
}

async fn get_replay(
    State(broker): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<Replay>, ApiError> {
    let replay = broker.get_replay(&id)?;
    caller.require(Action::Read, Kind::Topic, &replay.topic)?;
    Ok(ApiJson(replay))
}

#[instrument(skip_all, fields(replay = %id))]
async fn cancel_replay(
    State(broker): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<Replay>, ApiError> {
    let replay = broker.get_replay(&id)?;
    caller.require(Action::Manage, Kind::Topic, &replay.topic)?;
    Ok(ApiJson(broker.cancel_replay(&id).await?))
}
