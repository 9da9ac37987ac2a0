//! The compiled form of a pattern and its evaluation: precompiled field paths, sorted
//! exact-value sets, parsed numbers and ranges, split wildcards and masked CIDR blocks.
//! Evaluating walks the envelope without allocating.

use std::cmp::Ordering;
use std::net::IpAddr;

use serde_json::Value;

use super::Envelope;

/// Conditions that must all hold, and `$or` groups of which each needs one member to hold.
#[derive(Debug, Clone, Default)]
pub(super) struct Group {
    pub(super) conditions: Vec<Condition>,
    pub(super) any_of: Vec<Vec<Group>>,
}

impl Group {
    pub(super) fn reads_payload(&self) -> bool {
        self.conditions
            .iter()
            .any(|c| matches!(c.path, Path::Payload(_)))
            || self.any_of.iter().flatten().any(Group::reads_payload)
    }

    pub(super) fn matches(&self, envelope: &Envelope<'_>) -> bool {
        self.conditions.iter().all(|c| c.matches(envelope))
            && self
                .any_of
                .iter()
                .all(|members| members.iter().any(|g| g.matches(envelope)))
    }

    /// Puts the cheap conditions (attributes, key) before the payload ones.
    pub(super) fn order_by_cost(&mut self) {
        self.conditions
            .sort_by_key(|c| matches!(c.path, Path::Payload(_)));
        for group in self.any_of.iter_mut().flatten() {
            group.order_by_cost();
        }
    }
}

/// One leaf of the pattern: where to look and what to accept.
#[derive(Debug, Clone)]
pub(super) struct Condition {
    pub(super) path: Path,
    pub(super) leaf: Leaf,
}

/// Where in the envelope a condition looks.
#[derive(Debug, Clone)]
pub(super) enum Path {
    /// Field names below the payload (empty: the payload itself).
    Payload(Box<[Box<str>]>),
    Attribute(Box<str>),
    Key,
}

impl Condition {
    fn matches(&self, envelope: &Envelope<'_>) -> bool {
        let mut seen = false;
        let mut test = |value: Scalar<'_>| {
            seen = true;
            self.leaf.accepts(value)
        };
        let hit = match &self.path {
            Path::Payload(names) => envelope
                .payload
                .is_some_and(|payload| visit(payload, names, &mut test)),
            Path::Attribute(name) => envelope
                .attributes
                .get(&**name)
                .is_some_and(|v| test(Scalar::Str(v))),
            Path::Key => envelope.key.is_some_and(|k| test(Scalar::Str(k))),
        };
        hit || if seen {
            self.leaf.exists_true
        } else {
            self.leaf.exists_false
        }
    }
}

/// Calls `test` on each scalar at `path`, descending through arrays, until one passes.
fn visit<F: FnMut(Scalar<'_>) -> bool>(value: &Value, path: &[Box<str>], test: &mut F) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| visit(item, path, test)),
        Value::Object(fields) => path.split_first().is_some_and(|(head, rest)| {
            fields
                .get(&**head)
                .is_some_and(|inner| visit(inner, rest, test))
        }),
        _ if !path.is_empty() => false,
        Value::String(s) => test(Scalar::Str(s)),
        Value::Number(n) => test(Scalar::Num(n.as_f64().unwrap_or(f64::NAN))),
        Value::Bool(b) => test(Scalar::Bool(*b)),
        Value::Null => test(Scalar::Null),
    }
}

/// A value of the event at a leaf.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scalar<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Null,
}

/// The alternatives of one leaf array.
#[derive(Debug, Clone, Default)]
pub(super) struct Leaf {
    pub(super) exact: ValueSet,
    pub(super) operators: Vec<Operator>,
    pub(super) exists_true: bool,
    pub(super) exists_false: bool,
}

impl Leaf {
    /// The strings this leaf accepts, when it accepts nothing else (no operators, no
    /// `exists`, no other types).
    pub(super) fn only_exact_strings(&self) -> Option<&[Box<str>]> {
        let plain = self.operators.is_empty()
            && !self.exists_true
            && !self.exists_false
            && self.exact.numbers.is_empty()
            && self.exact.booleans == [false, false]
            && !self.exact.null;
        (plain && !self.exact.strings.is_empty()).then_some(&self.exact.strings[..])
    }

    fn accepts(&self, value: Scalar<'_>) -> bool {
        self.exact.contains(value) || self.operators.iter().any(|op| op.accepts(value))
    }
}

/// Exact values: sorted strings and numbers, flags for booleans and null.
#[derive(Debug, Clone, Default)]
pub(super) struct ValueSet {
    strings: Vec<Box<str>>,
    numbers: Vec<f64>,
    booleans: [bool; 2],
    null: bool,
}

impl ValueSet {
    pub(super) fn insert(&mut self, value: Scalar<'_>) {
        match value {
            Scalar::Str(s) => self.strings.push(s.into()),
            Scalar::Num(n) => self.numbers.push(n + 0.0),
            Scalar::Bool(b) => self.booleans[usize::from(b)] = true,
            Scalar::Null => self.null = true,
        }
    }

    /// Sorts the sets; call once after the last insert.
    pub(super) fn seal(&mut self) {
        self.strings.sort_unstable();
        self.strings.dedup();
        self.numbers.sort_unstable_by(f64::total_cmp);
        self.numbers.dedup();
    }

    fn contains(&self, value: Scalar<'_>) -> bool {
        match value {
            Scalar::Str(s) => self.strings.binary_search_by(|x| (**x).cmp(s)).is_ok(),
            // `+ 0.0` turns -0 into 0, so both compare equal under `total_cmp`.
            Scalar::Num(n) => self
                .numbers
                .binary_search_by(|x| x.total_cmp(&(n + 0.0)))
                .is_ok(),
            Scalar::Bool(b) => self.booleans[usize::from(b)],
            Scalar::Null => self.null,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum Operator {
    Prefix(Text),
    Suffix(Text),
    /// Holds the lowercased operand.
    EqualsIgnoreCase(Box<str>),
    Wildcard(Wildcard),
    Cidr(Cidr),
    Numeric(Numeric),
    AnythingBut(AnythingBut),
}

impl Operator {
    fn accepts(&self, value: Scalar<'_>) -> bool {
        match (self, value) {
            (Operator::Prefix(text), Scalar::Str(s)) => text.starts(s),
            (Operator::Suffix(text), Scalar::Str(s)) => text.ends(s),
            (Operator::EqualsIgnoreCase(lower), Scalar::Str(s)) => equals_ignore_case(lower, s),
            (Operator::Wildcard(w), Scalar::Str(s)) => w.matches(s),
            (Operator::Cidr(c), Scalar::Str(s)) => c.contains(s),
            (Operator::Numeric(range), Scalar::Num(n)) => range.contains(n),
            (Operator::AnythingBut(but), value) => but.accepts(value),
            _ => false,
        }
    }
}

/// A prefix or suffix operand; lowercased when the match ignores case.
#[derive(Debug, Clone)]
pub(super) struct Text {
    pub(super) text: Box<str>,
    pub(super) ignore_case: bool,
}

impl Text {
    fn starts(&self, s: &str) -> bool {
        if !self.ignore_case {
            return s.starts_with(&*self.text);
        }
        let mut folded = s.chars().flat_map(char::to_lowercase);
        self.text.chars().all(|c| folded.next() == Some(c))
    }

    fn ends(&self, s: &str) -> bool {
        if !self.ignore_case {
            return s.ends_with(&*self.text);
        }
        let mut folded = s.chars().rev().flat_map(|c| c.to_lowercase().rev());
        self.text.chars().rev().all(|c| folded.next() == Some(c))
    }
}

/// Case folding used everywhere: each char's lowercase mapping.
pub(super) fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn equals_ignore_case(lower: &str, s: &str) -> bool {
    lower.chars().eq(s.chars().flat_map(char::to_lowercase))
}

/// `anything-but`: accepts every value, of any type, that the inner test refuses.
#[derive(Debug, Clone)]
pub(super) enum AnythingBut {
    Values(ValueSet),
    Prefix(Box<str>),
    Suffix(Box<str>),
    /// Lowercased operands.
    IgnoreCase(Vec<Box<str>>),
    Wildcard(Wildcard),
}

impl AnythingBut {
    fn accepts(&self, value: Scalar<'_>) -> bool {
        match (self, value) {
            (AnythingBut::Values(set), value) => !set.contains(value),
            (AnythingBut::Prefix(p), Scalar::Str(s)) => !s.starts_with(&**p),
            (AnythingBut::Suffix(p), Scalar::Str(s)) => !s.ends_with(&**p),
            (AnythingBut::IgnoreCase(list), Scalar::Str(s)) => {
                !list.iter().any(|lower| equals_ignore_case(lower, s))
            }
            (AnythingBut::Wildcard(w), Scalar::Str(s)) => !w.matches(s),
            _ => true,
        }
    }
}

/// `numeric`: one value, or a range open or closed at either end.
#[derive(Debug, Clone, Copy)]
pub(super) enum Numeric {
    Equal(f64),
    Range {
        lower: Option<(f64, bool)>,
        upper: Option<(f64, bool)>,
    },
}

impl Numeric {
    fn contains(&self, n: f64) -> bool {
        match *self {
            Numeric::Equal(x) => n == x,
            Numeric::Range { lower, upper } => {
                lower.is_none_or(|(x, inclusive)| match n.partial_cmp(&x) {
                    Some(Ordering::Greater) => true,
                    Some(Ordering::Equal) => inclusive,
                    _ => false,
                }) && upper.is_none_or(|(x, inclusive)| match n.partial_cmp(&x) {
                    Some(Ordering::Less) => true,
                    Some(Ordering::Equal) => inclusive,
                    _ => false,
                })
            }
        }
    }
}

/// A wildcard split at its unescaped `*`s: the literal parts between them.
#[derive(Debug, Clone)]
pub(super) struct Wildcard {
    pub(super) parts: Vec<Box<str>>,
}

impl Wildcard {
    pub(super) fn matches(&self, s: &str) -> bool {
        let Some((first, rest)) = self.parts.split_first() else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return s == &**first;
        };
        if s.len() < first.len() + last.len() || !s.starts_with(&**first) || !s.ends_with(&**last) {
            return false;
        }
        let mut hay = &s[first.len()..s.len() - last.len()];
        for part in middle {
            match hay.find(&**part) {
                Some(at) => hay = &hay[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// A CIDR block with its host bits cleared.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cidr {
    V4 { network: u32, mask: u32 },
    V6 { network: u128, mask: u128 },
}

impl Cidr {
    pub(super) fn new(address: IpAddr, prefix: u8) -> Self {
        match address {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                Cidr::V4 {
                    network: u32::from(a) & mask,
                    mask,
                }
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                Cidr::V6 {
                    network: u128::from(a) & mask,
                    mask,
                }
            }
        }
    }

    fn contains(&self, s: &str) -> bool {
        match (self, s.parse::<IpAddr>()) {
            (Cidr::V4 { network, mask }, Ok(IpAddr::V4(a))) => u32::from(a) & mask == *network,
            (Cidr::V6 { network, mask }, Ok(IpAddr::V6(a))) => u128::from(a) & mask == *network,
            _ => false,
        }
    }
}
