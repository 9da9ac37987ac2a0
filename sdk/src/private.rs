//! What the `#[handler]` expansion uses: the generated bindings and the glue between their
//! types and the SDK's. Not part of the public API.

#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "consumer",
        pub_export_macro: true,
        export_macro_name: "__export_consumer",
        default_bindings_module: "::switchyard_sdk::__private::bindings",
    });
}

pub use bindings::exports::switchyard::plugin::handler::Guest;
pub use bindings::switchyard::plugin::types::{Message as WitMessage, Outcome as WitOutcome};

use crate::{Batch, Message, Outcome};

/// Converts the batch, calls the handler, and converts its outcomes. A handler that returns
/// the wrong number of outcomes is a bug the server must not guess about: it traps, which
/// the server records as a fault and retries.
pub fn run(batch: Vec<WitMessage>, handler: fn(Batch) -> Vec<Outcome>) -> Vec<WitOutcome> {
    let count = batch.len();
    let batch = Batch::new(batch.into_iter().map(from_wit).collect());
    let outcomes = handler(batch);
    assert_eq!(
        outcomes.len(),
        count,
        "the handler returned {} outcomes for a batch of {count} messages",
        outcomes.len()
    );
    outcomes.into_iter().map(to_wit).collect()
}

fn from_wit(message: WitMessage) -> Message {
    Message {
        id: message.id,
        topic: message.topic,
        queue: message.queue,
        key: message.key,
        attributes: message.attributes,
        payload: message.payload,
        published_at_ms: message.published_at_ms,
        attempt: message.attempt,
    }
}

fn to_wit(outcome: Outcome) -> WitOutcome {
    match outcome {
        Outcome::Ack => WitOutcome::Ack,
        Outcome::Retry { delay_ms } => WitOutcome::Retry(delay_ms),
        Outcome::DeadLetter { reason } => WitOutcome::DeadLetter(reason),
    }
}
