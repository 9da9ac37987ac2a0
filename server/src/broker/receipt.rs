//! Receipts: opaque strings naming one lease (queue, message, lease number). Lease numbers
//! never go back, not even when a message is dead-lettered and redriven, so a receipt from
//! an earlier delivery no longer holds once the message is redelivered.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::BrokerError;
use crate::storage::{MessageId, QueueId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Receipt {
    pub(crate) queue: QueueId,
    pub(crate) id: MessageId,
    /// The message's lease count when this lease was handed out.
    pub(crate) lease: u32,
}

impl Receipt {
    pub(crate) fn encode(&self) -> String {
        let mut bytes = [0u8; 28];
        bytes[..8].copy_from_slice(&self.queue.to_be_bytes());
        bytes[8..24].copy_from_slice(&self.id.to_be_bytes());
        bytes[24..].copy_from_slice(&self.lease.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a receipt and checks it belongs to `queue`.
    pub(crate) fn decode(text: &str, queue: QueueId) -> Result<Self, BrokerError> {
        let invalid = |reason: &str| BrokerError::InvalidReceipt {
            reason: format!("{:?} {reason}", text.chars().take(64).collect::<String>()),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| invalid("is not a receipt"))?;
        let bytes: [u8; 28] = bytes.try_into().map_err(|_| invalid("is not a receipt"))?;
        let receipt = Receipt {
            queue: u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
            id: u128::from_be_bytes(bytes[8..24].try_into().expect("16 bytes")),
            lease: u32::from_be_bytes(bytes[24..].try_into().expect("4 bytes")),
        };
        if receipt.queue != queue {
            return Err(invalid("was handed out by another queue"));
        }
        Ok(receipt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_round_trip_and_are_bound_to_their_queue() {
        let receipt = Receipt {
            queue: 3,
            id: 99,
            lease: 2,
        };
        let text = receipt.encode();
        assert_eq!(Receipt::decode(&text, 3).unwrap(), receipt);
        assert!(matches!(
            Receipt::decode(&text, 4),
            Err(BrokerError::InvalidReceipt { .. })
        ));
        assert!(Receipt::decode("nonsense", 3).is_err());
    }
}
