//! Adds each new signup to a mailing list over HTTP.
//!
//! For messages with the attribute `kind=signup`, POSTs `{"email": <payload.email>}` as JSON
//! to the URL in the consumer config `endpoint`, with the header
//! `idempotency-key: <message id>` so that redeliveries do not subscribe anyone twice; messages
//! of other kinds are acked without a call. The endpoint's host must be on the consumer's
//! `allowed_hosts`.
//!
//! Outcomes: a 2xx answer acks; any other status or a transport error retries after 1 s (and
//! logs a warning); an `http_denied` call retries too, logging an error that the host is not
//! on `allowed_hosts`; a payload without an `email` is dead-lettered, and so is every signup
//! while `endpoint` is not configured. Publishes nothing and uses no key-value store.

use switchyard_sdk::http::Request;
use switchyard_sdk::{Batch, Message, Outcome, config, handler};

/// How long to wait before retrying a failed call, in milliseconds.
const RETRY_MS: u64 = 1_000;

#[derive(serde::Deserialize)]
struct Signup {
    email: String,
}

/// Subscribes each signup of the batch.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    let endpoint = config("endpoint");
    batch.map(|message| {
        if message.attribute("kind") != Some("signup") {
            return Outcome::Ack;
        }
        match &endpoint {
            Some(endpoint) => subscribe(endpoint, &message),
            None => Outcome::dead_letter("config `endpoint` is not set"),
        }
    })
}

fn subscribe(endpoint: &str, message: &Message) -> Outcome {
    let email = match message.json::<Signup>() {
        Ok(Signup { email }) if !email.is_empty() => email,
        _ => return Outcome::dead_letter("the payload has no `email`"),
    };
    let response = Request::new("POST", endpoint)
        .header("idempotency-key", &message.id)
        .json(&serde_json::json!({ "email": email }))
        .and_then(Request::send);
    match response {
        Ok(response) if response.is_success() => return Outcome::Ack,
        Ok(response) => switchyard_sdk::warn(&format!(
            "POST {endpoint} answered {}; retrying in {RETRY_MS} ms",
            response.status
        )),
        Err(error) if error.code == "http_denied" => switchyard_sdk::error(&format!(
            "POST {endpoint} was denied: its host is not on this consumer's allowed_hosts; \
             retrying in {RETRY_MS} ms"
        )),
        Err(error) => switchyard_sdk::warn(&format!(
            "POST {endpoint} failed: {error}; retrying in {RETRY_MS} ms"
        )),
    }
    Outcome::retry_after(RETRY_MS)
}

#[cfg(test)]
mod tests {
    use switchyard_sdk::http::Response;
    use switchyard_sdk::testing::{TestHost, message};
    use switchyard_sdk::{Error, Level, Message, Outcome};

    const ENDPOINT: &str = "http://lists.example.com/subscribe";

    fn host() -> TestHost {
        TestHost::new()
            .config("endpoint", ENDPOINT)
            .allow_host("http://lists.example.com")
    }

    fn signup(payload: &str) -> Message {
        message(payload).with_attribute("kind", "signup")
    }

    fn answering(status: u16) -> TestHost {
        host().respond(move |_| {
            Ok(Response {
                status,
                body: Vec::new(),
            })
        })
    }

    #[test]
    fn posts_the_email_with_the_message_id_as_idempotency_key() {
        let mut host = answering(201);
        let outcomes = host.run(
            super::handle,
            vec![signup(r#"{"email":"ada@example.com","plan":"pro"}"#).with_id("m-1")],
        );
        assert_eq!(outcomes, vec![Outcome::Ack]);
        let [request] = host.requests() else {
            panic!("expected one request")
        };
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, ENDPOINT);
        assert!(
            request
                .headers
                .contains(&("idempotency-key".into(), "m-1".into()))
        );
        assert!(
            request
                .headers
                .contains(&("content-type".into(), "application/json".into()))
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body, serde_json::json!({ "email": "ada@example.com" }));
    }

    #[test]
    fn other_kinds_ack_without_a_call_even_unconfigured() {
        for mut host in [host(), TestHost::new()] {
            let outcomes = host.run(
                super::handle,
                vec![
                    message(r#"{"email":"ada@example.com"}"#).with_attribute("kind", "login"),
                    message(r#"{"email":"ada@example.com"}"#),
                ],
            );
            assert_eq!(outcomes, vec![Outcome::Ack; 2]);
            assert!(host.requests().is_empty());
        }
    }

    #[test]
    fn an_error_status_retries_after_a_second_with_a_warning() {
        let mut host = answering(503);
        let outcomes = host.run(super::handle, vec![signup(r#"{"email":"a@b.c"}"#)]);
        assert_eq!(outcomes, vec![Outcome::retry_after(1_000)]);
        assert!(matches!(host.logs(), [(Level::Warn, line)] if line.contains("503")));
    }

    #[test]
    fn a_transport_error_retries_after_a_second_with_a_warning() {
        let mut host = host().respond(|_| Err(Error::new("http_failed", "connection refused")));
        let outcomes = host.run(super::handle, vec![signup(r#"{"email":"a@b.c"}"#)]);
        assert_eq!(outcomes, vec![Outcome::retry_after(1_000)]);
        assert!(
            matches!(host.logs(), [(Level::Warn, line)] if line.contains("connection refused"))
        );
    }

    #[test]
    fn a_denied_host_retries_and_logs_an_error_about_allowed_hosts() {
        let mut host = TestHost::new().config("endpoint", ENDPOINT);
        let outcomes = host.run(super::handle, vec![signup(r#"{"email":"a@b.c"}"#)]);
        assert_eq!(outcomes, vec![Outcome::retry_after(1_000)]);
        assert_eq!(host.requests().len(), 1);
        assert!(matches!(host.logs(), [(Level::Error, line)] if line.contains("allowed_hosts")));
    }

    #[test]
    fn a_signup_without_an_email_is_dead_lettered() {
        let mut host = host();
        let outcomes = host.run(
            super::handle,
            vec![
                signup("{}"),
                signup(r#"{"email":""}"#),
                signup(r#"{"email":7}"#),
                signup("nope"),
            ],
        );
        assert_eq!(
            outcomes,
            vec![Outcome::dead_letter("the payload has no `email`"); 4]
        );
        assert!(host.requests().is_empty());
    }

    #[test]
    fn a_missing_endpoint_dead_letters_signups() {
        let mut host = TestHost::new();
        let outcomes = host.run(super::handle, vec![signup(r#"{"email":"a@b.c"}"#)]);
        assert_eq!(
            outcomes,
            vec![Outcome::dead_letter("config `endpoint` is not set")]
        );
        assert!(host.requests().is_empty());
    }
}
