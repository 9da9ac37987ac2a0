//! `/v1/queues`: create, list, get (live stats), patch, delete, send, receive, ack, nack,
//! extend, purge, peek.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use switchyard_client::{
    AckRequest, AckResponse, CreateQueue, ExtendRequest, ExtendResponse, NackRequest, NackResponse,
    PatchQueue, PeekResponse, PublishBatch, PublishMessage, Published, PublishedBatch,
    PurgeResponse, Queue, QueueList, ReceiveRequest, ReceiveResponse, RedriveRequest,
    RedriveResponse,
};
use tracing::instrument;

use super::{ApiError, ApiJson, AppState};

/// Queue administration: create, list, get, patch, delete, purge, redrive.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/queues", post(create_queue).get(list_queues))
        .route(
            "/queues/{queue}",
            get(get_queue).patch(patch_queue).delete(delete_queue),
        )
        .route("/queues/{queue}/purge", post(purge_queue))
        .route("/queues/{queue}/redrive", post(redrive_queue))
}

/// The hot paths: send, peek, receive, ack, nack, extend. The broker itself finishes what
/// a caller that went away leaves (see `PendingWrite::then`); a long poll whose caller
/// went away stops waiting rather than lease messages nobody will get.
pub(super) fn message_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/queues/{queue}/messages",
            post(send_message).get(peek_messages),
        )
        .route("/queues/{queue}/batch", post(send_batch))
        .route("/queues/{queue}/receive", post(receive_messages))
        .route("/queues/{queue}/ack", post(ack_messages))
        .route("/queues/{queue}/nack", post(nack_messages))
        .route("/queues/{queue}/extend", post(extend_lease))
}

#[instrument(skip_all, fields(queue = %body.name))]
async fn create_queue(
    State(broker): State<AppState>,
    ApiJson(body): ApiJson<CreateQueue>,
) -> Result<(StatusCode, ApiJson<Queue>), ApiError> {
    let queue = broker.create_queue(body).await?;
    Ok((StatusCode::CREATED, ApiJson(queue)))
}

async fn list_queues(State(broker): State<AppState>) -> ApiJson<QueueList> {
    ApiJson(QueueList {
        queues: broker.list_queues(),
    })
}

async fn get_queue(
    State(broker): State<AppState>,
    Path(name): Path<String>,
) -> Result<ApiJson<Queue>, ApiError> {
    Ok(ApiJson(broker.get_queue(&name)?))
}

#[instrument(skip_all, fields(queue = %name))]
async fn patch_queue(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<PatchQueue>,
) -> Result<ApiJson<Queue>, ApiError> {
    Ok(ApiJson(broker.patch_queue(&name, patch).await?))
}

#[instrument(skip_all, fields(queue = %name))]
async fn delete_queue(
    State(broker): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    broker.delete_queue(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn send_message(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(message): ApiJson<PublishMessage>,
) -> Result<(StatusCode, ApiJson<Published>), ApiError> {
    let mut ids = broker.send(&name, vec![message], false).await?;
    let id = ids.pop().expect("one id per message");
    Ok((StatusCode::CREATED, ApiJson(Published { id })))
}

async fn send_batch(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(batch): ApiJson<PublishBatch>,
) -> Result<(StatusCode, ApiJson<PublishedBatch>), ApiError> {
    let ids = broker.send(&name, batch.messages, true).await?;
    Ok((StatusCode::CREATED, ApiJson(PublishedBatch { ids })))
}

async fn receive_messages(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<ReceiveRequest>,
) -> Result<ApiJson<ReceiveResponse>, ApiError> {
    let messages = broker.receive(&name, request).await?;
    Ok(ApiJson(ReceiveResponse { messages }))
}

async fn ack_messages(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<AckRequest>,
) -> Result<ApiJson<AckResponse>, ApiError> {
    Ok(ApiJson(broker.ack(&name, request.receipts).await?))
}

async fn nack_messages(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<NackRequest>,
) -> Result<ApiJson<NackResponse>, ApiError> {
    Ok(ApiJson(
        broker
            .nack(&name, request.receipts, request.delay_ms)
            .await?,
    ))
}

async fn extend_lease(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<ExtendRequest>,
) -> Result<ApiJson<ExtendResponse>, ApiError> {
    let visible_at_ms = broker
        .extend(&name, &request.receipt, request.visibility_timeout_ms)
        .await?;
    Ok(ApiJson(ExtendResponse { visible_at_ms }))
}

#[instrument(skip_all, fields(queue = %name))]
async fn purge_queue(
    State(broker): State<AppState>,
    Path(name): Path<String>,
) -> Result<ApiJson<PurgeResponse>, ApiError> {
    let purged = broker.purge_queue(&name).await?;
    Ok(ApiJson(PurgeResponse { purged }))
}

#[instrument(skip_all, fields(queue = %name))]
async fn redrive_queue(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<RedriveRequest>,
) -> Result<ApiJson<RedriveResponse>, ApiError> {
    Ok(ApiJson(broker.redrive(&name, request).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeekQuery {
    limit: Option<u32>,
    after: Option<String>,
}

async fn peek_messages(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<PeekQuery>, QueryRejection>,
) -> Result<ApiJson<PeekResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_body(e.body_text()))?;
    let messages = broker
        .peek(&name, query.after.as_deref(), query.limit.unwrap_or(10))
        .await?;
    Ok(ApiJson(PeekResponse { messages }))
}
