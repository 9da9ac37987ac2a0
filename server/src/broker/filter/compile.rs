//! Validates a raw pattern and compiles it into a [`Group`]. Every refusal names the JSON
//! path of the offending part and why; limits bound the pattern's depth, leaf count and size.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::matcher::{
    AnythingBut, Cidr, Condition, Group, Leaf, Numeric, Operator, Path, Scalar, Text, ValueSet,
    Wildcard, fold_case,
};
use super::{JsonPath, MAX_DEPTH, MAX_LEAF_VALUES, MAX_PATTERN_BYTES};
use crate::broker::BrokerError;

const STRINGS_ONLY: &str = "attributes and key are strings; match them with strings";

pub(super) fn compile(pattern: &Value) -> Result<Group, BrokerError> {
    let size = serialized_len(pattern);
    if size > MAX_PATTERN_BYTES {
        return Err(JsonPath::root().invalid(format!(
            "the pattern is {size} bytes serialized; the limit is {MAX_PATTERN_BYTES}"
        )));
    }
    let Value::Object(fields) = pattern else {
        return Err(JsonPath::root().invalid("a filter must be a JSON object"));
    };
    let mut compiler = Compiler { leaf_values: 0 };
    let mut group = compiler.object(fields, &Scope::Root, &JsonPath::root(), 1)?;
    group.order_by_cost();
    Ok(group)
}

/// Which part of the envelope a pattern object addresses.
#[derive(Debug, Clone)]
enum Scope {
    Root,
    Payload(Vec<Box<str>>),
    Attributes,
    Attribute(Box<str>),
    Key,
}

impl Scope {
    fn child(&self, name: &str, at: &JsonPath) -> Result<Scope, BrokerError> {
        Ok(match self {
            Scope::Root => {
                match name {
                    "payload" => Scope::Payload(Vec::new()),
                    "attributes" => Scope::Attributes,
                    "key" => Scope::Key,
                    _ => return Err(at.invalid(
                        "unknown field; a filter matches \"payload\", \"attributes\" and \"key\"",
                    )),
                }
            }
            Scope::Payload(names) => {
                let mut names = names.clone();
                names.push(name.into());
                Scope::Payload(names)
            }
            Scope::Attributes => Scope::Attribute(name.into()),
            Scope::Attribute(_) | Scope::Key => {
                return Err(at.invalid("attributes and key have no nested fields"));
            }
        })
    }

    fn path(&self, at: &JsonPath) -> Result<Path, BrokerError> {
        match self {
            Scope::Payload(names) => Ok(Path::Payload(names.clone().into_boxed_slice())),
            Scope::Attribute(name) => Ok(Path::Attribute(name.clone())),
            Scope::Key => Ok(Path::Key),
            Scope::Attributes => {
                Err(at.invalid("name the attribute: {\"attributes\": {\"kind\": [..]}}"))
            }
            Scope::Root => Err(at.invalid("a filter must be a JSON object")),
        }
    }

    fn strings_only(&self) -> bool {
        !matches!(self, Scope::Payload(_))
    }
}

struct Compiler {
    leaf_values: usize,
}

impl Compiler {
    fn object(
        &mut self,
        fields: &Map<String, Value>,
        scope: &Scope,
        at: &JsonPath,
        depth: usize,
    ) -> Result<Group, BrokerError> {
        check_depth(at, depth)?;
        if fields.is_empty() {
            return Err(at.invalid("an object in a filter must test at least one field"));
        }
        if matches!(scope, Scope::Attribute(_) | Scope::Key) {
            return Err(at.invalid(
                "attributes and key have no nested fields; list values, such as [\"signup\"]",
            ));
        }
        let mut group = Group::default();
        for (name, value) in fields {
            let here = at.field(name);
            if name == "$or" {
                group.any_of.push(self.or(value, scope, &here, depth + 1)?);
                continue;
            }
            let inner = scope.child(name, &here)?;
            match value {
                Value::Object(nested) => {
                    let nested = self.object(nested, &inner, &here, depth + 1)?;
                    group.conditions.extend(nested.conditions);
                    group.any_of.extend(nested.any_of);
                }
                Value::Array(alternatives) => {
                    let path = inner.path(&here)?;
                    let leaf = self.leaf(alternatives, inner.strings_only(), &here, depth + 1)?;
                    group.conditions.push(Condition { path, leaf });
                }
                _ => {
                    return Err(
                        here.invalid("a leaf must be a list of values, such as [\"signup\"]")
                    );
                }
            }
        }
        Ok(group)
    }

    fn or(
        &mut self,
        value: &Value,
        scope: &Scope,
        at: &JsonPath,
        depth: usize,
    ) -> Result<Vec<Group>, BrokerError> {
        check_depth(at, depth)?;
        let Value::Array(members) = value else {
            return Err(
                at.invalid("$or takes a list of patterns, such as [{\"a\": [1]}, {\"b\": [2]}]")
            );
        };
        if members.is_empty() {
            return Err(at.invalid("$or needs at least one pattern"));
        }
        members
            .iter()
            .enumerate()
            .map(|(index, member)| match member {
                Value::Object(fields) => self.object(fields, scope, &at.index(index), depth + 1),
                _ => Err(at
                    .index(index)
                    .invalid("each member of $or must be a pattern object")),
            })
            .collect()
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

    fn operator(
        &mut self,
        operator: &Map<String, Value>,
        strings_only: bool,
        at: &JsonPath,
        leaf: &mut Leaf,
    ) -> Result<(), BrokerError> {
        let (name, operand) = single_entry(operator, at)?;
        let at = at.field(name);
        let compiled = match name {
            "prefix" => Operator::Prefix(text(operand, &at)?),
            "suffix" => Operator::Suffix(text(operand, &at)?),
            "equals-ignore-case" => {
                Operator::EqualsIgnoreCase(fold_case(string(operand, &at)?).into())
            }
            "wildcard" => Operator::Wildcard(wildcard(string(operand, &at)?, &at)?),
            "cidr" => Operator::Cidr(cidr(string(operand, &at)?, &at)?),
            "numeric" if strings_only => return Err(at.invalid(STRINGS_ONLY)),
            "numeric" => Operator::Numeric(numeric(operand, &at)?),
            "anything-but" => {
                Operator::AnythingBut(self.anything_but(operand, strings_only, &at)?)
            }
            "exists" => {
                match operand {
                    Value::Bool(true) => leaf.exists_true = true,
                    Value::Bool(false) => leaf.exists_false = true,
                    _ => return Err(at.invalid("exists takes true or false")),
                }
                return Ok(());
            }
            _ => {
                return Err(at.invalid(
                    "unknown operator; use prefix, suffix, equals-ignore-case, wildcard, cidr, \
                     numeric, exists or anything-but",
                ));
            }
        };
        leaf.operators.push(compiled);
        Ok(())
    }

    fn anything_but(
        &mut self,
        operand: &Value,
        strings_only: bool,
        at: &JsonPath,
    ) -> Result<AnythingBut, BrokerError> {
        match operand {
            Value::Array(items) => {
                if items.is_empty() {
                    return Err(at.invalid("list at least one value"));
                }
                let mut set = ValueSet::default();
                for (index, item) in items.iter().enumerate() {
                    let here = at.index(index);
                    if index > 0 {
                        self.count(&here)?;
                    }
                    match item {
                        Value::Array(_) | Value::Object(_) => {
                            return Err(here.invalid("an anything-but list holds plain values"));
                        }
                        value => set.insert(scalar(value, strings_only, &here)?),
                    }
                }
                set.seal();
                Ok(AnythingBut::Values(set))
            }
            Value::Object(inner) => {
                let (name, operand) = single_entry(inner, at)?;
                let here = at.field(name);
                Ok(match name {
                    "prefix" => AnythingBut::Prefix(string(operand, &here)?.into()),
                    "suffix" => AnythingBut::Suffix(string(operand, &here)?.into()),
                    "wildcard" => AnythingBut::Wildcard(wildcard(string(operand, &here)?, &here)?),
                    "equals-ignore-case" => AnythingBut::IgnoreCase(match operand {
                        Value::Array(items) if !items.is_empty() => items
                            .iter()
                            .enumerate()
                            .map(|(i, item)| Ok(fold_case(string(item, &here.index(i))?).into()))
                            .collect::<Result<_, BrokerError>>()?,
                        _ => vec![fold_case(string(operand, &here)?).into()],
                    }),
                    _ => {
                        return Err(here.invalid(
                            "anything-but takes a value, a list, or one of prefix, suffix, \
                             equals-ignore-case, wildcard",
                        ));
                    }
                })
            }
            value => {
                let mut set = ValueSet::default();
                set.insert(scalar(value, strings_only, at)?);
                Ok(AnythingBut::Values(set))
            }
        }
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

fn single_entry<'a>(
    object: &'a Map<String, Value>,
    at: &JsonPath,
) -> Result<(&'a str, &'a Value), BrokerError> {
    let mut entries = object.iter();
    match (entries.next(), entries.next()) {
        (Some((name, operand)), None) => Ok((name, operand)),
        _ => Err(at.invalid(
            "an operator object holds exactly one operator, such as {\"prefix\": \"pro\"}",
        )),
    }
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

fn string<'a>(operand: &'a Value, at: &JsonPath) -> Result<&'a str, BrokerError> {
    operand.as_str().ok_or_else(|| at.invalid("takes a string"))
}

/// The operand of `prefix` and `suffix`: a string or `{"equals-ignore-case": ".."}`.
fn text(operand: &Value, at: &JsonPath) -> Result<Text, BrokerError> {
    match operand {
        Value::String(s) => Ok(Text {
            text: s.as_str().into(),
            ignore_case: false,
        }),
        Value::Object(inner) => match single_entry(inner, at)? {
            ("equals-ignore-case", value) => Ok(Text {
                text: fold_case(string(value, &at.field("equals-ignore-case"))?).into(),
                ignore_case: true,
            }),
            (name, _) => Err(at
                .field(name)
                .invalid("takes a string or {\"equals-ignore-case\": \"..\"}")),
        },
        _ => Err(at.invalid("takes a string or {\"equals-ignore-case\": \"..\"}")),
    }
}

/// Splits at unescaped `*`; `\*` is a literal star and `\\` a literal backslash.
fn wildcard(pattern: &str, at: &JsonPath) -> Result<Wildcard, BrokerError> {
    let mut parts = vec![String::new()];
    let mut chars = pattern.chars();
    let mut after_star = false;
    while let Some(c) = chars.next() {
        match c {
            '*' if after_star => return Err(at.invalid("consecutive * are not allowed")),
            '*' => parts.push(String::new()),
            '\\' => match chars.next() {
                Some(escaped @ ('*' | '\\')) => push(&mut parts, escaped),
                _ => return Err(at.invalid("a backslash escapes only * or \\")),
            },
            c => push(&mut parts, c),
        }
        after_star = c == '*';
    }
    Ok(Wildcard {
        parts: parts.into_iter().map(String::into_boxed_str).collect(),
    })
}

fn push(parts: &mut [String], c: char) {
    if let Some(part) = parts.last_mut() {
        part.push(c);
    }
}

fn cidr(block: &str, at: &JsonPath) -> Result<Cidr, BrokerError> {
    let malformed = || at.invalid("a CIDR block such as 10.0.0.0/24 or 2001:db8::/32");
    let (address, prefix) = block.split_once('/').ok_or_else(malformed)?;
    let address: IpAddr = address.parse().map_err(|_| malformed())?;
    let prefix: u8 = prefix.parse().map_err(|_| malformed())?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(at.invalid(format!("the prefix length is at most {max}")));
    }
    Ok(Cidr::new(address, prefix))
}

/// `[op, n]` or `[lower-op, n, upper-op, m]`; `=` stands alone.
fn numeric(operand: &Value, at: &JsonPath) -> Result<Numeric, BrokerError> {
    let shape = "numeric takes a list such as [\">\", 0, \"<=\", 5] or [\"=\", 3]";
    let items = match operand {
        Value::Array(items) if !items.is_empty() && items.len() % 2 == 0 && items.len() <= 4 => {
            items
        }
        _ => return Err(at.invalid(shape)),
    };
    let (mut lower, mut upper) = (None, None);
    for (index, pair) in items.chunks(2).enumerate() {
        let op_at = at.index(2 * index);
        let value_at = at.index(2 * index + 1);
        let value = pair[1]
            .as_f64()
            .ok_or_else(|| value_at.invalid("a numeric operand must be a number"))?;
        let (slot, inclusive) = match pair[0].as_str() {
            Some("=") if items.len() == 2 => return Ok(Numeric::Equal(value)),
            Some("=") => return Err(op_at.invalid("\"=\" stands alone: [\"=\", 3]")),
            Some(">") => (&mut lower, false),
            Some(">=") => (&mut lower, true),
            Some("<") => (&mut upper, false),
            Some("<=") => (&mut upper, true),
            _ => return Err(op_at.invalid("a numeric operator is one of =, <, <=, >, >=")),
        };
        if slot.is_some() {
            return Err(op_at.invalid("a range has at most one lower and one upper bound"));
        }
        *slot = Some((value, inclusive));
    }
    if let (Some((low, low_inclusive)), Some((high, high_inclusive))) = (lower, upper)
        && (low > high || (low == high && !(low_inclusive && high_inclusive)))
    {
        return Err(at.invalid("the range is empty"));
    }
    Ok(Numeric::Range { lower, upper })
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
