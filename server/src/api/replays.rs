//! `/v1/replays`: replay jobs (started at `POST /v1/topics/{t}/replays`): list, get with
//! progress, cancel.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use switchyard_client::{Replay, ReplayList};
use tracing::instrument;

use super::{ApiError, ApiJson, AppState};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/replays", get(list_replays))
        .route("/replays/{id}", get(get_replay).delete(cancel_replay))
}

async fn list_replays(State(broker): State<AppState>) -> ApiJson<ReplayList> {
    ApiJson(ReplayList {
        replays: broker.list_replays(),
    })
}

async fn get_replay(
    State(broker): State<AppState>,
    Path(id): Path<String>,
) -> Result<ApiJson<Replay>, ApiError> {
    Ok(ApiJson(broker.get_replay(&id)?))
}

#[instrument(skip_all, fields(replay = %id))]
async fn cancel_replay(
    State(broker): State<AppState>,
    Path(id): Path<String>,
) -> Result<ApiJson<Replay>, ApiError> {
    Ok(ApiJson(broker.cancel_replay(&id).await?))
}
