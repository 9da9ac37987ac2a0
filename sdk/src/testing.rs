//! A native test kit: run a handler with `cargo test`, no wasm build, against an in-memory
//! host that records what the handler did.
//!
//! ```
//! use switchyard_sdk::testing::{TestHost, message};
//! use switchyard_sdk::{Batch, Outcome, kv};
//!
//! fn handle(batch: Batch) -> Vec<Outcome> {
//!     batch.map(|m| {
//!         let kind = m.attribute("kind").unwrap_or("unknown").to_string();
//!         kv::increment(&format!("count:{kind}"), 1).into_outcome()
//!     })
//! }
//! # trait IntoOutcome { fn into_outcome(self) -> Outcome; }
//! # impl IntoOutcome for Result<u64, switchyard_sdk::Error> {
//! #     fn into_outcome(self) -> Outcome { self.map(|_| ()).into() }
//! # }
//!
//! let mut host = TestHost::new();
//! let outcomes = host.run(handle, vec![message("{}").with_attribute("kind", "signup")]);
//! assert_eq!(outcomes, vec![Outcome::Ack]);
//! assert_eq!(host.kv_get("count:signup"), Some(&b"1"[..]));
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::allow::{AllowList, Entry, Host, Origin};
use crate::http::{Request, Response};
use crate::limits::{DEFAULT_MEMORY_BYTES, Ledger, Refusal};
use crate::{Batch, Error, Level, Message, Outcome, Publication};

type Responder = Box<dyn FnMut(&Request) -> Result<Response, Error>>;

/// An in-memory stand-in for the server while a handler runs natively.
pub struct TestHost {
    pub(crate) kv: BTreeMap<String, Vec<u8>>,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) now_ms: u64,
    memory_bytes: u64,
    ledger: Ledger,
    allowed: AllowList,
    published: Vec<Publication>,
    logs: Vec<(Level, String)>,
    requests: Vec<Request>,
    responder: Responder,
}

impl Default for TestHost {
    fn default() -> Self {
        Self {
            kv: BTreeMap::new(),
            config: BTreeMap::new(),
            now_ms: 1_700_000_000_000,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            ledger: Ledger::new(DEFAULT_MEMORY_BYTES),
            allowed: AllowList::default(),
            published: Vec::new(),
            logs: Vec::new(),
            requests: Vec::new(),
            responder: Box::new(|_| {
                Ok(Response {
                    status: 200,
                    body: Vec::new(),
                })
            }),
        }
    }
}

impl std::fmt::Debug for TestHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHost")
            .field("kv", &self.kv)
            .field("config", &self.config)
            .field("published", &self.published)
            .field("logs", &self.logs)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<TestHost>> = const { RefCell::new(None) };
}

/// Runs `f` on the host of the running [`TestHost::run`].
pub(crate) fn with_host<T>(f: impl FnOnce(&mut TestHost) -> T) -> T {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        let host = current
            .as_mut()
            .expect("Switchyard host calls need a host: call the handler through TestHost::run");
        f(host)
    })
}

impl TestHost {
    /// An empty host: no config, empty key-value store, every HTTP host denied.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a consumer config value.
    pub fn config(mut self, name: &str, value: &str) -> Self {
        self.config.insert(name.to_string(), value.to_string());
        self
    }

    /// Puts a value in the key-value store.
    pub fn kv(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.kv.insert(key.to_string(), value.as_ref().to_vec());
        self
    }

    /// Sets the clock.
    pub fn now(mut self, now_ms: u64) -> Self {
        self.now_ms = now_ms;
        self
    }

    /// Sets the consumer's `memory_bytes`, which is also the byte budget of what one
    /// invocation may make the host hold (see [`crate::limits`]); default
    /// [`DEFAULT_MEMORY_BYTES`].
    pub fn memory_bytes(mut self, memory_bytes: u64) -> Self {
        self.memory_bytes = memory_bytes;
        self
    }

    /// Allows outbound HTTP to `entry`, written as an `allowed_hosts` entry is
    /// (`https://api.example.com`, `http://127.0.0.1:8080`; see [`crate::allow`]), and
    /// matched as the server matches it.
    ///
    /// # Panics
    ///
    /// On an entry the server would refuse, such as one without a scheme.
    pub fn allow_host(mut self, entry: &str) -> Self {
        match Entry::parse(entry) {
            Ok(parsed) => self.allowed.push(parsed),
            Err(error) => panic!("allow_host({entry:?}) is not an allowed_hosts entry: {error}"),
        }
        self
    }

    /// Answers allowed HTTP requests with `responder` (default: 200, empty body).
    pub fn respond(
        mut self,
        responder: impl FnMut(&Request) -> Result<Response, Error> + 'static,
    ) -> Self {
        self.responder = Box::new(responder);
        self
    }

    /// Calls `handler` with a batch of `messages`, as the server would, and checks that it
    /// returned one outcome per message. The server's limits apply (see [`crate::limits`]):
    /// a call past a size or count limit fails with the server's error, and going over the
    /// byte budget panics with `budget fault`, as the invocation would fault when deployed.
    pub fn run(
        &mut self,
        handler: fn(Batch) -> Vec<Outcome>,
        messages: Vec<Message>,
    ) -> Vec<Outcome> {
        let count = messages.len();
        self.ledger = Ledger::new(self.memory_bytes);
        CURRENT.with(|current| *current.borrow_mut() = Some(std::mem::take(self)));
        let result = std::panic::catch_unwind(|| handler(Batch::new(messages)));
        *self = CURRENT
            .with(|current| current.borrow_mut().take())
            .expect("the host is still installed");
        let outcomes = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        assert_eq!(
            outcomes.len(),
            count,
            "the handler must return one outcome per message"
        );
        outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Outcome::DeadLetter { reason } => Outcome::DeadLetter {
                    reason: self.account(|ledger| ledger.reason(&reason)),
                },
                other => other,
            })
            .collect()
    }

    /// Runs a ledger check: a budget refusal panics (the invocation would fault).
    fn account<T>(&mut self, check: impl FnOnce(&mut Ledger) -> Result<T, Refusal>) -> T {
        match check(&mut self.ledger) {
            Ok(value) => value,
            Err(Refusal::Budget(message)) => panic!("budget fault: {message}"),
            Err(Refusal::Call(error)) => panic!("unexpected refusal: {error}"),
        }
    }

    /// Runs a ledger check of a call: a size or count refusal is the call's error, a budget
    /// refusal panics (the invocation would fault).
    pub(crate) fn check_call(
        &mut self,
        check: impl FnOnce(&mut Ledger) -> Result<(), Refusal>,
    ) -> Result<(), Error> {
        match check(&mut self.ledger) {
            Ok(()) => Ok(()),
            Err(Refusal::Call(error)) => Err(error),
            Err(Refusal::Budget(message)) => panic!("budget fault: {message}"),
        }
    }

    /// What the handler published, in order.
    pub fn published(&self) -> &[Publication] {
        &self.published
    }

    /// A value of the key-value store.
    pub fn kv_get(&self, key: &str) -> Option<&[u8]> {
        self.kv.get(key).map(Vec::as_slice)
    }

    /// The log lines.
    pub fn logs(&self) -> &[(Level, String)] {
        &self.logs
    }

    /// The HTTP requests the handler made (allowed or not).
    pub fn requests(&self) -> &[Request] {
        &self.requests
    }

    pub(crate) fn record_log(&mut self, level: Level, text: &str) {
        if let Some(text) = self.ledger.log(text) {
            self.logs.push((level, text));
        }
    }

    pub(crate) fn record_publish(&mut self, publication: Publication) -> Result<(), Error> {
        if publication.topic.is_empty() {
            return Err(Error::new("invalid_name", "a topic name cannot be empty"));
        }
        let bytes = crate::limits::publication_bytes(
            &publication.topic,
            &publication.payload,
            &publication.attributes,
            publication.key.as_deref(),
        );
        self.check_call(|ledger| ledger.publish(bytes))?;
        self.published.push(publication);
        Ok(())
    }

    pub(crate) fn record_http(&mut self, request: Request) -> Result<Response, Error> {
        let (scheme, authority, _) = crate::http::split_url(&request.url)?;
        let checked = self.check_http(scheme, authority);
        self.requests.push(request.clone());
        checked?;
        (self.responder)(&request)
    }

    /// The server's gate without DNS: `localhost` and `*.localhost` stand for the loopback
    /// addresses they always resolve to (RFC 6761); other names are taken to be global.
    fn check_http(&self, scheme: &str, authority: &str) -> Result<(), Error> {
        let off_list = || {
            Error::new(
                "http_denied",
                "the host is not on this consumer's allowed_hosts",
            )
        };
        let origin = Origin::parse(scheme, authority).map_err(|_| off_list())?;
        if !self.allowed.allows(&origin) {
            return Err(off_list());
        }
        if let Host::Name(name) = &origin.host
            && (name == "localhost" || name.ends_with(".localhost"))
        {
            let loopback = [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
            self.allowed
                .check_resolved(&origin, loopback)
                .map_err(|refusal| Error::new("http_denied", refusal.to_string()))?;
        }
        Ok(())
    }
}

/// A message for a test: the payload given, attempt 1, queue `test`, topic `test`.
pub fn message(payload: impl Into<Vec<u8>>) -> Message {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    Message {
        id: format!("01TEST{:020}", NEXT.fetch_add(1, Ordering::Relaxed)),
        topic: Some("test".into()),
        queue: "test".into(),
        key: None,
        attributes: Vec::new(),
        payload: payload.into(),
        published_at_ms: 1_700_000_000_000,
        attempt: 1,
    }
}

impl Message {
    /// The same message with one more attribute.
    pub fn with_attribute(mut self, name: &str, value: &str) -> Self {
        self.attributes.push((name.to_string(), value.to_string()));
        self
    }

    /// The same message with this key.
    pub fn with_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }

    /// The same message with this id.
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = id.to_string();
        self
    }

    /// The same message as delivery number `attempt`.
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_LOG_LINES, MAX_PUBLICATIONS};

    fn write_forty_kib(batch: Batch) -> Vec<Outcome> {
        batch.map(|m| {
            for i in 0..40 {
                crate::kv::set(&format!("{}:{i}", m.id), [0u8; 1024]).unwrap();
            }
            Outcome::Ack
        })
    }

    #[test]
    fn a_handler_within_its_budget_passes() {
        let mut host = TestHost::new().memory_bytes(64 << 10);
        assert_eq!(
            host.run(write_forty_kib, vec![message("{}")]),
            [Outcome::Ack]
        );
    }

    #[test]
    #[should_panic(expected = "budget fault")]
    fn a_handler_over_its_budget_faults_as_deployed() {
        let mut host = TestHost::new().memory_bytes(32 << 10);
        host.run(write_forty_kib, vec![message("{}")]);
    }

    #[test]
    fn publications_past_the_count_fail_as_on_the_server() {
        fn publish_too_many(batch: Batch) -> Vec<Outcome> {
            batch.map(|_| {
                for _ in 0..MAX_PUBLICATIONS {
                    crate::publish("t", "{}").unwrap();
                }
                match crate::publish("t", "{}") {
                    Err(error) => Outcome::dead_letter(error.code),
                    Ok(()) => Outcome::Ack,
                }
            })
        }
        let mut host = TestHost::new();
        let outcomes = host.run(publish_too_many, vec![message("{}")]);
        assert_eq!(outcomes, [Outcome::dead_letter("too_many_publications")]);
        assert_eq!(host.published().len(), MAX_PUBLICATIONS);
    }

    #[test]
    fn log_lines_past_the_cap_are_dropped() {
        fn chatty(batch: Batch) -> Vec<Outcome> {
            batch.map(|_| {
                for i in 0..10 * MAX_LOG_LINES {
                    crate::info(&format!("line {i}"));
                }
                Outcome::Ack
            })
        }
        let mut host = TestHost::new();
        assert_eq!(host.run(chatty, vec![message("{}")]), [Outcome::Ack]);
        assert_eq!(host.logs().len(), MAX_LOG_LINES);
    }
}
