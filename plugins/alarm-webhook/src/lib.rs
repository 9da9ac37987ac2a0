//! Posts alarm transitions to a chat webhook (Slack, Mattermost, Rocket.Chat, Discord, or
//! anything that takes JSON).
//!
//! Consume a queue subscribed to the topic `switchyard.alarms` (filter on the attribute
//! `level` to route critical alarms elsewhere). Each message's payload is an alarm event
//! (`{"alarm", "level", "state", "metric", "value", "threshold", "queue" | "consumer",
//! "at_ms"}`); for each, the plugin POSTs one line such as
//! `FIRING [critical] backlog: depth is 12 (>= 10) on queue mail` to the URL in the consumer's
//! config (or secret) `webhook`, with the header `idempotency-key: <message id>`. The
//! webhook's host must be on the consumer's `allowed_hosts`.
//!
//! Config: `webhook` (required; a secret, as webhook URLs carry their credential);
//! `format`: `slack` (default: `{"text": line}`, which Slack, Mattermost and Rocket.Chat
//! take), `discord` (`{"content": line}`) or `event` (the alarm event itself, with `text`);
//! `min_level`: `warning` (default) or `critical`, to post only critical alarms.
//!
//! Outcomes: a 2xx answer acks; 408, 429, a 5xx or a transport error retries after 5 s (and
//! logs a warning); an `http_denied` call retries too, logging an error that the host is not
//! on `allowed_hosts`; any other 4xx is dead-lettered (the webhook refuses the message for
//! good: a revoked URL, say). A payload that is not an alarm event, or any message while
//! `webhook` is not configured, is dead-lettered. Alarms below `min_level` are acked without
//! a call. Publishes nothing and uses no key-value store.

use serde::{Deserialize, Serialize};
use switchyard_sdk::http::Request;
use switchyard_sdk::{Batch, Message, Outcome, config, handler};

/// How long to wait before retrying a failed post, in milliseconds.
const RETRY_MS: u64 = 5_000;

/// An alarm transition, as the server publishes it to `switchyard.alarms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AlarmEvent {
    alarm: String,
    level: String,
    state: String,
    metric: String,
    value: Option<f64>,
    threshold: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consumer: Option<String>,
    at_ms: u64,
}

impl AlarmEvent {
    /// One line for people: `FIRING [critical] backlog: depth is 12 (>= 10) on queue mail`.
    fn line(&self) -> String {
        let state = self.state.to_uppercase();
        let value = match self.value {
            Some(value) => format!("is {}", number(value)),
            None => "has no data".to_string(),
        };
        let on = match (&self.queue, &self.consumer) {
            (Some(queue), _) => format!(" on queue {queue}"),
            (None, Some(consumer)) => format!(" on consumer {consumer}"),
            (None, None) => String::new(),
        };
        format!(
            "{state} [{}] {}: {} {value} (threshold {}){on}",
            self.level,
            self.alarm,
            self.metric,
            number(self.threshold)
        )
    }
}

/// `12` rather than `12.0`; fractions as they are.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Posts each alarm of the batch.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    let webhook = config("webhook");
    let format = config("format").unwrap_or_else(|| "slack".into());
    let critical_only = config("min_level").as_deref() == Some("critical");
    batch.map(|message| {
        let Some(webhook) = &webhook else {
            return Outcome::dead_letter("config `webhook` is not set");
        };
        let event = match message.json::<AlarmEvent>() {
            Ok(event) => event,
            Err(error) => {
                return Outcome::dead_letter(format!("not an alarm event: {error}"));
            }
        };
        if critical_only && event.level != "critical" {
            return Outcome::Ack;
        }
        post(webhook, &format, &message, &event)
    })
}

fn body(format: &str, event: &AlarmEvent) -> serde_json::Value {
    let line = event.line();
    match format {
        "discord" => serde_json::json!({ "content": line }),
        "event" => {
            let mut body = serde_json::to_value(event).expect("an alarm event serializes");
            body["text"] = serde_json::Value::String(line);
            body
        }
        _ => serde_json::json!({ "text": line }),
    }
}

fn post(webhook: &str, format: &str, message: &Message, event: &AlarmEvent) -> Outcome {
    let response = Request::new("POST", webhook)
        .header("idempotency-key", &message.id)
        .json(&body(format, event))
        .and_then(Request::send);
    // The URL carries the webhook's credential: logs name only where it points.
    let target = webhook.split('?').next().unwrap_or_default();
    let target = target.rsplit_once('/').map_or(target, |(origin, _)| origin);
    match response {
        Ok(response) if response.is_success() => return Outcome::Ack,
        Ok(response) if matches!(response.status, 408 | 429) || response.status >= 500 => {
            switchyard_sdk::warn(&format!(
                "the webhook at {target}/… answered {}; retrying in {RETRY_MS} ms",
                response.status
            ));
        }
        Ok(response) => {
            return Outcome::dead_letter(format!(
                "the webhook at {target}/… refused the alarm with {}",
                response.status
            ));
        }
        Err(error) if error.code == "http_denied" => switchyard_sdk::error(&format!(
            "posting to {target}/… was denied: its host is not on this consumer's \
             allowed_hosts; retrying in {RETRY_MS} ms"
        )),
        Err(error) => switchyard_sdk::warn(&format!(
            "posting to {target}/… failed: {error}; retrying in {RETRY_MS} ms"
        )),
    }
    Outcome::retry_after(RETRY_MS)
}

#[cfg(test)]
mod tests {
    use switchyard_sdk::http::Response;
    use switchyard_sdk::testing::{TestHost, message};
    use switchyard_sdk::{Error, Level, Outcome};

    const WEBHOOK: &str = "https://hooks.example.com/services/T0/B0/secret";

    fn firing(level: &str) -> String {
        serde_json::json!({"alarm": "backlog", "level": level, "state": "firing",
            "metric": "depth", "value": 12.0, "threshold": 10.0, "queue": "mail",
            "at_ms": 1_700_000_000_000u64})
        .to_string()
    }

    fn host() -> TestHost {
        TestHost::new()
            .config("webhook", WEBHOOK)
            .allow_host("https://hooks.example.com")
    }

    fn answering(host: TestHost, status: u16) -> TestHost {
        host.respond(move |_| {
            Ok(Response {
                status,
                body: Vec::new(),
            })
        })
    }

    fn posted(host: &TestHost) -> serde_json::Value {
        let [request] = host.requests() else {
            panic!("expected one request, got {:?}", host.requests())
        };
        serde_json::from_slice(&request.body).expect("a JSON body")
    }

    #[test]
    fn a_firing_alarm_is_posted_as_one_line_with_the_message_id_as_idempotency_key() {
        let mut host = answering(host(), 200);
        let outcomes = host.run(
            super::handle,
            vec![message(firing("critical")).with_id("m-1")],
        );
        assert_eq!(outcomes, vec![Outcome::Ack]);
        let request = &host.requests()[0];
        assert_eq!(
            (request.method.as_str(), request.url.as_str()),
            ("POST", WEBHOOK)
        );
        assert!(
            request
                .headers
                .contains(&("idempotency-key".into(), "m-1".into()))
        );
        assert_eq!(
            posted(&host),
            serde_json::json!({
                "text": "FIRING [critical] backlog: depth is 12 (threshold 10) on queue mail"
            })
        );
    }

    #[test]
    fn a_resolved_consumer_alarm_reads_as_such_and_formats_follow_the_config() {
        let resolved = serde_json::json!({"alarm": "flaky", "level": "warning",
            "state": "resolved", "metric": "fault_rate", "value": 0.25, "threshold": 0.5,
            "consumer": "worker", "at_ms": 1})
        .to_string();
        let line =
            "RESOLVED [warning] flaky: fault_rate is 0.25 (threshold 0.5) on consumer worker";
        let mut discord = answering(host().config("format", "discord"), 204);
        discord.run(super::handle, vec![message(resolved.clone())]);
        assert_eq!(posted(&discord), serde_json::json!({ "content": line }));
        let mut event = answering(host().config("format", "event"), 204);
        event.run(super::handle, vec![message(resolved)]);
        let body = posted(&event);
        assert_eq!(body["text"], line);
        assert_eq!(body["alarm"], "flaky");
        assert_eq!(body["consumer"], "worker");
    }

    #[test]
    fn no_data_is_said_in_words() {
        let event = serde_json::json!({"alarm": "a", "level": "warning", "state": "resolved",
            "metric": "depth", "value": null, "threshold": 1.0, "queue": "q", "at_ms": 1})
        .to_string();
        let mut host = answering(host(), 200);
        host.run(super::handle, vec![message(event)]);
        let text = posted(&host)["text"].as_str().unwrap().to_string();
        assert!(text.contains("depth has no data"), "{text}");
    }

    #[test]
    fn with_min_level_critical_warnings_are_acked_without_a_call() {
        let mut host = answering(host().config("min_level", "critical"), 200);
        let outcomes = host.run(
            super::handle,
            vec![message(firing("warning")), message(firing("critical"))],
        );
        assert_eq!(outcomes, vec![Outcome::Ack, Outcome::Ack]);
        assert_eq!(host.requests().len(), 1);
    }

    #[test]
    fn busy_or_failing_webhooks_retry_and_refusals_are_dead_lettered() {
        for status in [408, 429, 500, 503] {
            let mut host = answering(host(), status);
            let outcomes = host.run(super::handle, vec![message(firing("critical"))]);
            assert_eq!(outcomes, vec![Outcome::retry_after(5_000)], "{status}");
            let [(Level::Warn, line)] = host.logs() else {
                panic!("expected a warning: {:?}", host.logs())
            };
            assert!(line.contains(&status.to_string()), "{line}");
            assert!(
                !line.contains("secret"),
                "the URL's credential stays out: {line}"
            );
        }
        let mut refusing = answering(host(), 404);
        let outcomes = refusing.run(super::handle, vec![message(firing("critical"))]);
        let [Outcome::DeadLetter { reason }] = outcomes.as_slice() else {
            panic!("expected a dead letter: {outcomes:?}")
        };
        assert!(
            reason.contains("404") && !reason.contains("secret"),
            "{reason}"
        );
        let mut unreachable =
            host().respond(|_| Err(Error::new("http_failed", "connection refused")));
        let outcomes = unreachable.run(super::handle, vec![message(firing("critical"))]);
        assert_eq!(outcomes, vec![Outcome::retry_after(5_000)]);
    }

    #[test]
    fn a_webhook_off_the_allow_list_retries_and_says_so() {
        let mut host = TestHost::new().config("webhook", WEBHOOK);
        let outcomes = host.run(super::handle, vec![message(firing("critical"))]);
        assert_eq!(outcomes, vec![Outcome::retry_after(5_000)]);
        assert!(matches!(host.logs(), [(Level::Error, line)] if line.contains("allowed_hosts")));
    }

    #[test]
    fn other_payloads_and_a_missing_webhook_are_dead_lettered() {
        let mut host = host();
        let outcomes = host.run(super::handle, vec![message("{}"), message("nope")]);
        assert!(outcomes.iter().all(
            |o| matches!(o, Outcome::DeadLetter { reason } if reason.starts_with("not an alarm event"))
        ));
        let mut unconfigured = TestHost::new();
        let outcomes = unconfigured.run(super::handle, vec![message(firing("critical"))]);
        assert_eq!(
            outcomes,
            vec![Outcome::dead_letter("config `webhook` is not set")]
        );
        assert!(host.requests().is_empty() && unconfigured.requests().is_empty());
    }
}
