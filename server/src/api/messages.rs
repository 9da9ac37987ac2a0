//! `/v1/messages/{id}`: where a message is, queue by queue.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use switchyard_client::MessageStatus;

use super::{ApiError, ApiJson, AppState};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/messages/{id}", get(get_message_status))
}

async fn get_message_status(
    State(broker): State<AppState>,
    Path(id): Path<String>,
) -> Result<ApiJson<MessageStatus>, ApiError> {
    Ok(ApiJson(broker.message_status(&id).await?))
}
