//! Receipts: strings naming one lease (queue, message, lease number), authenticated with
//! an HMAC under a key the server made for itself and keeps in its database, so a receipt
//! cannot be forged or altered to settle someone else's message. Lease numbers never go
//! back, not even when a message is dead-lettered and redriven, so a receipt from an
//! earlier delivery no longer holds once the message is redelivered.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::BrokerError;
use crate::storage::{MessageId, QueueId};

/// Bytes of the lease a receipt names.
const BODY: usize = 28;
/// Bytes of its tag (a truncated HMAC-SHA256).
const TAG: usize = 16;

/// The key receipts are authenticated with.
#[derive(Clone)]
pub(crate) struct ReceiptKey(Hmac<Sha256>);

impl ReceiptKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self(Hmac::new_from_slice(key).expect("HMAC takes any key length"))
    }

    fn mac(&self, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(body);
        mac
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Receipt {
    pub(crate) queue: QueueId,
    pub(crate) id: MessageId,
    /// The message's lease count when this lease was handed out.
    pub(crate) lease: u32,
}

impl Receipt {
    pub(crate) fn encode(&self, key: &ReceiptKey) -> String {
        let mut bytes = [0u8; BODY + TAG];
        bytes[..8].copy_from_slice(&self.queue.to_be_bytes());
        bytes[8..24].copy_from_slice(&self.id.to_be_bytes());
        bytes[24..BODY].copy_from_slice(&self.lease.to_be_bytes());
        let tag = key.mac(&bytes[..BODY]).finalize().into_bytes();
        bytes[BODY..].copy_from_slice(&tag[..TAG]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a receipt, checks its tag, and checks it belongs to `queue`.
    pub(crate) fn decode(
        text: &str,
        queue: QueueId,
        key: &ReceiptKey,
    ) -> Result<Self, BrokerError> {
        let invalid = |reason: &str| BrokerError::InvalidReceipt {
            reason: format!("{:?} {reason}", text.chars().take(64).collect::<String>()),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| invalid("is not a receipt"))?;
        let bytes: [u8; BODY + TAG] = bytes.try_into().map_err(|_| invalid("is not a receipt"))?;
        key.mac(&bytes[..BODY])
            .verify_truncated_left(&bytes[BODY..])
            .map_err(|_| invalid("was not handed out by this server, or was altered"))?;
        let receipt = Receipt {
            queue: u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
            id: u128::from_be_bytes(bytes[8..24].try_into().expect("16 bytes")),
            lease: u32::from_be_bytes(bytes[24..BODY].try_into().expect("4 bytes")),
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
        let key = ReceiptKey::new(&[7; 32]);
        let receipt = Receipt {
            queue: 3,
            id: 99,
            lease: 2,
        };
        let text = receipt.encode(&key);
        assert_eq!(Receipt::decode(&text, 3, &key).unwrap(), receipt);
        assert!(matches!(
            Receipt::decode(&text, 4, &key),
            Err(BrokerError::InvalidReceipt { .. })
        ));
        assert!(Receipt::decode("nonsense", 3, &key).is_err());
    }

    #[test]
    fn a_forged_or_altered_receipt_is_refused() {
        let key = ReceiptKey::new(&[7; 32]);
        let receipt = Receipt {
            queue: 3,
            id: 99,
            lease: 2,
        };
        let text = receipt.encode(&key);
        // Another server's key.
        let other = ReceiptKey::new(&[8; 32]);
        assert!(Receipt::decode(&text, 3, &other).is_err());
        // Every single-bit change of the decoded bytes.
        let bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut altered = bytes.clone();
            altered[bit / 8] ^= 1 << (bit % 8);
            let altered = URL_SAFE_NO_PAD.encode(altered);
            assert!(Receipt::decode(&altered, 3, &key).is_err(), "bit {bit}");
        }
        // The old, untagged form names a lease but proves nothing.
        let untagged = URL_SAFE_NO_PAD.encode(&bytes[..BODY]);
        assert!(Receipt::decode(&untagged, 3, &key).is_err());
    }
}
