//! The REST API (`/v1`): the only module that knows HTTP. One file per resource, each with
//! its own `routes()`; errors become `{"error":{"code","message"}}` in [`error`].

mod alarms;
mod auth;
mod console;
mod consumers;
mod edge;
mod error;
mod messages;
mod metrics;
mod monitor;
mod plugins;
mod queues;
mod replays;
mod sqs;
mod subscriptions;
mod tokens;
mod topics;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use switchyard_client::{Action, Health, Kind};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

pub use auth::{Need, RouteSpec, Target};
pub use error::ApiError;
use error::ApiJson;

use crate::access::Access;
use crate::broker::Broker;
use crate::config::Config;
use crate::dispatcher::Dispatcher;

/// Longest a request may take: the longest long poll (20 s) plus headroom.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

type AppState = Arc<Broker>;
type DispatcherState = Arc<Dispatcher>;

/// The routes of `/v1` and `/metrics`, each with what it needs, by the state it runs on.
fn declared() -> (
    auth::Routes<AppState>,
    auth::Routes<DispatcherState>,
    auth::Routes<Arc<Access>>,
    auth::Routes<alarms::AlarmState>,
) {
    let complete =
        |router: Router<_>| router.route_layer(axum::middleware::from_fn(run_to_completion));
    let broker = auth::Routes::new()
        .merge(topics::routes())
        .merge(queues::routes())
        .merge(subscriptions::routes())
        .merge(replays::routes())
        .map(complete)
        .merge(topics::publish_routes())
        .merge(queues::message_routes())
        .merge(messages::routes());
    let dispatcher = auth::Routes::new()
        .merge(plugins::routes())
        .merge(consumers::routes())
        .merge(monitor::routes())
        .map(|router: Router<DispatcherState>| {
            router.route_layer(axum::middleware::from_fn(run_to_completion))
        });
    let access = tokens::routes().map(|router: Router<Arc<Access>>| {
        router.route_layer(axum::middleware::from_fn(run_to_completion))
    });
    let alarms = alarms::routes().map(|router: Router<alarms::AlarmState>| {
        router.route_layer(axum::middleware::from_fn(run_to_completion))
    });
    (broker, dispatcher, access, alarms)
}

/// Every route under `/v1`, with what it needs of the caller's token (generated from the
/// router itself: what is routed is what is listed). `/metrics` needs a token too.
pub fn routes() -> Vec<RouteSpec> {
    let (broker, dispatcher, access, alarms) = declared();
    let mut specs = broker.specs("/v1");
    specs.extend(dispatcher.specs("/v1"));
    specs.extend(access.specs("/v1"));
    specs.extend(alarms.specs("/v1"));
    specs.push(metrics_spec());
    specs
}

fn metrics_spec() -> RouteSpec {
    RouteSpec {
        method: axum::http::Method::GET,
        path: "/metrics".into(),
        need: Need::some(Action::Read, Kind::Any),
    }
}

/// The whole HTTP application, ready to serve (tests can call it without a socket).
pub fn app(
    broker: Arc<Broker>,
    dispatcher: Arc<Dispatcher>,
    access: Arc<Access>,
    alarms: Arc<crate::alarms::Alarms>,
    config: &Config,
) -> Router {
    let body_limit = config
        .max_request_bytes
        .max(config.max_message_bytes / 3 * 4 + (64 << 10));
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let (broker_routes, dispatcher_routes, access_routes, alarm_routes) = declared();
    let broker_for_health = broker.clone();
    let sqs = Arc::new(sqs::Sqs::new(broker.clone(), access.clone(), config));
    let (v1, _) = broker_routes.finish::<()>(broker.clone(), "");
    let (plugins, _) = dispatcher_routes.finish::<()>(dispatcher, "");
    let (tokens, _) = access_routes.finish::<()>(access.clone(), "");
    let (alarms, _) = alarm_routes.finish::<()>(alarms, "");
    let metrics = Router::new()
        .route(
            "/metrics",
            get(metrics::render).route_layer(axum::middleware::from_fn_with_state(
                metrics_spec().need,
                auth::authorize,
            )),
        )
        .with_state(broker);
    let authenticated = Router::new()
        .nest("/v1", v1.merge(plugins).merge(tokens).merge(alarms))
        .merge(metrics)
        .layer(axum::middleware::from_fn_with_state(
            access.clone(),
            auth::authenticate,
        ));
    let shed = edge::Shedder::new(config.max_concurrent_requests);
    let served = authenticated
        .merge(console::routes(config.console_dir.as_deref()))
        .layer(axum::middleware::from_fn_with_state(sqs, sqs::serve))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(shed, edge::shed))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    let policy = Arc::new(edge::Policy::new(config));
    Router::new()
        .route("/healthz", get(health).with_state(broker_for_health))
        .merge(served)
        .layer(axum::middleware::from_fn_with_state(
            policy,
            edge::check_origin_and_host,
        ))
        .layer(axum::middleware::from_fn(edge::shape_errors))
        .layer(axum::middleware::from_fn(edge::security_headers))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .on_response(error::LogFailures)
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(request_id, Counter::default()))
}

/// Runs the rest of an administrative request in a task of its own, so that a change the
/// broker has begun is carried through (the durable write, then memory) even when the
/// client goes away or the request times out: dropping this future drops only the wait for
/// the answer. (Publishes and settlements need no task: the broker finishes them itself.)
async fn run_to_completion(request: Request<Body>, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Only a runtime shutting down cancels the task.
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// `200 {"status":"ok"}` while the writer commits; `503 storage_failed` once a commit
/// failed on I/O (the server takes no more writes and should be restarted).
async fn health(State(broker): State<AppState>) -> Result<ApiJson<Health>, ApiError> {
    match broker.storage().health().failure() {
        None => Ok(ApiJson(Health {
            status: "ok".into(),
        })),
        Some(reason) => Err(ApiError::InvalidBody {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "storage_failed",
            message: format!(
                "storage stopped taking writes after a failed commit ({reason}); restart the server"
            ),
        }),
    }
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tower::ServiceExt as _;

    use super::*;

    /// Polls a request once, far enough to reach storage, then drops it as a client that
    /// goes away (or the request timeout) does.
    async fn abandon(app: Router, method: &str, path: &str, body: &str) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let _ = tokio::time::timeout(Duration::ZERO, app.oneshot(request)).await;
    }

    async fn dispatcher(broker: &Arc<Broker>) -> Arc<Dispatcher> {
        let runtime = crate::runtime::Runtime::new(crate::runtime::RuntimeConfig::default());
        Dispatcher::start(broker.clone(), Arc::new(runtime.unwrap()))
            .await
            .unwrap()
    }

    /// Access with authentication off (these tests are about what happens after it).
    async fn open_access(broker: &Arc<Broker>, dir: &std::path::Path) -> Arc<Access> {
        let (access, _) = Access::open(broker.storage().clone(), dir, None, false, 100)
            .await
            .unwrap();
        Arc::new(access)
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn an_abandoned_publish_still_reaches_its_queue() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_data_dir(dir.path());
        let broker = Broker::open(&config).unwrap();
        broker.create_topic("t", None).await.unwrap();
        let queue = switchyard_client::CreateQueue {
            name: "q".into(),
            ..Default::default()
        };
        broker.create_queue(queue).await.unwrap();
        let subscription = switchyard_client::CreateSubscription {
            topic: "t".into(),
            queue: "q".into(),
            filter: None,
            start: None,
        };
        broker.create_subscription(subscription).await.unwrap();
        let access = open_access(&broker, dir.path()).await;
        let dispatcher = dispatcher(&broker).await;
        let alarms = crate::alarms::Alarms::open(broker.clone(), dispatcher.clone())
            .await
            .unwrap();
        let app = app(broker.clone(), dispatcher.clone(), access, alarms, &config);
        abandon(app, "POST", "/v1/topics/t/messages", r#"{"payload":1}"#).await;
        let ready = || broker.get_queue("q").unwrap().stats.unwrap().ready;
        eventually("the committed message to be ready", || ready() == 1).await;
    }

    #[tokio::test]
    async fn after_a_failed_commit_healthz_and_every_write_answer_503() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_data_dir(dir.path());
        let disk = crate::storage::failure_tests::FailingBackend::default();
        let (storage, recovered) = disk.open();
        let broker = Broker::with_storage(storage, recovered, &config).unwrap();
        let queue = switchyard_client::CreateQueue {
            name: "q".into(),
            ..Default::default()
        };
        broker.create_queue(queue).await.unwrap();
        let access = open_access(&broker, dir.path()).await;
        let dispatcher = dispatcher(&broker).await;
        let alarms = crate::alarms::Alarms::open(broker.clone(), dispatcher.clone())
            .await
            .unwrap();
        let app = app(broker.clone(), dispatcher.clone(), access, alarms, &config);
        let call = |method: &str, path: &str| {
            let request = Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", "application/json")
                .body(Body::from(r#"{"payload":1}"#))
                .unwrap();
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await.unwrap();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .unwrap();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        assert_eq!(call("GET", "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            call("POST", "/v1/queues/q/messages").await.0,
            StatusCode::CREATED
        );
        disk.broken.store(true, Ordering::SeqCst);
        let (status, _) = call("POST", "/v1/queues/q/messages").await;
        assert_eq!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "the failing commit"
        );
        disk.broken.store(false, Ordering::SeqCst);
        let (status, body) = call("GET", "/healthz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("storage_failed"), "{body}");
        let (status, body) = call("POST", "/v1/queues/q/messages").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("storage_failed"), "{body}");
        assert_eq!(
            broker.get_queue("q").unwrap().stats.unwrap().ready,
            1,
            "only the committed message"
        );
    }

    #[tokio::test]
    async fn an_abandoned_queue_delete_still_leaves_the_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_data_dir(dir.path());
        let broker = Broker::open(&config).unwrap();
        let queue = switchyard_client::CreateQueue {
            name: "q".into(),
            ..Default::default()
        };
        broker.create_queue(queue).await.unwrap();
        let access = open_access(&broker, dir.path()).await;
        let dispatcher = dispatcher(&broker).await;
        let alarms = crate::alarms::Alarms::open(broker.clone(), dispatcher.clone())
            .await
            .unwrap();
        let app = app(broker.clone(), dispatcher.clone(), access, alarms, &config);
        abandon(app, "DELETE", "/v1/queues/q", "").await;
        eventually("the deleted queue to leave the catalog", || {
            broker.get_queue("q").is_err()
        })
        .await;
    }
}
