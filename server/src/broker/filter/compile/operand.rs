//! The operators of a leaf list and their operands: `prefix`, `suffix`,
//! `equals-ignore-case`, `wildcard`, `cidr`, `numeric`, `exists` and `anything-but`.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{Compiler, STRINGS_ONLY, scalar};
use crate::broker::BrokerError;
use crate::broker::filter::JsonPath;
use crate::broker::filter::leaf::{
    AnythingBut, Cidr, Leaf, Numeric, Operator, Text, ValueSet, Wildcard, fold_case,
};

impl Compiler {
    pub(super) fn operator(
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

    /// A value, a list of values of one type, or `prefix`, `suffix`, `equals-ignore-case`
    /// or `wildcard` with a string or a list of strings.
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
                let mut first_kind = None;
                for (index, item) in items.iter().enumerate() {
                    let here = at.index(index);
                    if index > 0 {
                        self.count(&here)?;
                    }
                    if matches!(item, Value::Array(_) | Value::Object(_)) {
                        return Err(here.invalid("an anything-but list holds plain values"));
                    }
                    let value = scalar(item, strings_only, &here)?;
                    let kind = value.kind();
                    match first_kind {
                        None => first_kind = Some(kind),
                        Some(first) if first != kind => {
                            return Err(here.invalid(format!(
                                "an anything-but list holds values of one type; this {kind} \
                                 follows a {first}"
                            )));
                        }
                        Some(_) => {}
                    }
                    set.insert(value);
                }
                set.seal();
                Ok(AnythingBut::Values(set))
            }
            Value::Object(inner) => {
                let (name, operand) = single_entry(inner, at)?;
                let here = at.field(name);
                if !matches!(
                    name,
                    "prefix" | "suffix" | "equals-ignore-case" | "wildcard"
                ) {
                    return Err(here.invalid(
                        "anything-but takes a value, a list, or one of prefix, suffix, \
                         equals-ignore-case, wildcard",
                    ));
                }
                let texts = self.strings(operand, &here)?;
                let not_empty = |list: Vec<(&str, JsonPath)>| {
                    list.into_iter()
                        .map(|(s, at)| match s {
                            "" => Err(at.invalid(format!(
                                "an empty {name} is in every string, so nothing would match"
                            ))),
                            s => Ok(s.into()),
                        })
                        .collect::<Result<Vec<Box<str>>, BrokerError>>()
                };
                Ok(match name {
                    "prefix" => AnythingBut::Prefix(not_empty(texts)?),
                    "suffix" => AnythingBut::Suffix(not_empty(texts)?),
                    "wildcard" => AnythingBut::Wildcard(
                        texts
                            .into_iter()
                            .map(|(s, at)| wildcard(s, &at))
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => AnythingBut::IgnoreCase(
                        texts
                            .into_iter()
                            .map(|(s, _)| fold_case(s).into())
                            .collect(),
                    ),
                })
            }
            value => {
                let mut set = ValueSet::default();
                set.insert(scalar(value, strings_only, at)?);
                Ok(AnythingBut::Values(set))
            }
        }
    }

    /// A string, or a non-empty list of strings, each with its path.
    fn strings<'a>(
        &mut self,
        operand: &'a Value,
        at: &JsonPath,
    ) -> Result<Vec<(&'a str, JsonPath)>, BrokerError> {
        let Value::Array(items) = operand else {
            let text = operand
                .as_str()
                .ok_or_else(|| at.invalid("takes a string or a list of strings"))?;
            return Ok(vec![(text, at.clone())]);
        };
        if items.is_empty() {
            return Err(at.invalid("list at least one string"));
        }
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let here = at.index(index);
                if index > 0 {
                    self.count(&here)?;
                }
                Ok((string(item, &here)?, here))
            })
            .collect()
    }
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

/// `[op, n]`, or `[lower-op, n, upper-op, m]` with the lower bound first (as event-ruler
/// requires); `=` stands alone.
fn numeric(operand: &Value, at: &JsonPath) -> Result<Numeric, BrokerError> {
    let shape = "numeric takes a list such as [\">\", 0, \"<=\", 5] or [\"=\", 3]";
    let items = match operand {
        Value::Array(items) if !items.is_empty() && items.len() % 2 == 0 && items.len() <= 4 => {
            items
        }
        _ => return Err(at.invalid(shape)),
    };
    let range = items.len() == 4;
    let mut bounds = [None, None];
    for (index, pair) in items.chunks(2).enumerate() {
        let op_at = at.index(2 * index);
        let value = pair[1].as_f64().ok_or_else(|| {
            at.index(2 * index + 1)
                .invalid("a numeric operand must be a number")
        })?;
        let (upper, inclusive) = match pair[0].as_str() {
            Some("=") if !range => return Ok(Numeric::Equal(value)),
            Some("=") => return Err(op_at.invalid("\"=\" stands alone: [\"=\", 3]")),
            Some(">") => (false, false),
            Some(">=") => (false, true),
            Some("<") => (true, false),
            Some("<=") => (true, true),
            _ => return Err(op_at.invalid("a numeric operator is one of =, <, <=, >, >=")),
        };
        if range && index == 0 && upper {
            return Err(
                op_at.invalid("a range gives its lower bound first, such as [\">\", 0, \"<=\", 5]")
            );
        }
        if bounds[usize::from(upper)].is_some() {
            return Err(op_at.invalid("a range has at most one lower and one upper bound"));
        }
        bounds[usize::from(upper)] = Some((value, inclusive));
    }
    let [lower, upper] = bounds;
    if let (Some((low, low_inclusive)), Some((high, high_inclusive))) = (lower, upper)
        && (low > high || (low == high && !(low_inclusive && high_inclusive)))
    {
        return Err(at.invalid("the range is empty"));
    }
    Ok(Numeric::Range { lower, upper })
}
