//! `/v1/topics`: create, list, get, change (archive), delete, publish one or a batch,
//! start a replay of the archive, preview a draft filter against it.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use switchyard_client::{
    CreateTopic, PatchTopic, PreviewRequest, PreviewResponse, PublishBatch, PublishMessage,
    Published, PublishedBatch, Replay, StartReplay, Topic, TopicList,
};
use tracing::instrument;

use super::{ApiError, ApiJson, AppState};

/// Topic administration (see [`publish_routes`] for publishing).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/topics", post(create_topic).get(list_topics))
        .route(
            "/topics/{topic}",
            get(get_topic).patch(patch_topic).delete(delete_topic),
        )
        .route("/topics/{topic}/replays", post(start_replay))
        .route("/topics/{topic}/preview", post(preview_filter))
}

/// Publishing: the hot path; the broker itself finishes a publish whose caller went away.
pub(super) fn publish_routes() -> Router<AppState> {
    Router::new()
        .route("/topics/{topic}/messages", post(publish_message))
        .route("/topics/{topic}/batch", post(publish_batch))
}

#[instrument(skip_all, fields(topic = %body.name))]
async fn create_topic(
    State(broker): State<AppState>,
    ApiJson(body): ApiJson<CreateTopic>,
) -> Result<(StatusCode, ApiJson<Topic>), ApiError> {
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
    Path(name): Path<String>,
    ApiJson(body): ApiJson<StartReplay>,
) -> Result<(StatusCode, ApiJson<Replay>), ApiError> {
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

async fn list_topics(State(broker): State<AppState>) -> ApiJson<TopicList> {
    ApiJson(TopicList {
        topics: broker.list_topics(),
    })
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
    Path(name): Path<String>,
    ApiJson(message): ApiJson<PublishMessage>,
) -> Result<(StatusCode, ApiJson<Published>), ApiError> {
    let mut ids = broker.publish(&name, vec![message], false).await?;
    let id = ids.pop().expect("one id per message");
    Ok((StatusCode::CREATED, ApiJson(Published { id })))
}

async fn publish_batch(
    State(broker): State<AppState>,
    Path(name): Path<String>,
    ApiJson(batch): ApiJson<PublishBatch>,
) -> Result<(StatusCode, ApiJson<PublishedBatch>), ApiError> {
    let ids = broker.publish(&name, batch.messages, true).await?;
    Ok((StatusCode::CREATED, ApiJson(PublishedBatch { ids })))
}
