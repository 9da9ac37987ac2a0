//! Validates a raw pattern and compiles it into a tree of [`Node`]s. Every refusal names
//! the JSON path of the offending part and why; limits bound the pattern's depth, leaf
//! count and size, and how far its `$or` groups may expand. The operators and their
//! operands are in `operand`.

mod operand;

use serde_json::{Map, Value};

use super::leaf::{Leaf, Scalar};
use super::matcher::Node;
use super::normalize::{Budget, normalize};
use super::{Flat, JsonPath, MAX_CONDITIONS, MAX_DEPTH, MAX_LEAF_VALUES, MAX_PATTERN_BYTES};
use crate::broker::BrokerError;

const STRINGS_ONLY: &str = "attributes and key are strings; match them with strings";

/// The conditions on attributes and the key that must hold, and the tree of the rest.
pub(super) fn compile(pattern: &Value) -> Result<(Vec<(Flat, Leaf)>, Node), BrokerError> {
    let size = serialized_len(pattern);
    if size > MAX_PATTERN_BYTES {
        return Err(JsonPath::root().invalid(format!(
            "the pattern is {size} bytes serialized; the limit is {MAX_PATTERN_BYTES}"
        )));
    }
    let Value::Object(fields) = pattern else {
        return Err(JsonPath::root().invalid("a filter must be a JSON object"));
    };
    let mut compiler = Compiler {
        leaf_values: 0,
        budget: Budget {
            used: 0,
            limit: MAX_CONDITIONS,
        },
    };
    let mut root = compiler.object(fields, &Scope::Root, &JsonPath::root(), 1)?;
    let required = take_required(&mut root);
    root.seal(&[]);
    Ok((required, root))
}

/// Moves the root's attribute and key conditions (those outside `$or`) out of the tree.
fn take_required(root: &mut Node) -> Vec<(Flat, Leaf)> {
    let mut required = Vec::new();
    let is_leaf = |node: &Node| node.fields.is_empty() && node.any_of.is_empty();
    root.fields.retain_mut(|(name, node)| match &**name {
        "attributes" => {
            node.fields.retain_mut(|(attribute, field)| {
                let flat = is_leaf(field);
                if flat {
                    let at = || Flat::Attribute(attribute.clone());
                    required.extend(field.leaves.drain(..).map(|leaf| (at(), leaf)));
                }
                !flat
            });
            !is_leaf(node)
        }
        "key" if is_leaf(node) => {
            required.extend(node.leaves.drain(..).map(|leaf| (Flat::Key, leaf)));
            false
        }
        _ => true,
    });
    required
}

/// Which part of the envelope a pattern object addresses.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Root,
    Payload,
    Attributes,
    Attribute,
    Key,
}

impl Scope {
    fn child(self, name: &str, at: &JsonPath) -> Result<Scope, BrokerError> {
        Ok(match self {
            Scope::Root => {
                match name {
                    "payload" => Scope::Payload,
                    "attributes" => Scope::Attributes,
                    "key" => Scope::Key,
                    _ => return Err(at.invalid(
                        "unknown field; a filter matches \"payload\", \"attributes\" and \"key\"",
                    )),
                }
            }
            Scope::Payload => Scope::Payload,
            Scope::Attributes => Scope::Attribute,
            Scope::Attribute | Scope::Key => {
                return Err(at.invalid("attributes and key have no nested fields"));
            }
        })
    }

    /// Whether a leaf list may stand here.
    fn check_leaf(self, at: &JsonPath) -> Result<(), BrokerError> {
        match self {
            Scope::Payload | Scope::Attribute | Scope::Key => Ok(()),
            Scope::Attributes => {
                Err(at.invalid("name the attribute: {\"attributes\": {\"kind\": [..]}}"))
            }
            Scope::Root => Err(at.invalid("a filter must be a JSON object")),
        }
    }

    fn strings_only(self) -> bool {
        !matches!(self, Scope::Payload)
    }
}

struct Compiler {
    leaf_values: usize,
    budget: Budget,
}

impl Compiler {
    fn object(
        &mut self,
        fields: &Map<String, Value>,
        scope: &Scope,
        at: &JsonPath,
        depth: usize,
    ) -> Result<Node, BrokerError> {
        check_depth(at, depth)?;
        if fields.is_empty() {
            return Err(at.invalid("an object in a filter must test at least one field"));
        }
        if matches!(scope, Scope::Attribute | Scope::Key) {
            return Err(at.invalid(
                "attributes and key have no nested fields; list values, such as [\"signup\"]",
            ));
        }
        let mut node = Node::default();
        for (name, value) in fields {
            let here = at.field(name);
            if name == "$or" {
                node.any_of.push(self.or(value, scope, &here, depth + 1)?);
                continue;
            }
            let inner = scope.child(name, &here)?;
            let field = match value {
                Value::Object(nested) => self.object(nested, &inner, &here, depth + 1)?,
                Value::Array(alternatives) => {
                    inner.check_leaf(&here)?;
                    let leaf = self.leaf(alternatives, inner.strings_only(), &here, depth + 1)?;
                    Node::leaf(leaf)
                }
                _ => {
                    return Err(
                        here.invalid("a leaf must be a list of values, such as [\"signup\"]")
                    );
                }
            };
            node.fields.push((name.as_str().into(), field));
        }
        normalize(&mut node, matches!(scope, Scope::Root), &mut self.budget).map_err(|e| {
            at.invalid(format!(
                "$or branches that test fields also tested beside them (or in another $or) \
                 are combined with those fields; here that makes more than {} conditions",
                e.0
            ))
        })?;
        Ok(node)
    }

    fn or(
        &mut self,
        value: &Value,
        scope: &Scope,
        at: &JsonPath,
        depth: usize,
    ) -> Result<Vec<Node>, BrokerError> {
        check_depth(at, depth)?;
        let Value::Array(members) = value else {
            return Err(
                at.invalid("$or takes a list of patterns, such as [{\"a\": [1]}, {\"b\": [2]}]")
            );
        };
        let branches = members
            .iter()
            .enumerate()
            .map(|(index, member)| match member {
                Value::Object(fields) => self.object(fields, scope, &at.index(index), depth + 1),
                _ => Err(at
                    .index(index)
                    .invalid("each member of $or must be a pattern object")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if branches.len() < 2 {
            return Err(
                at.invalid("$or needs at least two patterns; test a single one without $or")
            );
        }
        Ok(branches)
    }

    fn leaf(
        &mut self,
        alternatives: &[Value],
        strings_only: bool,
        at: &JsonPath,
        depth: usize,
    ) -> Result<Leaf, BrokerError> {
        check_depth(at, depth)?;
        if alternatives.is_empty() {
            return Err(at.invalid("list at least one value to match"));
        }
        self.budget.used += 1;
        let mut leaf = Leaf::default();
        for (index, alternative) in alternatives.iter().enumerate() {
            let here = at.index(index);
            self.count(&here)?;
            match alternative {
                Value::Object(operator) => {
                    self.operator(operator, strings_only, &here, &mut leaf)?
                }
                Value::Array(_) => return Err(here.invalid("nested lists are not allowed")),
                value => leaf.exact.insert(scalar(value, strings_only, &here)?),
            }
        }
        leaf.exact.seal();
        Ok(leaf)
    }

    fn count(&mut self, at: &JsonPath) -> Result<(), BrokerError> {
        self.leaf_values += 1;
        if self.leaf_values > MAX_LEAF_VALUES {
            return Err(at.invalid(format!("a pattern lists at most {MAX_LEAF_VALUES} values")));
        }
        Ok(())
    }
}

fn check_depth(at: &JsonPath, depth: usize) -> Result<(), BrokerError> {
    if depth > MAX_DEPTH {
        return Err(at.invalid(format!("a pattern nests at most {MAX_DEPTH} levels")));
    }
    Ok(())
}

fn scalar<'a>(
    value: &'a Value,
    strings_only: bool,
    at: &JsonPath,
) -> Result<Scalar<'a>, BrokerError> {
    Ok(match value {
        Value::String(s) => Scalar::Str(s),
        _ if strings_only => return Err(at.invalid(STRINGS_ONLY)),
        Value::Number(n) => Scalar::Num(n.as_f64().unwrap_or(f64::NAN)),
        Value::Bool(b) => Scalar::Bool(*b),
        _ => Scalar::Null,
    })
}

fn serialized_len(pattern: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, pattern);
    counter.0
}
