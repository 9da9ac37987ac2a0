//! `/v1/queues`: create, list, get (live stats), patch, delete, send, receive, ack, nack,
//! extend, purge, peek.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use switchyard_client::{
    AckRequest, AckResponse, Action, CreateQueue, ExtendRequest, ExtendResponse, History, Kind,
    NackRequest, NackResponse, PatchQueue, PeekResponse, PublishBatch, PublishMessage, Published,
    PublishedBatch, PurgeResponse, Queue, QueueList, ReceiveRequest, ReceiveResponse, RedriveJob,
    RedriveList, RedriveRequest,
};
use tracing::instrument;

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson, AppState};

const MANAGE: Need = Need::on(Action::Manage, Kind::Queue, "queue");
const READ: Need = Need::on(Action::Read, Kind::Queue, "queue");

/// Queue administration: create, list, get, patch, delete, purge, redrive.
pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .post(
            "/queues",
            Need::some(Action::Manage, Kind::Queue),
            create_queue,
        )
        .get(
            "/queues",
            Need::some(Action::Read, Kind::Queue),
            list_queues,
        )
        .get("/queues/{queue}", READ, get_queue)
        .patch("/queues/{queue}", MANAGE, patch_queue)
        .delete("/queues/{queue}", MANAGE, delete_queue)
        .post("/queues/{queue}/purge", MANAGE, purge_queue)
        .post("/queues/{queue}/redrive", MANAGE, redrive_queue)
        .get("/queues/{queue}/redrives", READ, list_redrives)
        .get("/queues/{queue}/redrives/{id}", READ, get_redrive)
        .delete("/queues/{queue}/redrives/{id}", MANAGE, cancel_redrive)
        .get(
            "/history",
            Need::some(Action::Read, Kind::Queue),
            get_history,
        )
}

/// The last hour of samples, of the queues and topics the token may read.
async fn get_history(State(broker): State<AppState>, caller: Caller) -> ApiJson<History> {
    ApiJson(broker.history(|queue, name| {
        let kind = if queue { Kind::Queue } else { Kind::Topic };
        caller.may(Action::Read, kind, name)
    }))
}

/// The hot paths: send, peek, receive, ack, nack, extend. The broker itself finishes what
/// a caller that went away leaves (see `PendingWrite::then`); a long poll whose caller
/// went away stops waiting rather than lease messages nobody will get.
pub(super) fn message_routes() -> Routes<AppState> {
    const PUBLISH: Need = Need::on(Action::Publish, Kind::Queue, "queue");
    const CONSUME: Need = Need::on(Action::Consume, Kind::Queue, "queue");
    Routes::new()
        .post("/queues/{queue}/messages", PUBLISH, send_message)
        .get("/queues/{queue}/messages", READ, peek_messages)
        .post("/queues/{queue}/batch", PUBLISH, send_batch)
        .post("/queues/{queue}/receive", CONSUME, receive_messages)
        .post("/queues/{queue}/ack", CONSUME, ack_messages)
        .post("/queues/{queue}/nack", CONSUME, nack_messages)
        .post("/queues/{queue}/extend", CONSUME, extend_lease)
}

#[instrument(skip_all, fields(queue = %body.name))]
async fn create_queue(
    State(broker): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateQueue>,
) -> Result<(StatusCode, ApiJson<Queue>), ApiError> {
    caller.require(Action::Manage, Kind::Queue, &body.name)?;
    if let Some(dead_letters) = &body.dead_letter_queue {
        caller.require(Action::Manage, Kind::Queue, dead_letters)?;
    }
    let queue = broker.create_queue(body).await?;
    Ok((StatusCode::CREATED, ApiJson(queue)))
}

async fn list_queues(State(broker): State<AppState>, caller: Caller) -> ApiJson<QueueList> {
    let mut queues = broker.list_queues();
    queues.retain(|q| caller.may(Action::Read, Kind::Queue, &q.name));
    ApiJson(QueueList { queues })
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
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<PatchQueue>,
) -> Result<ApiJson<Queue>, ApiError> {
    if let Some(Some(dead_letters)) = &patch.dead_letter_queue {
        caller.require(Action::Manage, Kind::Queue, dead_letters)?;
    }
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
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(message): ApiJson<PublishMessage>,
) -> Result<(StatusCode, ApiJson<Published>), ApiError> {
    caller.principal().charge_publish(1)?;
    let mut ids = broker.send(&name, vec![message], false).await?;
    let id = ids.pop().expect("one id per message");
    Ok((StatusCode::CREATED, ApiJson(Published { id })))
}

async fn send_batch(
    State(broker): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(batch): ApiJson<PublishBatch>,
) -> Result<(StatusCode, ApiJson<PublishedBatch>), ApiError> {
    caller.principal().charge_publish(batch.messages.len())?;
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
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<RedriveRequest>,
) -> Result<(StatusCode, ApiJson<RedriveJob>), ApiError> {
    if let Some(destination) = &request.destination {
        caller.require(Action::Manage, Kind::Queue, destination)?;
    }
    let job = broker.start_redrive(&name, request).await?;
    Ok((StatusCode::ACCEPTED, ApiJson(job)))
}

async fn list_redrives(
    State(broker): State<AppState>,
    Path(name): Path<String>,
) -> Result<ApiJson<RedriveList>, ApiError> {
    let redrives = broker.list_redrives(&name)?;
    Ok(ApiJson(RedriveList { redrives }))
}

async fn get_redrive(
    State(broker): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<ApiJson<RedriveJob>, ApiError> {
    Ok(ApiJson(broker.get_redrive(&name, &id)?))
}

#[instrument(skip_all, fields(queue = %name, redrive = %id))]
async fn cancel_redrive(
    State(broker): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<ApiJson<RedriveJob>, ApiError> {
    Ok(ApiJson(broker.cancel_redrive(&name, &id)?))
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
