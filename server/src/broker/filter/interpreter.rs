//! A plain interpreter over the raw pattern JSON, for tests only: it walks the pattern and
//! the envelope as `serde_json::Value`s and re-reads every operand on each call. The
//! property test checks the compiled matcher against it.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::Envelope;

/// The envelope as the JSON document a pattern describes.
pub(super) fn envelope_json(envelope: &Envelope<'_>) -> Value {
    let mut fields = Map::new();
    if let Some(payload) = envelope.payload {
        fields.insert("payload".into(), payload.clone());
    }
    let attributes = envelope
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    fields.insert("attributes".into(), Value::Object(attributes));
    if let Some(key) = envelope.key {
        fields.insert("key".into(), Value::String(key.into()));
    }
    Value::Object(fields)
}

/// Whether `event` matches `pattern`, a pattern that `Filter::compile` accepts.
pub(super) fn interpret(pattern: &Value, event: &Value) -> bool {
    object(
        pattern.as_object().expect("a pattern is an object"),
        &[event],
    )
}

/// `values` are everything found at this level, arrays already flattened.
fn object(pattern: &Map<String, Value>, values: &[&Value]) -> bool {
    pattern.iter().all(|(name, sub)| {
        if name == "$or" {
            let members = sub.as_array().expect("$or is a list");
            return members
                .iter()
                .any(|member| object(member.as_object().expect("an object"), values));
        }
        let mut found = Vec::new();
        for value in values {
            if let Some(inner) = value.as_object().and_then(|o| o.get(name)) {
                flatten(inner, &mut found);
            }
        }
        match sub {
            Value::Object(nested) => object(nested, &found),
            Value::Array(alternatives) => {
                let leaves: Vec<&Value> = found.into_iter().filter(|v| !v.is_object()).collect();
                alternatives.iter().any(|a| alternative(a, &leaves))
            }
            _ => panic!("a leaf is a list"),
        }
    })
}

fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        value => out.push(value),
    }
}

fn alternative(alternative: &Value, leaves: &[&Value]) -> bool {
    let Value::Object(operator) = alternative else {
        return leaves.iter().any(|v| equal(alternative, v));
    };
    let (name, operand) = operator.iter().next().expect("one operator");
    if name == "exists" {
        return operand.as_bool() == Some(!leaves.is_empty());
    }
    leaves.iter().any(|value| apply(name, operand, value))
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn apply(name: &str, operand: &Value, value: &Value) -> bool {
    let text = value.as_str();
    match name {
        "prefix" | "suffix" => {
            let Some(text) = text else { return false };
            let (needle, haystack) = match operand {
                Value::Object(o) => (
                    lower(o["equals-ignore-case"].as_str().unwrap()),
                    lower(text),
                ),
                _ => (operand.as_str().unwrap().to_owned(), text.to_owned()),
            };
            if name == "prefix" {
                haystack.starts_with(&needle)
            } else {
                haystack.ends_with(&needle)
            }
        }
        "equals-ignore-case" => text.is_some_and(|t| lower(t) == lower(operand.as_str().unwrap())),
        "wildcard" => text.is_some_and(|t| glob(operand.as_str().unwrap(), t)),
        "cidr" => text.is_some_and(|t| in_block(operand.as_str().unwrap(), t)),
        "numeric" => value.as_f64().is_some_and(|n| numeric(operand, n)),
        "anything-but" => anything_but(operand, value),
        _ => panic!("unknown operator {name}"),
    }
}

fn anything_but(operand: &Value, value: &Value) -> bool {
    let text = value.as_str();
    match operand {
        Value::Array(items) => !items.iter().any(|item| equal(item, value)),
        Value::Object(o) => {
            let (name, inner) = o.iter().next().unwrap();
            let Some(text) = text else { return true };
            !match name.as_str() {
                "prefix" => text.starts_with(inner.as_str().unwrap()),
                "suffix" => text.ends_with(inner.as_str().unwrap()),
                "wildcard" => glob(inner.as_str().unwrap(), text),
                "equals-ignore-case" => match inner {
                    Value::Array(items) => items
                        .iter()
                        .any(|i| lower(i.as_str().unwrap()) == lower(text)),
                    _ => lower(inner.as_str().unwrap()) == lower(text),
                },
                _ => panic!("unknown anything-but {name}"),
            }
        }
        scalar => !equal(scalar, value),
    }
}

fn numeric(operand: &Value, n: f64) -> bool {
    let items = operand.as_array().unwrap();
    items.chunks(2).all(|pair| {
        let x = pair[1].as_f64().unwrap();
        match pair[0].as_str().unwrap() {
            "=" => n == x,
            "<" => n < x,
            "<=" => n <= x,
            ">" => n > x,
            ">=" => n >= x,
            op => panic!("unknown numeric operator {op}"),
        }
    })
}

/// Backtracking glob: `*` is any run of characters, `\*` and `\\` are literals.
fn glob(pattern: &str, text: &str) -> bool {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => Some(chars.next().unwrap()),
            '*' => None,
            c => Some(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    fn go(tokens: &[Option<char>], text: &[char]) -> bool {
        match tokens.split_first() {
            None => text.is_empty(),
            Some((None, rest)) => (0..=text.len()).any(|skip| go(rest, &text[skip..])),
            Some((Some(c), rest)) => text.first() == Some(c) && go(rest, &text[1..]),
        }
    }
    go(&tokens, &text)
}

fn in_block(block: &str, text: &str) -> bool {
    let (address, prefix) = block.split_once('/').unwrap();
    let prefix: usize = prefix.parse().unwrap();
    let bits = |ip: IpAddr| -> Vec<bool> {
        let octets = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        octets
            .iter()
            .flat_map(|o| (0..8).rev().map(move |i| o >> i & 1 == 1))
            .collect()
    };
    let network: IpAddr = address.parse().unwrap();
    let Ok(ip) = text.parse::<IpAddr>() else {
        return false;
    };
    network.is_ipv4() == ip.is_ipv4() && bits(network)[..prefix] == bits(ip)[..prefix]
}
