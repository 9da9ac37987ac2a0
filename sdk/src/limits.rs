//! The limits one invocation runs under, defined once: the server enforces them and the
//! native test kit ([`crate::testing`]) enforces the same ones, so a handler that passes its
//! tests does not fault for a limit when it is deployed.
//!
//! Besides the guest's own memory cap, everything a plugin makes the host hold until the
//! invocation ends (publications, key-value writes, log lines, dead-letter reasons) is
//! charged to a byte budget equal to the consumer's `memory_bytes`. A call that is refused
//! for a size or a count fails with an [`Error`] the handler can look at; going over the
//! budget faults the whole invocation (`kind: budget`) and nothing of it is committed. Log
//! lines and stdout/stderr never fault: past their caps they are dropped and counted.

use std::collections::BTreeMap;

use crate::Error;

/// A consumer's memory cap when none is set, bytes; also its host-side byte budget.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
/// The longest key-value key, bytes (and the shortest is one byte).
pub const MAX_KEY_BYTES: usize = 1024;
/// The largest key-value value, bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Messages one invocation may publish.
pub const MAX_PUBLICATIONS: usize = 1000;
/// Distinct keys one invocation may write (set or delete).
pub const MAX_KV_WRITES: usize = 10_000;
/// Log lines kept per invocation (stdout and stderr lines included); more are dropped.
pub const MAX_LOG_LINES: usize = 200;
/// The longest log line kept, bytes; a longer one is cut and ends with `…`.
pub const MAX_LOG_LINE_BYTES: usize = 4096;
/// Bytes of stdout, and of stderr, kept per invocation; more are dropped.
pub const MAX_STDIO_BYTES: usize = 64 << 10;
/// The longest dead-letter reason kept, bytes; a longer one is cut and ends with `…`.
pub const MAX_REASON_BYTES: usize = 4096;

/// Why a host call was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The call fails with this error; the handler may go on.
    Call(Error),
    /// The invocation went over its byte budget: it faults, and nothing of it commits.
    Budget(String),
}

/// What one invocation has made the host hold so far, against its limits.
#[derive(Debug, Clone)]
pub struct Ledger {
    budget: u64,
    used: u64,
    publications: usize,
    kv: BTreeMap<String, u64>,
    log_lines: usize,
    dropped_log_lines: usize,
}

impl Ledger {
    /// A fresh ledger for an invocation whose consumer has `memory_bytes` of memory.
    pub fn new(memory_bytes: u64) -> Self {
        Self {
            budget: memory_bytes,
            used: 0,
            publications: 0,
            kv: BTreeMap::new(),
            log_lines: 0,
            dropped_log_lines: 0,
        }
    }

    /// The byte budget.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Bytes charged so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Log lines dropped so far (past [`MAX_LOG_LINES`] or the budget).
    pub fn dropped_log_lines(&self) -> usize {
        self.dropped_log_lines
    }

    fn charge(&mut self, bytes: u64, what: &str) -> Result<(), Refusal> {
        let used = self.used.saturating_add(bytes);
        if used > self.budget {
            return Err(Refusal::Budget(format!(
                "{what} would make the host hold {used} bytes for this invocation, over its \
                 budget of {} bytes (the consumer's memory_bytes)",
                self.budget
            )));
        }
        self.used = used;
        Ok(())
    }

    /// Accounts a publication of `bytes` (see [`publication_bytes`]).
    pub fn publish(&mut self, bytes: u64) -> Result<(), Refusal> {
        if self.publications >= MAX_PUBLICATIONS {
            return Err(Refusal::Call(Error::new(
                "too_many_publications",
                format!("an invocation may publish at most {MAX_PUBLICATIONS} messages"),
            )));
        }
        self.charge(bytes, "this publication")?;
        self.publications += 1;
        Ok(())
    }

    /// Accounts a key-value write (`None` deletes); a key written again is charged for its
    /// latest value only.
    pub fn kv_write(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), Refusal> {
        check_key(key).map_err(Refusal::Call)?;
        if let Some(value) = value
            && value.len() > MAX_VALUE_BYTES
        {
            return Err(Refusal::Call(Error::new(
                "value_too_large",
                format!("a value may be at most {MAX_VALUE_BYTES} bytes"),
            )));
        }
        let previous = self.kv.get(key).copied();
        if previous.is_none() && self.kv.len() >= MAX_KV_WRITES {
            return Err(Refusal::Call(Error::new(
                "too_many_writes",
                format!("an invocation may write at most {MAX_KV_WRITES} keys"),
            )));
        }
        let bytes = (key.len() + value.map_or(0, <[u8]>::len)) as u64;
        self.used -= previous.unwrap_or(0);
        if let Err(refusal) = self.charge(bytes, "this key-value write") {
            self.used += previous.unwrap_or(0);
            return Err(refusal);
        }
        self.kv.insert(key.to_string(), bytes);
        Ok(())
    }

    /// Decides whether a log line is kept: cut to [`MAX_LOG_LINE_BYTES`], dropped (and
    /// counted) past [`MAX_LOG_LINES`] or when it does not fit the budget. Never faults.
    pub fn log(&mut self, text: &str) -> Option<String> {
        if self.log_lines >= MAX_LOG_LINES {
            self.dropped_log_lines += 1;
            return None;
        }
        let text = cut(text, MAX_LOG_LINE_BYTES);
        if self.charge(text.len() as u64, "this log line").is_err() {
            self.dropped_log_lines += 1;
            return None;
        }
        self.log_lines += 1;
        Some(text)
    }

    /// Accounts a dead-letter reason and returns it as kept (cut to [`MAX_REASON_BYTES`]).
    pub fn reason(&mut self, reason: &str) -> Result<String, Refusal> {
        let reason = cut(reason, MAX_REASON_BYTES);
        self.charge(reason.len() as u64, "this dead-letter reason")?;
        Ok(reason)
    }
}

/// The bytes a publication makes the host hold: topic, payload, attributes and key.
pub fn publication_bytes(
    topic: &str,
    payload: &[u8],
    attributes: &[(String, String)],
    key: Option<&str>,
) -> u64 {
    let attributes: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
    (topic.len() + payload.len() + attributes + key.map_or(0, str::len)) as u64
}

/// Checks a key-value key: 1 to [`MAX_KEY_BYTES`] bytes.
pub fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(Error::new(
            "invalid_key",
            format!("a key must be 1 to {MAX_KEY_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// `text` cut to at most `max` bytes on a character boundary, ending with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_a_key_is_charged_for_its_latest_value_only() {
        let mut ledger = Ledger::new(10_000);
        for _ in 0..100 {
            ledger.kv_write("k", Some(&[0; 1000])).unwrap();
        }
        assert_eq!(ledger.used(), 1001);
        ledger.kv_write("k", None).unwrap();
        assert_eq!(ledger.used(), 1);
    }

    #[test]
    fn going_over_the_budget_faults_and_charges_nothing() {
        let mut ledger = Ledger::new(2_500);
        ledger.kv_write("a", Some(&[0; 1000])).unwrap();
        ledger.kv_write("b", Some(&[0; 1000])).unwrap();
        let refused = ledger.kv_write("c", Some(&[0; 1000]));
        assert!(matches!(refused, Err(Refusal::Budget(_))), "{refused:?}");
        assert_eq!(ledger.used(), 2002);
        let refused = ledger.kv_write("a", Some(&[0; 1600]));
        assert!(matches!(refused, Err(Refusal::Budget(_))), "{refused:?}");
        assert_eq!(
            ledger.used(),
            2002,
            "a refused rewrite keeps the old charge"
        );
        assert!(matches!(ledger.publish(600), Err(Refusal::Budget(_))));
        ledger.publish(400).unwrap();
    }

    #[test]
    fn sizes_and_counts_are_call_errors() {
        let mut ledger = Ledger::new(u64::MAX);
        let code = |r: Result<(), Refusal>| match r {
            Err(Refusal::Call(error)) => error.code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(ledger.kv_write("", Some(b"x"))), "invalid_key");
        assert_eq!(
            code(ledger.kv_write(&"k".repeat(MAX_KEY_BYTES + 1), None)),
            "invalid_key"
        );
        let big = vec![0; MAX_VALUE_BYTES + 1];
        assert_eq!(code(ledger.kv_write("k", Some(&big))), "value_too_large");
        for i in 0..MAX_KV_WRITES {
            ledger.kv_write(&i.to_string(), None).unwrap();
        }
        assert_eq!(code(ledger.kv_write("new", None)), "too_many_writes");
        ledger.kv_write("0", Some(b"again")).unwrap();
        for _ in 0..MAX_PUBLICATIONS {
            ledger.publish(1).unwrap();
        }
        assert_eq!(code(ledger.publish(1)), "too_many_publications");
    }

    #[test]
    fn logs_are_cut_then_dropped_never_refused() {
        let mut ledger = Ledger::new(1 << 20);
        let long = "é".repeat(MAX_LOG_LINE_BYTES);
        let kept = ledger.log(&long).unwrap();
        assert!(kept.len() <= MAX_LOG_LINE_BYTES + '…'.len_utf8());
        assert!(kept.ends_with('…'));
        for _ in 1..MAX_LOG_LINES {
            assert!(ledger.log("line").is_some());
        }
        assert_eq!(ledger.log("one too many"), None);
        assert_eq!(ledger.dropped_log_lines(), 1);
        let mut tight = Ledger::new(10);
        assert_eq!(tight.log("more than ten bytes"), None);
        assert_eq!(tight.dropped_log_lines(), 1);
    }

    #[test]
    fn reasons_are_cut_and_charged() {
        let mut ledger = Ledger::new(MAX_REASON_BYTES as u64 + 10);
        let reason = ledger.reason(&"x".repeat(10 * MAX_REASON_BYTES)).unwrap();
        assert_eq!(reason.len(), MAX_REASON_BYTES + '…'.len_utf8());
        assert!(matches!(
            ledger.reason("0123456789ab"),
            Err(Refusal::Budget(_))
        ));
    }
}
