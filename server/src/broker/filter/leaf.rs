//! The conditions at a leaf of a pattern: sorted exact-value sets, parsed numbers and
//! ranges, split wildcards and masked CIDR blocks, tested against one scalar of the event.

use std::cmp::Ordering;
use std::net::IpAddr;

/// A value of the event at a leaf.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scalar<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Null,
}

impl Scalar<'_> {
    /// The JSON type's name.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Scalar::Str(_) => "string",
            Scalar::Num(_) => "number",
            Scalar::Bool(_) => "boolean",
            Scalar::Null => "null",
        }
    }
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

    /// Whether the leaf holds on a string that is there or not (an attribute, the key).
    pub(super) fn holds_on(&self, value: Option<&str>) -> bool {
        match value {
            Some(s) => self.accepts(Scalar::Str(s)),
            None => self.exists_false,
        }
    }

    /// Whether `value` meets one of the alternatives (`exists: true` included).
    pub(super) fn accepts(&self, value: Scalar<'_>) -> bool {
        self.exists_true
            || self.exact.contains(value)
            || self.operators.iter().any(|op| op.accepts(value))
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

/// `anything-but`: accepts every value, of any type, that the inner test refuses. The
/// lists hold one or more operands; a string is refused when it meets any of them.
#[derive(Debug, Clone)]
pub(super) enum AnythingBut {
    Values(ValueSet),
    Prefix(Vec<Box<str>>),
    Suffix(Vec<Box<str>>),
    /// Lowercased operands.
    IgnoreCase(Vec<Box<str>>),
    Wildcard(Vec<Wildcard>),
}

impl AnythingBut {
    fn accepts(&self, value: Scalar<'_>) -> bool {
        match (self, value) {
            (AnythingBut::Values(set), value) => !set.contains(value),
            (AnythingBut::Prefix(list), Scalar::Str(s)) => {
                !list.iter().any(|p| s.starts_with(&**p))
            }
            (AnythingBut::Suffix(list), Scalar::Str(s)) => !list.iter().any(|p| s.ends_with(&**p)),
            (AnythingBut::IgnoreCase(list), Scalar::Str(s)) => {
                !list.iter().any(|lower| equals_ignore_case(lower, s))
            }
            (AnythingBut::Wildcard(list), Scalar::Str(s)) => !list.iter().any(|w| w.matches(s)),
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
