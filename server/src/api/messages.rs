//! `/v1/messages/{id}`: where a message is, queue by queue (only the queues the token may
//! read).

use axum::extract::{Path, State};
use switchyard_client::{Action, Kind, MessageStatus};

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson, AppState};

pub(super) fn routes() -> Routes<AppState> {
    Routes::new().get(
        "/messages/{id}",
        Need::some(Action::Read, Kind::Queue),
        get_message_status,
    )
}

async fn get_message_status(
    State(broker): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<MessageStatus>, ApiError> {
    let mut status = broker.message_status(&id).await?;
    status
        .deliveries
        .retain(|d| caller.may(Action::Read, Kind::Queue, &d.queue));
    Ok(ApiJson(status))
}
