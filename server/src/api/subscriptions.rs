//! `/v1/subscriptions`: topic → queue with an optional filter; create, list, get, patch,
//! delete; and `/v1/filters/validate`, a dry run of a filter pattern. A subscription is
//! managed with `manage` on both its topic and its queue, and read with `read` on its topic.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use switchyard_client::{
    Action, CreateSubscription, FilterValidation, Kind, PatchSubscription, Subscription,
    SubscriptionList, ValidateFilter,
};
use tracing::instrument;

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson, AppState};

pub(super) fn routes() -> Routes<AppState> {
    const MANAGE: Need = Need::some(Action::Manage, Kind::Topic);
    const READ: Need = Need::some(Action::Read, Kind::Topic);
    Routes::new()
        .post("/subscriptions", MANAGE, create_subscription)
        .get("/subscriptions", READ, list_subscriptions)
        .get("/subscriptions/{id}", READ, get_subscription)
        .patch("/subscriptions/{id}", MANAGE, patch_subscription)
        .delete("/subscriptions/{id}", MANAGE, delete_subscription)
        .post("/filters/validate", READ, validate_filter)
}

/// Checks that the caller may manage both ends of a subscription.
fn require_manage(caller: &Caller, topic: &str, queue: &str) -> Result<(), ApiError> {
    caller.require(Action::Manage, Kind::Topic, topic)?;
    caller.require(Action::Manage, Kind::Queue, queue)
}

/// Checks a filter pattern and stores nothing: `200 {"valid":true}` or `400 invalid_filter`
/// naming the JSON path and the reason, exactly as creating a subscription would answer.
async fn validate_filter(
    State(broker): State<AppState>,
    ApiJson(body): ApiJson<ValidateFilter>,
) -> Result<ApiJson<FilterValidation>, ApiError> {
    broker.validate_filter(&body.filter)?;
    Ok(ApiJson(FilterValidation { valid: true }))
}

#[instrument(skip_all, fields(topic = %body.topic, queue = %body.queue))]
async fn create_subscription(
    State(broker): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateSubscription>,
) -> Result<(StatusCode, ApiJson<Subscription>), ApiError> {
    require_manage(&caller, &body.topic, &body.queue)?;
    let subscription = broker.create_subscription(body).await?;
    Ok((StatusCode::CREATED, ApiJson(subscription)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    topic: Option<String>,
}

async fn list_subscriptions(
    State(broker): State<AppState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<ApiJson<SubscriptionList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_body(e.body_text()))?;
    let mut subscriptions = broker.list_subscriptions(query.topic.as_deref())?;
    subscriptions.retain(|s| caller.may(Action::Read, Kind::Topic, &s.topic));
    Ok(ApiJson(SubscriptionList { subscriptions }))
}

async fn get_subscription(
    State(broker): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<Subscription>, ApiError> {
    let subscription = broker.get_subscription(&id)?;
    caller.require(Action::Read, Kind::Topic, &subscription.topic)?;
    Ok(ApiJson(subscription))
}

#[instrument(skip_all, fields(subscription = %id))]
async fn patch_subscription(
    State(broker): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchSubscription>,
) -> Result<ApiJson<Subscription>, ApiError> {
    let subscription = broker.get_subscription(&id)?;
    require_manage(&caller, &subscription.topic, &subscription.queue)?;
    Ok(ApiJson(broker.patch_subscription(&id, body.filter).await?))
}

#[instrument(skip_all, fields(subscription = %id))]
async fn delete_subscription(
    State(broker): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let subscription = broker.get_subscription(&id)?;
    require_manage(&caller, &subscription.topic, &subscription.queue)?;
    broker.delete_subscription(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
