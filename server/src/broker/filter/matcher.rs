//! The compiled form of a pattern, a tree of [`Node`]s, and its evaluation over the
//! envelope.
//!
//! Arrays are array-consistent (as event-ruler's `rulesForJSONEvent`): the conditions below
//! one array of the event that are met by values must all find them in the same element.
//! So a node on an array picks one object of it, and tests its fields in that object; the
//! conditions there that hold by absence (`exists: false`) are judged in that object too.
//! With no object picked, every field below must hold by absence in all of them. Nested
//! arrays read as one flat array, and scalars in an array pin nothing: each condition on
//! the array itself is met by any of them.
//!
//! Evaluating walks the envelope without allocating, except where `$or` merging left leaf
//! lists and fields at one path: the leaf lists' verdicts do not depend on the object
//! picked, so they are judged once into a small buffer rather than once per object tried.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Envelope;
use super::leaf::{Leaf, Scalar};

/// The conditions on the value at one path of the envelope.
///
/// After [`normalize`](super::normalize), the fields of a node and of its `$or` branches
/// have distinct names (where the value may hold arrays), so each part of the event is
/// tested in one place.
#[derive(Debug, Clone, Default)]
pub(super) struct Node {
    /// Leaf lists on the value here; each must hold.
    pub(super) leaves: Vec<Leaf>,
    /// Fields below, each name once; each must hold.
    pub(super) fields: Vec<(Box<str>, Node)>,
    /// `$or` groups: each needs one of its branches (nodes at this same path) to hold.
    pub(super) any_of: Vec<Vec<Node>>,
    /// The names from the envelope down to here.
    path: Box<[Box<str>]>,
    /// Whether, for some choice of branches, every condition here and below accepts absence.
    absent_ok: bool,
    /// Whether this node or one of its branches has fields.
    has_fields: bool,
    /// Whether the conditions can hold with no object picked (every field can be absent).
    may_hold_unpicked: bool,
    /// Where this node's leaf lists start among those of its scope (the node whose
    /// `outcome` is taken, and its branches).
    slot: usize,
    /// The leaf lists of the scope this node starts (its own and its branches').
    scope_leaves: usize,
}

impl Node {
    pub(super) fn leaf(leaf: Leaf) -> Self {
        Self {
            leaves: vec![leaf],
            ..Self::default()
        }
    }

    pub(super) fn with_fields(fields: Vec<(Box<str>, Node)>) -> Self {
        Self {
            fields,
            ..Self::default()
        }
    }

    pub(super) fn field(&self, name: &str) -> Option<&Node> {
        self.fields
            .iter()
            .find_map(|(n, node)| (**n == *name).then_some(node))
    }

    /// Conditions in this tree (leaf lists), counting each branch.
    pub(super) fn size(&self) -> usize {
        self.leaves.len()
            + self.fields.iter().map(|(_, f)| f.size()).sum::<usize>()
            + self.any_of.iter().flatten().map(Node::size).sum::<usize>()
    }

    /// Records each node's path, flags and slots; call once on the root after compiling.
    /// At the root, attributes and key come before the payload, which costs more to test.
    pub(super) fn seal(&mut self, path: &[Box<str>]) {
        let mut next = 0;
        self.seal_in(path, &mut next);
        self.scope_leaves = next;
    }

    fn seal_in(&mut self, path: &[Box<str>], next_slot: &mut usize) {
        if path.is_empty() {
            self.fields.sort_by_key(|(name, _)| &**name == "payload");
        }
        self.path = path.into();
        self.slot = *next_slot;
        *next_slot += self.leaves.len();
        for (name, field) in &mut self.fields {
            let mut below = path.to_vec();
            below.push(name.clone());
            field.seal(&below);
        }
        for branch in self.any_of.iter_mut().flatten() {
            branch.seal_in(path, next_slot);
        }
        self.absent_ok = self.leaves.iter().all(|l| l.exists_false)
            && self.fields.iter().all(|(_, f)| f.absent_ok)
            && self.any_of.iter().all(|g| g.iter().any(|b| b.absent_ok));
        self.has_fields =
            !self.fields.is_empty() || self.any_of.iter().flatten().any(|b| b.has_fields);
        self.may_hold_unpicked = self.fields.iter().all(|(_, f)| f.absent_ok)
            && self
                .any_of
                .iter()
                .all(|g| g.iter().any(|b| b.may_hold_unpicked));
    }

    pub(super) fn matches(&self, envelope: &Envelope<'_>) -> bool {
        self.outcome(Some(Item::Envelope(envelope))).holds
    }

    /// The conditions here and below on `here` (absent: `None`).
    fn outcome(&self, here: Option<Item<'_>>) -> Outcome {
        if !self.has_fields {
            if self.any_of.is_empty() {
                return self.leaf_outcome(here, true);
            }
            return self.within(here, None, None);
        }
        if let Some(object) = here.filter(|item| item.is_object()) {
            // The only object to pick: with nothing found in it, its fields hold by
            // absence just as with none picked, and an object has no scalars.
            return self.within(here, Some(object), None);
        }
        let verdicts = (self.scope_leaves > 0).then(|| self.verdicts(here));
        let verdicts = verdicts.as_ref();
        let unpicked = if self.may_hold_unpicked {
            self.within(here, None, verdicts)
        } else {
            Outcome::FAILS
        };
        if unpicked.found {
            return unpicked;
        }
        let picked = any_item(here, &mut |item| {
            item.is_object() && self.within(here, Some(item), verdicts).found
        });
        if picked { Outcome::FOUND } else { unpicked }
    }

    /// The conditions with the fields tested in `picked`, one object of `here`, and met by
    /// a value found in it; with none picked, by absence everywhere in `here`. `verdicts`:
    /// the scope's leaf lists, judged already.
    fn within<'a>(
        &self,
        here: Option<Item<'a>>,
        picked: Option<Item<'a>>,
        verdicts: Option<&Verdicts>,
    ) -> Outcome {
        let mut outcome = match verdicts {
            _ if self.leaves.is_empty() => Outcome::absent(true),
            Some(verdicts) => self.judged(verdicts, picked.is_none()),
            None => self.leaf_outcome(here, picked.is_none()),
        };
        for (name, field) in &self.fields {
            if !outcome.holds {
                return outcome;
            }
            outcome = outcome.and(match picked {
                Some(object) => field.outcome(object.field(name)),
                None => Outcome::absent(field.vacant(here, self.path.len())),
            });
        }
        for branches in &self.any_of {
            if !outcome.holds {
                return outcome;
            }
            let mut any = Outcome::FAILS;
            for branch in branches {
                any = any.or(branch.within(here, picked, verdicts));
                if any.found {
                    break;
                }
            }
            outcome = outcome.and(any);
        }
        outcome
    }

    /// The leaf lists on the scalars of `here`: each must accept one, or accept absence
    /// when there are none. `count`: whether a scalar met counts as found.
    fn leaf_outcome(&self, here: Option<Item<'_>>, count: bool) -> Outcome {
        let mut seen = false;
        for leaf in &self.leaves {
            let hit = match here {
                Some(Item::Json(Value::Array(_))) => any_item(here, &mut |item| {
                    item.scalar().is_some_and(|value| {
                        seen = true;
                        leaf.accepts(value)
                    })
                }),
                // Not an array: no walk.
                _ => here.and_then(Item::scalar).is_some_and(|value| {
                    seen = true;
                    leaf.accepts(value)
                }),
            };
            if !hit && (seen || !leaf.exists_false) {
                return Outcome::FAILS;
            }
        }
        Outcome {
            holds: true,
            found: count && seen,
        }
    }

    /// Judges the leaf lists of this node and its branches on the scalars of `here`.
    fn verdicts(&self, here: Option<Item<'_>>) -> Verdicts {
        let mut verdicts = Verdicts {
            seen: false,
            hits: vec![false; self.scope_leaves],
        };
        self.judge(here, &mut verdicts);
        verdicts
    }

    fn judge(&self, here: Option<Item<'_>>, verdicts: &mut Verdicts) {
        for (index, leaf) in self.leaves.iter().enumerate() {
            let seen = &mut verdicts.seen;
            verdicts.hits[self.slot + index] = any_item(here, &mut |item| {
                item.scalar().is_some_and(|value| {
                    *seen = true;
                    leaf.accepts(value)
                })
            });
        }
        for branch in self.any_of.iter().flatten() {
            branch.judge(here, verdicts);
        }
    }

    /// [`Node::leaf_outcome`] from verdicts.
    fn judged(&self, verdicts: &Verdicts, count: bool) -> Outcome {
        let hits = &verdicts.hits[self.slot..self.slot + self.leaves.len()];
        let holds = self
            .leaves
            .iter()
            .zip(hits)
            .all(|(leaf, hit)| *hit || (!verdicts.seen && leaf.exists_false));
        Outcome {
            holds,
            found: holds && count && verdicts.seen && !self.leaves.is_empty(),
        }
    }

    /// Whether every condition here and below holds by absence in `base`, the value at
    /// depth `depth` of this node's path, for one choice of branches.
    fn vacant(&self, base: Option<Item<'_>>, depth: usize) -> bool {
        self.absent_ok
            && (self.leaves.is_empty() || !reaches_scalar(base, &self.path[depth..]))
            && self.fields.iter().all(|(_, f)| f.vacant(base, depth))
            && self
                .any_of
                .iter()
                .all(|branches| branches.iter().any(|b| b.vacant(base, depth)))
    }
}

/// The leaf lists of one scope on one value, by slot.
struct Verdicts {
    /// Whether the value has scalars (the same for every leaf list at one path).
    seen: bool,
    /// Whether each leaf list accepts one of them.
    hits: Vec<bool>,
}

/// What the conditions of a node make of a value.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// They can all hold.
    holds: bool,
    /// They can all hold with at least one met by a value found inside (which pins the
    /// array element it is in), not by absence.
    found: bool,
}

impl Outcome {
    const FAILS: Self = Self {
        holds: false,
        found: false,
    };
    const FOUND: Self = Self {
        holds: true,
        found: true,
    };

    fn absent(holds: bool) -> Self {
        Self {
            holds,
            found: false,
        }
    }

    /// Both, for independent parts: each can choose how to hold.
    fn and(self, other: Self) -> Self {
        let holds = self.holds && other.holds;
        Self {
            holds,
            found: holds && (self.found || other.found),
        }
    }

    fn or(self, other: Self) -> Self {
        Self {
            holds: self.holds || other.holds,
            found: self.found || other.found,
        }
    }
}

/// A value of the envelope.
#[derive(Clone, Copy)]
enum Item<'a> {
    Envelope(&'a Envelope<'a>),
    Attributes(&'a BTreeMap<String, String>),
    Json(&'a Value),
    Text(&'a str),
}

impl<'a> Item<'a> {
    fn field(self, name: &str) -> Option<Item<'a>> {
        match self {
            Item::Envelope(envelope) => match name {
                "payload" => envelope.payload.map(Item::Json),
                "attributes" => Some(Item::Attributes(envelope.attributes)),
                "key" => envelope.key.map(Item::Text),
                _ => None,
            },
            Item::Attributes(attributes) => attributes.get(name).map(|v| Item::Text(v)),
            Item::Json(Value::Object(fields)) => fields.get(name).map(Item::Json),
            Item::Json(_) | Item::Text(_) => None,
        }
    }

    fn is_object(self) -> bool {
        matches!(
            self,
            Item::Envelope(_) | Item::Attributes(_) | Item::Json(Value::Object(_))
        )
    }

    fn scalar(self) -> Option<Scalar<'a>> {
        Some(match self {
            Item::Text(s) => Scalar::Str(s),
            Item::Json(Value::String(s)) => Scalar::Str(s),
            Item::Json(Value::Number(n)) => Scalar::Num(n.as_f64().unwrap_or(f64::NAN)),
            Item::Json(Value::Bool(b)) => Scalar::Bool(*b),
            Item::Json(Value::Null) => Scalar::Null,
            _ => return None,
        })
    }
}

/// Whether `test` passes for an item of `value`, arrays (nested ones too) read as their
/// elements.
fn any_item<'a, F: FnMut(Item<'a>) -> bool>(value: Option<Item<'a>>, test: &mut F) -> bool {
    match value {
        None => false,
        Some(Item::Json(Value::Array(items))) => items
            .iter()
            .any(|item| any_item(Some(Item::Json(item)), test)),
        Some(item) => test(item),
    }
}

/// Whether a scalar lies at `path` below `value`, through any array elements.
fn reaches_scalar(value: Option<Item<'_>>, path: &[Box<str>]) -> bool {
    any_item(value, &mut |item| match path.split_first() {
        None => item.scalar().is_some(),
        Some((head, rest)) => reaches_scalar(item.field(head), rest),
    })
}
