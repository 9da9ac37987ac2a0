//! Acks every message and does nothing else: no payload parsing, no host calls. The baseline
//! plugin for benchmarks, measuring the server's own cost per message. Uses no config keys
//! and publishes nothing.

use switchyard_sdk::{Batch, Outcome, handler};

/// Acks the whole batch.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    vec![Outcome::Ack; batch.len()]
}

#[cfg(test)]
mod tests {
    use switchyard_sdk::Outcome;
    use switchyard_sdk::testing::{TestHost, message};

    #[test]
    fn acks_everything_and_touches_nothing() {
        let mut host = TestHost::new();
        let outcomes = host.run(
            super::handle,
            vec![message("{}"), message("not json"), message(vec![0xff; 3])],
        );
        assert_eq!(outcomes, vec![Outcome::Ack; 3]);
        assert!(host.published().is_empty());
        assert!(host.logs().is_empty());
        assert!(host.requests().is_empty());
    }

    #[test]
    fn an_empty_batch_gets_no_outcomes() {
        assert!(TestHost::new().run(super::handle, Vec::new()).is_empty());
    }
}
