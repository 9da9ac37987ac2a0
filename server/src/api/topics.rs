//! `/v1/topics`: create, list, get, change (archive), delete, publish one or a batch,
//! start a replay of the archive, preview a draft filter against it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use switchyard_client::{
    Action, CreateTopic, Kind, PatchTopic, PreviewRequest, PreviewResponse, PublishBatch,
    PublishMessage, Published, PublishedBatch, Replay, StartReplay, Topic, TopicList,
};
use tracing::instrument;

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson, AppState};

const MANAGE: Need = Need::on(Action::Manage, Kind::Topic, "topic");
const READ: Need = Need::on(Action::Read, Kind::Topic, "topic");

/// Topic administration (see [`publish_routes`] for publishing).
pub(super) fn routes() -> Routes<AppState> {
    Routes::new()
        .post(
            "/topics",
            Need::some(Action::Manage, Kind::Topic),
            create_topic,
        )
        .get(
            "/topics",
            Need::some(Action::Read, Kind::Topic),
            list_topics,
        )
        .get("/topics/{topic}", READ, get_topic)
        .patch("/topics/{topic}", MANAGE, patch_topic)
        .delete("/topics/{topic}", MANAGE, delete_topic)
        .post("/topics/{topic}/replays", MANAGE, start_replay)
        .post("/topics/{topic}/preview", READ, preview_filter)
}

/// Publishing: the hot path; the broker itself finishes a publish whose caller went away.
pub(super) fn publish_routes() -> Routes<AppState> {
    const PUBLISH: Need = Need::on(Action::Publish, Kind::Topic, "topic");
    Routes::new()
        .post("/topics/{topic}/messages", PUBLISH, publish_message)
        .post("/topics/{topic}/batch", PUBLISH, publish_batch)
}

#[instrument(skip_all, fields(topic = %body.name))]
async fn create_topic(
    State(broker): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTopic>,
) -> Result<(StatusCode, ApiJson<Topic>), ApiError> {
    caller.require(Action::Manage, Kind::Topic, &body.name)?;
    let topic = broker.create_topic(&body.name, body.archive).await?;
    Ok((StatusCode::CREATED, ApiJson(topic)))
}

#[instrument(skip_all, fields(topic = %name))]
async fn patch_topic(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PatchTopic>,
) -> Result<ApiJson<Topic>, ApiError> {
    Ok(ApiJson(broker.patch_topic(&name, body).await?))
}

#[instrument(skip_all, fields(topic = %name, queue = %body.queue))]
async fn start_replay(
    State(broker): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<StartReplay>,
) -> Result<(StatusCode, ApiJson<Replay>), ApiError> {
    caller.require(Action::Manage, Kind::Queue, &body.queue)?;
    let replay = broker.start_replay(&name, body).await?;
    Ok((StatusCode::ACCEPTED, ApiJson(replay)))
}

async fn preview_filter(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> Result<ApiJson<PreviewResponse>, ApiError> {
    Ok(ApiJson(broker.preview(&name, body).await?))
}

async fn list_topics(State(broker): State<AppState>, caller: Caller) -> ApiJson<TopicList> {
    let mut topics = broker.list_topics();
    topics.retain(|t| caller.may(Action::Read, Kind::Topic, &t.name));
    ApiJson(TopicList { topics })
}

async fn get_topic(
    State(broker): State<AppState>,
    Path(name): Path<String>,
) -> Result<ApiJson<Topic>, ApiError> {
    Ok(ApiJson(broker.get_topic(&name)?))
}

#[instrument(skip_all, fields(topic = %name))]
async fn delete_topic(
    State(broker): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    broker.delete_topic(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn publish_message(
    State(broker): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(message): ApiJson<PublishMessage>,
) -> Result<(StatusCode, ApiJson<Published>), ApiError> {
    caller.principal().charge_publish(1)?;
    let mut ids = broker.publish(&name, vec![message], false).await?;
    let id = ids.pop().expect("one id per message");
    Ok((StatusCode::CREATED, ApiJson(Published { id })))
}

async fn publish_batch(
    State(broker): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(batch): ApiJson<PublishBatch>,
) -> Result<(StatusCode, ApiJson<PublishedBatch>), ApiError> {
    caller.principal().charge_publish(batch.messages.len())?;
    let ids = broker.publish(&name, batch.messages, true).await?;
    Ok((StatusCode::CREATED, ApiJson(PublishedBatch { ids })))
}
