//! The HTTP application [`super::request`] sends bodies to: built once per process on a
//! temporary database, with the resources the routes name, and put back after each
//! request that changed something.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::access::Access;
use crate::broker::Broker;
use crate::config::Config;
use crate::dispatcher::Dispatcher;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::storage::{Op, PluginOp, PluginRecord};

/// The routes that take a JSON body, on the resources [`Service`] keeps: a request's
/// first byte picks one (modulo their number).
pub(super) const ROUTES: &[Route] = &[
    Route::create("/v1/topics", "name", "/v1/topics/"),
    Route::patch("/v1/topics/t", r#"{"archive":{}}"#),
    Route::post("/v1/topics/t/replays"),
    Route::post("/v1/topics/t/preview"),
    Route::post("/v1/topics/t/messages"),
    Route::post("/v1/topics/t/batch"),
    Route::create("/v1/queues", "name", "/v1/queues/"),
    Route::patch("/v1/queues/q", QUEUE_SETTINGS),
    Route::post("/v1/queues/q/messages"),
    Route::post("/v1/queues/q/batch"),
    Route::post("/v1/queues/q/receive"),
    Route::post("/v1/queues/q/ack"),
    Route::post("/v1/queues/q/nack"),
    Route::post("/v1/queues/q/extend"),
    Route::post("/v1/queues/dlq/redrive"),
    Route::create("/v1/subscriptions", "id", "/v1/subscriptions/"),
    Route::patch(SUBSCRIPTION, r#"{"filter":null}"#),
    Route::post("/v1/filters/validate"),
    Route::create("/v1/consumers", "name", "/v1/consumers/"),
    Route::patch("/v1/consumers/c", CONSUMER_SETTINGS),
    Route::post("/v1/plugins/p/activate"),
    Route::create("/v1/tokens", "id", "/v1/tokens/"),
];

/// Stands for the id of the subscription `t` → `q` in a route's path.
const SUBSCRIPTION: &str = "/v1/subscriptions/{subscription}";
/// Queue `q`'s settings, as made and as put back after a change.
const QUEUE_SETTINGS: &str = r#"{"visibility_timeout_ms":30000,"delay_ms":0,"retention_ms":86400000,"dead_letter_queue":null}"#;
/// Consumer `c`'s settings, as put back after a change.
const CONSUMER_SETTINGS: &str = r#"{"plugin":"p","batch":{"max_messages":10,"max_bytes":1048576,"max_wait_ms":0},"concurrency":1,"timeout_ms":10000,"memory_bytes":67108864,"fuel":null,"config":{},"secrets":{},"allowed_hosts":[]}"#;
/// The admin token every request carries.
const TOKEN: &str = "fuzz-admin-token-0123456789";

pub(super) struct Route {
    pub(super) method: Method,
    pub(super) path: &'static str,
    undo: Undo,
}

/// How a request that succeeded is undone, so that every request finds the same state.
enum Undo {
    Nothing,
    /// Delete what it made: `under` + the answer's `field`.
    Delete {
        field: &'static str,
        under: &'static str,
    },
    /// Patch the resource back with this body.
    Patch(&'static str),
}

impl Route {
    const fn post(path: &'static str) -> Self {
        Self {
            method: Method::POST,
            path,
            undo: Undo::Nothing,
        }
    }

    const fn create(path: &'static str, field: &'static str, under: &'static str) -> Self {
        Self {
            method: Method::POST,
            path,
            undo: Undo::Delete { field, under },
        }
    }

    const fn patch(path: &'static str, body: &'static str) -> Self {
        Self {
            method: Method::PATCH,
            path,
            undo: Undo::Patch(body),
        }
    }
}

/// The application [`super::request`] calls, with its own runtime.
pub(super) struct Service {
    runtime: tokio::runtime::Runtime,
    app: Router,
    subscription: String,
}

impl Service {
    pub(super) fn get() -> &'static Service {
        static SERVICE: OnceLock<Service> = OnceLock::new();
        SERVICE.get_or_init(Service::start)
    }

    fn start() -> Service {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime starts");
        // The database file is unlinked once open: nothing stays behind.
        let dir = std::env::temp_dir().join(format!("switchyard-fuzz-{}", std::process::id()));
        let config = Config::for_data_dir(&dir);
        let broker = Broker::open(&config).expect("the broker opens");
        std::fs::remove_dir_all(&dir).expect("the data directory goes");
        let app = runtime.block_on(async {
            let plugin = PluginRecord {
                name: "p".into(),
                active_version: None,
                versions: Vec::new(),
                created_at_ms: 0,
            };
            let put = PluginOp::PutPlugin {
                record: plugin,
                binary: None,
            };
            let storage = broker.storage().clone();
            storage.write(vec![Op::Plugin(put)]).await.expect("writes");
            let engine = Runtime::new(RuntimeConfig::default()).expect("the engine starts");
            let dispatcher = Dispatcher::start(broker.clone(), Arc::new(engine))
                .await
                .expect("the dispatcher starts");
            let (access, _) = Access::open(storage, &dir, Some(TOKEN), true, 100)
                .await
                .expect("access opens");
            let alarms = crate::alarms::Alarms::open(broker.clone(), dispatcher.clone())
                .await
                .expect("alarms open");
            crate::api::app(
                broker.clone(),
                dispatcher,
                Arc::new(access),
                alarms,
                &config,
            )
        });
        let mut service = Service {
            runtime,
            app,
            subscription: String::new(),
        };
        let queue = |name: &str| {
            let mut settings: Value = serde_json::from_str(QUEUE_SETTINGS).expect("JSON");
            settings["name"] = json!(name);
            settings
                .as_object_mut()
                .expect("object")
                .remove("dead_letter_queue");
            settings.to_string()
        };
        let subscription = json!({"topic": "t", "queue": "q"}).to_string();
        let consumer = json!({"name": "c", "queue": "dlq", "plugin": "p"}).to_string();
        let fixtures = [
            ("/v1/topics", r#"{"name":"t","archive":{}}"#.to_string()),
            ("/v1/queues", queue("q")),
            ("/v1/queues", queue("dlq")),
            ("/v1/subscriptions", subscription),
            ("/v1/consumers", consumer),
        ];
        for (path, body) in fixtures {
            let (status, answer) = service.call(Method::POST, path, body.into_bytes());
            assert_eq!(status, StatusCode::CREATED, "{path}: {answer:?}");
            if path == "/v1/subscriptions" {
                service.subscription = field(&answer, "id");
            }
        }
        broker.begin_shutdown();
        service
    }

    pub(super) fn path(&self, template: &str) -> String {
        template.replace("{subscription}", &self.subscription)
    }

    pub(super) fn call(&self, method: Method, path: &str, body: Vec<u8>) -> (StatusCode, Bytes) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::from(body))
            .expect("a request builds");
        self.runtime.block_on(async {
            let answer = self.app.clone().oneshot(request);
            let response = tokio::time::timeout(Duration::from_secs(10), answer)
                .await
                .unwrap_or_else(|_| panic!("{path} did not answer in 10 s"))
                .expect("the router is infallible");
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("the answer reads");
            (status, body)
        })
    }

    /// Puts back what a successful request changed.
    pub(super) fn undo(&self, route: &Route, path: &str, answer: &[u8]) {
        let mut undo = Vec::new();
        match route.undo {
            Undo::Nothing => {}
            Undo::Delete { field: name, under } => {
                undo.push((
                    Method::DELETE,
                    format!("{under}{}", field(answer, name)),
                    "",
                ));
            }
            Undo::Patch(body) => undo.push((Method::PATCH, path.to_string(), body)),
        }
        for queue in ["q", "dlq"] {
            undo.push((Method::POST, format!("/v1/queues/{queue}/purge"), ""));
        }
        for (method, path, body) in undo {
            let (status, answer) = self.call(method, &path, body.as_bytes().to_vec());
            assert!(
                status.is_success(),
                "undoing with {path}: {status} {answer:?}"
            );
        }
    }
}

/// A string field of a JSON answer.
fn field(answer: &[u8], name: &str) -> String {
    let answer: Value = serde_json::from_slice(answer).expect("an answer is JSON");
    let value = answer[name].as_str();
    let value = value.unwrap_or_else(|| panic!("no {name:?} in {answer}"));
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::request;

    #[test]
    fn request_takes_good_and_bad_bodies_on_every_route() {
        let bodies = [
            &b"{}"[..],
            b"[1]",
            b"not json",
            br#"{"name":"fresh","scopes":["read:*:*"]}"#,
            br#"{"payload":{"a":1},"attributes":{"kind":"x"}}"#,
        ];
        for pick in 0..ROUTES.len() {
            for body in bodies {
                let mut data = vec![pick as u8];
                data.extend_from_slice(body);
                request(&data);
            }
        }
        // Each succeeds twice: what the first one changed was undone.
        let changes = [
            ("/v1/topics", r#"{"name":"fresh"}"#),
            ("/v1/topics/t", r#"{"archive":null}"#),
            (
                "/v1/topics/t/replays",
                r#"{"queue":"q","from":{"position":0}}"#,
            ),
            ("/v1/topics/t/preview", r#"{"filter":{"key":["k"]}}"#),
            ("/v1/topics/t/messages", r#"{"payload":1,"key":"k"}"#),
            (
                "/v1/queues",
                r#"{"name":"fresh","dead_letter_queue":"dlq"}"#,
            ),
            ("/v1/queues/q", r#"{"dead_letter_queue":"dlq"}"#),
            ("/v1/queues/q/batch", r#"{"messages":[{"payload":1}]}"#),
            ("/v1/queues/q/receive", r#"{"wait_ms":20000}"#),
            ("/v1/subscriptions", r#"{"topic":"t","queue":"dlq"}"#),
            (SUBSCRIPTION, r#"{"filter":{"key":["k"]}}"#),
            (
                "/v1/consumers",
                r#"{"name":"fresh","queue":"q","plugin":"p"}"#,
            ),
            ("/v1/consumers/c", r#"{"concurrency":2,"config":{"a":"b"}}"#),
            ("/v1/tokens", r#"{"name":"fresh","scopes":["read:*:*"]}"#),
        ];
        for (path, body) in changes {
            let pick = ROUTES.iter().position(|r| r.path == path).expect("a route");
            let mut data = vec![pick as u8];
            data.extend_from_slice(body.as_bytes());
            for _ in 0..2 {
                let status = request(&data).expect("a status");
                assert!(status.is_success(), "{path} {body}: {status}");
            }
        }
        assert_eq!(request(b""), None);
    }
}
