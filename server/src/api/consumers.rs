//! `/v1/consumers`: a queue wired to a plugin; create, list, get (with counters), patch,
//! pause, resume, delete, and its recent log lines.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use switchyard_client::{
    Action, Consumer, ConsumerList, ConsumerLogs, CreateConsumer, Kind, PatchConsumer,
};
use tracing::instrument;

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson, DispatcherState};

/// A consumer is made and changed with `deploy` on it and on its plugin, and `consume` on
/// its queue (its plugin consumes the queue on the deployer's behalf).
pub(super) fn routes() -> Routes<DispatcherState> {
    const READ: Need = Need::on(Action::Read, Kind::Consumer, "name");
    const DEPLOY: Need = Need::on(Action::Deploy, Kind::Consumer, "name");
    Routes::new()
        .post(
            "/consumers",
            Need::some(Action::Deploy, Kind::Consumer),
            create_consumer,
        )
        .get(
            "/consumers",
            Need::some(Action::Read, Kind::Consumer),
            list_consumers,
        )
        .get("/consumers/{name}", READ, get_consumer)
        .patch("/consumers/{name}", DEPLOY, patch_consumer)
        .delete("/consumers/{name}", DEPLOY, delete_consumer)
        .post("/consumers/{name}/pause", DEPLOY, pause_consumer)
        .post("/consumers/{name}/resume", DEPLOY, resume_consumer)
        .get("/consumers/{name}/logs", READ, consumer_logs)
}

#[instrument(skip_all, fields(consumer = %body.name))]
async fn create_consumer(
    State(dispatcher): State<DispatcherState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateConsumer>,
) -> Result<(StatusCode, ApiJson<Consumer>), ApiError> {
    caller.require(Action::Deploy, Kind::Consumer, &body.name)?;
    caller.require(Action::Deploy, Kind::Plugin, &body.plugin)?;
    caller.require(Action::Consume, Kind::Queue, &body.queue)?;
    let consumer = dispatcher.create_consumer(body).await?;
    Ok((StatusCode::CREATED, ApiJson(consumer)))
}

async fn list_consumers(
    State(dispatcher): State<DispatcherState>,
    caller: Caller,
) -> ApiJson<ConsumerList> {
    let mut consumers = dispatcher.list_consumers();
    consumers.retain(|c| caller.may(Action::Read, Kind::Consumer, &c.name));
    ApiJson(ConsumerList { consumers })
}

async fn get_consumer(
    State(dispatcher): State<DispatcherState>,
    Path(name): Path<String>,
) -> Result<ApiJson<Consumer>, ApiError> {
    Ok(ApiJson(dispatcher.get_consumer(&name)?))
}

#[instrument(skip_all, fields(consumer = %name))]
async fn patch_consumer(
    State(dispatcher): State<DispatcherState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PatchConsumer>,
) -> Result<ApiJson<Consumer>, ApiError> {
    if let Some(plugin) = &body.plugin {
        caller.require(Action::Deploy, Kind::Plugin, plugin)?;
    }
    Ok(ApiJson(dispatcher.patch_consumer(&name, body).await?))
}

#[instrument(skip_all, fields(consumer = %name))]
async fn pause_consumer(
    State(dispatcher): State<DispatcherState>,
    Path(name): Path<String>,
) -> Result<ApiJson<Consumer>, ApiError> {
    Ok(ApiJson(dispatcher.set_paused(&name, true).await?))
}

#[instrument(skip_all, fields(consumer = %name))]
async fn resume_consumer(
    State(dispatcher): State<DispatcherState>,
    Path(name): Path<String>,
) -> Result<ApiJson<Consumer>, ApiError> {
    Ok(ApiJson(dispatcher.set_paused(&name, false).await?))
}

#[instrument(skip_all, fields(consumer = %name))]
async fn delete_consumer(
    State(dispatcher): State<DispatcherState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    dispatcher.delete_consumer(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    after: Option<u64>,
}

async fn consumer_logs(
    State(dispatcher): State<DispatcherState>,
    Path(name): Path<String>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<ApiJson<ConsumerLogs>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_body(e.body_text()))?;
    Ok(ApiJson(ConsumerLogs {
        entries: dispatcher.consumer_logs(&name, query.after)?,
    }))
}
