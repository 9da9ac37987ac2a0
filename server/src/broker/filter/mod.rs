//! Subscription filters: EventBridge event patterns over the message envelope
//! `{"payload": <JSON payload>, "attributes": {..}, "key": ".."}`, compiled once into a
//! matcher. Owns the pattern language and its validation; imports nothing but serde_json
//! and the broker's error.
//!
//! Semantics, as in EventBridge: nested objects address nested fields, a leaf array lists
//! alternatives (OR), sibling fields and `$or` groups must all hold (AND), and an array in
//! the event is flattened, so a path matches if any scalar reached through it does (for
//! arrays of objects each field is tested on its own, like EventBridge's flattening). An
//! absent field matches nothing but `{"exists": false}`; a payload that is not JSON counts
//! as an absent `payload`.
//!
//! Choices where EventBridge is silent or where we are stricter: numbers are compared as
//! f64 with no range limit; `anything-but` with `prefix`, `suffix`, `equals-ignore-case` or
//! `wildcard` accepts values that are not strings; an object is not a leaf value (so
//! `exists: true` does not match it); case folding is each char's Unicode lowercase;
//! attributes and key refuse non-string values and `numeric`, which could never match;
//! an empty numeric range, `**` and backslashes escaping anything but `*` or `\` are refused.

mod compile;
mod index;
#[cfg(test)]
mod interpreter;
mod matcher;
#[cfg(test)]
mod property;
#[cfg(test)]
mod refusals;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::Value;

use super::BrokerError;
pub(crate) use index::FilterIndex;
use matcher::{Group, Path};

/// The deepest nesting of objects and arrays a pattern may have.
pub(crate) const MAX_DEPTH: usize = 16;
/// The most leaf values (alternatives and operands) a pattern may list.
pub(crate) const MAX_LEAF_VALUES: usize = 1000;
/// The largest serialized pattern, in bytes.
pub(crate) const MAX_PATTERN_BYTES: usize = 100 * 1024;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    root: Group,
    reads_payload: bool,
}

/// What a filter looks at.
pub(crate) struct Envelope<'a> {
    /// The parsed payload, when it is JSON.
    pub(crate) payload: Option<&'a Value>,
    /// The attributes.
    pub(crate) attributes: &'a BTreeMap<String, String>,
    /// The key.
    pub(crate) key: Option<&'a str>,
}

impl Filter {
    /// Validates `pattern` and compiles it; errors name the JSON path of the offending part.
    pub(crate) fn compile(pattern: &Value) -> Result<Self, BrokerError> {
        let root = compile::compile(pattern)?;
        let reads_payload = root.reads_payload();
        Ok(Self {
            root,
            reads_payload,
        })
    }

    /// Whether matching needs the payload parsed.
    pub(crate) fn reads_payload(&self) -> bool {
        self.reads_payload
    }

    pub(crate) fn matches(&self, envelope: &Envelope<'_>) -> bool {
        self.root.matches(envelope)
    }

    /// A top-level condition that only exact strings on an attribute or the key can
    /// satisfy (the one with the fewest), which an index can look up.
    fn anchor(&self) -> Option<(&Path, &[Box<str>])> {
        self.root
            .conditions
            .iter()
            .filter(|c| matches!(c.path, Path::Attribute(_) | Path::Key))
            .filter_map(|c| Some((&c.path, c.leaf.only_exact_strings()?)))
            .min_by_key(|(_, values)| values.len())
    }
}

/// A JSON path such as `$.payload.plan[0]`: dotted names where they read plainly, quoted
/// brackets otherwise.
#[derive(Debug, Clone, Default)]
struct JsonPath(String);

impl JsonPath {
    fn root() -> Self {
        Self("$".into())
    }

    fn field(&self, name: &str) -> Self {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'));
        if plain {
            Self(format!("{}.{name}", self.0))
        } else {
            let quoted = serde_json::to_string(name).unwrap_or_default();
            Self(format!("{}[{quoted}]", self.0))
        }
    }

    fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    fn invalid(&self, reason: impl Into<String>) -> BrokerError {
        BrokerError::InvalidFilter {
            path: self.0.clone(),
            reason: reason.into(),
        }
    }
}
