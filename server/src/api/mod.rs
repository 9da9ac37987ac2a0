//! The REST API (`/v1`): the only module that knows HTTP. One file per resource, each with
//! its own `routes()`; errors become `{"error":{"code","message"}}` in [`error`].

mod console;
mod error;
mod messages;
mod metrics;
mod queues;
mod subscriptions;
mod topics;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request};
use axum::routing::get;
use switchyard_client::Health;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
use error::ApiJson;

use crate::broker::Broker;
use crate::config::Config;

/// Longest a request may take: the longest long poll (20 s) plus headroom.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests served at once; more wait their turn.
const MAX_CONCURRENT_REQUESTS: usize = 8192;

type AppState = Arc<Broker>;

/// The whole HTTP application, ready to serve (tests can call it without a socket).
pub fn app(broker: Arc<Broker>, config: &Config) -> Router {
    let body_limit = config
        .max_request_bytes
        .max(config.max_message_bytes / 3 * 4 + (64 << 10));
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics::render))
        .nest(
            "/v1",
            Router::new()
                .merge(topics::routes())
                .merge(queues::routes())
                .merge(subscriptions::routes())
                .merge(messages::routes()),
        )
        .with_state(broker)
        .merge(console::routes(config.console_dir.as_deref()))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(tower::limit::ConcurrencyLimitLayer::new(
            MAX_CONCURRENT_REQUESTS,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .on_response(error::LogFailures)
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(request_id, Counter::default()))
}

async fn health() -> ApiJson<Health> {
    ApiJson(Health {
        status: "ok".into(),
    })
}

/// Request ids: a process-unique counter.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{n:016x}"))
            .ok()
            .map(RequestId::new)
    }
}
