//! `/v1/subscriptions`: topic → queue with an optional filter; create, list, get, patch,
//! delete; and `/v1/filters/validate`, a dry run of a filter pattern.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use switchyard_client::{
    CreateSubscription, FilterValidation, PatchSubscription, Subscription, SubscriptionList,
    ValidateFilter,
};
use tracing::instrument;

use super::{ApiError, ApiJson, AppState};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/subscriptions",
            post(create_subscription).get(list_subscriptions),
        )
        .route(
            "/subscriptions/{id}",
            get(get_subscription)
                .patch(patch_subscription)
                .delete(delete_subscription),
        )
        .route("/filters/validate", post(validate_filter))
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
    ApiJson(body): ApiJson<CreateSubscription>,
) -> Result<(StatusCode, ApiJson<Subscription>), ApiError> {
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
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<ApiJson<SubscriptionList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_body(e.body_text()))?;
    let subscriptions = broker.list_subscriptions(query.topic.as_deref())?;
    Ok(ApiJson(SubscriptionList { subscriptions }))
}

async fn get_subscription(
    State(broker): State<AppState>,
    Path(id): Path<String>,
) -> Result<ApiJson<Subscription>, ApiError> {
    Ok(ApiJson(broker.get_subscription(&id)?))
}

#[instrument(skip_all, fields(subscription = %id))]
async fn patch_subscription(
    State(broker): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchSubscription>,
) -> Result<ApiJson<Subscription>, ApiError> {
    Ok(ApiJson(broker.patch_subscription(&id, body.filter).await?))
}

#[instrument(skip_all, fields(subscription = %id))]
async fn delete_subscription(
    State(broker): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    broker.delete_subscription(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
