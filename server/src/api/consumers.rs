//! `/v1/consumers`: a queue wired to a plugin; create, list, get (with counters), patch,
//! pause, resume, delete, and its recent log lines.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use switchyard_client::{Consumer, ConsumerList, ConsumerLogs, CreateConsumer, PatchConsumer};
use tracing::instrument;

use super::{ApiError, ApiJson, DispatcherState};

pub(super) fn routes() -> Router<DispatcherState> {
    Router::new()
        .route("/consumers", post(create_consumer).get(list_consumers))
        .route(
            "/consumers/{name}",
            get(get_consumer)
                .patch(patch_consumer)
                .delete(delete_consumer),
        )
        .route("/consumers/{name}/pause", post(pause_consumer))
        .route("/consumers/{name}/resume", post(resume_consumer))
        .route("/consumers/{name}/logs", get(consumer_logs))
}

#[instrument(skip_all, fields(consumer = %body.name))]
async fn create_consumer(
    State(dispatcher): State<DispatcherState>,
    ApiJson(body): ApiJson<CreateConsumer>,
) -> Result<(StatusCode, ApiJson<Consumer>), ApiError> {
    let consumer = dispatcher.create_consumer(body).await?;
    Ok((StatusCode::CREATED, ApiJson(consumer)))
}

async fn list_consumers(State(dispatcher): State<DispatcherState>) -> ApiJson<ConsumerList> {
    ApiJson(ConsumerList {
        consumers: dispatcher.list_consumers(),
    })
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
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PatchConsumer>,
) -> Result<ApiJson<Consumer>, ApiError> {
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
