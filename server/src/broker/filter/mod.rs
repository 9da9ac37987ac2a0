//! Subscription filters: EventBridge event patterns over the message envelope
//! `{"payload": <JSON payload>, "attributes": {..}, "key": ".."}`, compiled once into a
//! tree. Owns the pattern language and its validation; imports nothing but serde_json
//! and the broker's error.
//!
//! Semantics, as in EventBridge and AWS's event-ruler: nested objects address nested
//! fields, a leaf array lists alternatives (OR), sibling fields and `$or` groups must all
//! hold (AND), and a path through an array matches if a value reached through any element
//! does. Matching is array-consistent, as event-ruler's `rulesForJSONEvent`: the conditions
//! that find values under one array of objects must find them in the same element, `$or`
//! branches included, and `exists: false` below it is judged in that element (with no
//! element picked, in all of them). An absent field matches nothing but
//! `{"exists": false}`; a payload that is not JSON counts as an absent `payload`.
//!
//! Choices where EventBridge is silent or where we differ from event-ruler: numbers are
//! compared as f64 with no range limit; `anything-but` with `prefix`, `suffix`,
//! `equals-ignore-case` or `wildcard` (each a string or a list) accepts values that are
//! not strings, and its plain lists hold one type (strings, numbers, booleans or null);
//! an object is not a leaf value (so `exists: true` does not match it); case folding is
//! each char's Unicode lowercase; attributes and key refuse non-string values and
//! `numeric`, which could never match; an empty or upside-down numeric range, `**`,
//! backslashes escaping anything but `*` or `\`, a `$or` of one pattern and an empty
//! anything-but prefix or suffix are refused. Absence is judged against every condition
//! met in the same element, not only those whose names sort first as in event-ruler;
//! nested arrays read as one flat array; scalars in an array pin no element; and a number
//! that underflows (`1E-325`) arrives here already read as 0, so it is not refused.
//!
//! `compile` validates and builds the tree, `normalize` joins `$or` branches to the fields
//! they share, `matcher` evaluates the tree, `leaf` holds the operators and `index` narrows
//! routing to the filters that can match.

mod compile;
mod index;
#[cfg(test)]
mod interpreter;
mod leaf;
mod matcher;
mod normalize;
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
use leaf::Leaf;
use matcher::Node;

/// The deepest nesting of objects and arrays a pattern may have.
pub(crate) const MAX_DEPTH: usize = 16;
/// The most leaf values (alternatives and operands) a pattern may list.
pub(crate) const MAX_LEAF_VALUES: usize = 1000;
/// The largest serialized pattern, in bytes.
pub(crate) const MAX_PATTERN_BYTES: usize = 100 * 1024;
/// The most conditions (leaf lists) a pattern may hold once its `$or` groups are combined
/// with the fields they share, copies included.
pub(crate) const MAX_CONDITIONS: usize = 10_000;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    /// The conditions on attributes and the key that must hold (outside any `$or`), tested
    /// first, straight from the envelope: they hold no arrays.
    required: Vec<(Flat, Leaf)>,
    /// The rest.
    root: Node,
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
        let (required, root) = compile::compile(pattern)?;
        let reads_payload = reads_payload(&root);
        Ok(Self {
            required,
            root,
            reads_payload,
        })
    }

    /// Whether matching needs the payload parsed.
    pub(crate) fn reads_payload(&self) -> bool {
        self.reads_payload
    }

    pub(crate) fn matches(&self, envelope: &Envelope<'_>) -> bool {
        self.required.iter().all(|(at, leaf)| {
            leaf.holds_on(match at {
                Flat::Attribute(name) => envelope.attributes.get(&**name).map(String::as_str),
                Flat::Key => envelope.key,
            })
        }) && self.root.matches(envelope)
    }

    /// A top-level condition that only exact strings on an attribute or the key can
    /// satisfy (the one with the fewest), which an index can look up.
    fn anchor(&self) -> Option<(&Flat, &[Box<str>])> {
        self.required
            .iter()
            .filter_map(|(at, leaf)| Some((at, leaf.only_exact_strings()?)))
            .min_by_key(|(_, values)| values.len())
    }
}

/// Where a condition on a string of the envelope looks: one attribute, or the key.
#[derive(Debug, Clone)]
enum Flat {
    Attribute(Box<str>),
    Key,
}

/// Whether the root node or one of its branches tests the payload.
fn reads_payload(root: &Node) -> bool {
    root.field("payload").is_some() || root.any_of.iter().flatten().any(reads_payload)
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
