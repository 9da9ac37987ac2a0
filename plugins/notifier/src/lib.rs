//! Announces each new signup on a topic.
//!
//! For messages with the attribute `kind=signup`, publishes `{"text": "New signup: <email>"}`
//! (the payload's `email`) to the topic named in the consumer config `topic`; messages of
//! other kinds are acked without publishing. A signup without an `email`, or any signup while
//! `topic` is not configured, is dead-lettered; a failed publish (e.g. `topic_not_found`) is
//! retried. Uses no key-value store and no HTTP.

use switchyard_sdk::{Batch, Message, Outcome, config, handler, publish_json};

#[derive(serde::Deserialize)]
struct Signup {
    email: String,
}

/// Announces each signup of the batch.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    let topic = config("topic");
    batch.map(|message| {
        if message.attribute("kind") != Some("signup") {
            return Outcome::Ack;
        }
        match &topic {
            Some(topic) => announce(topic, &message),
            None => Outcome::dead_letter("config `topic` is not set"),
        }
    })
}

fn announce(topic: &str, message: &Message) -> Outcome {
    match message.json::<Signup>() {
        Ok(Signup { email }) if !email.is_empty() => {
            let text = format!("New signup: {email}");
            publish_json(topic, &serde_json::json!({ "text": text })).into()
        }
        _ => Outcome::dead_letter("the payload has no `email`"),
    }
}

#[cfg(test)]
mod tests {
    use switchyard_sdk::testing::{TestHost, message};
    use switchyard_sdk::{Level, Message, Outcome};

    fn signup(payload: &str) -> Message {
        message(payload).with_attribute("kind", "signup")
    }

    #[test]
    fn announces_signups_on_the_configured_topic() {
        let mut host = TestHost::new().config("topic", "announcements");
        let outcomes = host.run(
            super::handle,
            vec![signup(r#"{"email":"ada@example.com"}"#)],
        );
        assert_eq!(outcomes, vec![Outcome::Ack]);
        let [publication] = host.published() else {
            panic!("expected one publication")
        };
        assert_eq!(publication.topic, "announcements");
        let payload: serde_json::Value = serde_json::from_slice(&publication.payload).unwrap();
        assert_eq!(
            payload,
            serde_json::json!({ "text": "New signup: ada@example.com" })
        );
    }

    #[test]
    fn other_kinds_ack_without_publishing_even_unconfigured() {
        for mut host in [TestHost::new().config("topic", "t"), TestHost::new()] {
            let outcomes = host.run(
                super::handle,
                vec![
                    message(r#"{"email":"a@b.c"}"#).with_attribute("kind", "login"),
                    message("{}"),
                ],
            );
            assert_eq!(outcomes, vec![Outcome::Ack; 2]);
            assert!(host.published().is_empty());
        }
    }

    #[test]
    fn a_missing_topic_dead_letters_signups() {
        let mut host = TestHost::new();
        let outcomes = host.run(super::handle, vec![signup(r#"{"email":"a@b.c"}"#)]);
        assert_eq!(
            outcomes,
            vec![Outcome::dead_letter("config `topic` is not set")]
        );
        assert!(host.published().is_empty());
    }

    #[test]
    fn a_signup_without_an_email_is_dead_lettered() {
        let mut host = TestHost::new().config("topic", "t");
        let outcomes = host.run(super::handle, vec![signup("{}"), signup("not json")]);
        assert_eq!(
            outcomes,
            vec![Outcome::dead_letter("the payload has no `email`"); 2]
        );
        assert!(host.published().is_empty());
    }

    #[test]
    fn a_failed_publish_retries() {
        // The test host refuses an empty topic name, as the server does.
        let mut host = TestHost::new().config("topic", "");
        let outcomes = host.run(super::handle, vec![signup(r#"{"email":"a@b.c"}"#)]);
        assert_eq!(outcomes, vec![Outcome::retry()]);
        assert!(matches!(host.logs(), [(Level::Warn, line)] if line.contains("invalid_name")));
    }
}
