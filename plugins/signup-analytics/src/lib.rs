//! Counts events per `kind` attribute under the key `count:<kind>` (events without one count
//! as `count:unknown`).

use switchyard_sdk::{Batch, Outcome, handler, kv};

/// Counts each message of the batch.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    batch.map(|message| {
        let kind = message.attribute("kind").unwrap_or("unknown");
        kv::increment(&format!("count:{kind}"), 1).map(drop).into()
    })
}

#[cfg(test)]
mod tests {
    use switchyard_sdk::Outcome;
    use switchyard_sdk::testing::{TestHost, message};

    #[test]
    fn counts_per_kind_on_top_of_what_is_stored() {
        let mut host = TestHost::new().kv("count:signup", "41");
        let outcomes = host.run(
            super::handle,
            vec![
                message("{}").with_attribute("kind", "signup"),
                message("{}").with_attribute("kind", "login"),
                message("{}"),
            ],
        );
        assert_eq!(outcomes, vec![Outcome::Ack; 3]);
        assert_eq!(host.kv_get("count:signup"), Some(&b"42"[..]));
        assert_eq!(host.kv_get("count:login"), Some(&b"1"[..]));
        assert_eq!(host.kv_get("count:unknown"), Some(&b"1"[..]));
    }

    #[test]
    fn a_corrupt_counter_retries() {
        let mut host = TestHost::new().kv("count:signup", "lots");
        let outcomes = host.run(
            super::handle,
            vec![message("{}").with_attribute("kind", "signup")],
        );
        assert_eq!(outcomes, vec![Outcome::retry()]);
    }
}
