//! A plain interpreter over the raw pattern JSON, for tests only, that states the semantics
//! the other way round from the matcher: it expands `$or` into conjunctions of (path, leaf
//! list) conditions, lists every value at each path with the array elements it lies in,
//! and searches for one value per condition, or its absence, such that no two of them lie
//! in different elements of one array (event-ruler's array consistency). An absence holds
//! when no value at its path lies in elements the chosen values agree with. Nested arrays
//! read as one flat array, and only objects in an array pin an element. It re-reads every
//! operand on each call. The property test checks the compiled matcher against it.

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
    let pattern = pattern.as_object().expect("a pattern is an object");
    conjunctions(pattern, &[])
        .iter()
        .any(|conditions| satisfiable(conditions, event))
}

/// A condition: the names from the envelope down, and the leaf list there.
type Condition<'p> = (Vec<&'p str>, &'p [Value]);

/// The pattern as alternatives (`$or` multiplied out), each a list of conditions that must
/// all hold.
fn conjunctions<'p>(pattern: &'p Map<String, Value>, path: &[&'p str]) -> Vec<Vec<Condition<'p>>> {
    let mut all = vec![Vec::new()];
    for (name, sub) in pattern {
        let options: Vec<Vec<Condition<'p>>> = if name == "$or" {
            let members = sub.as_array().expect("$or is a list");
            members
                .iter()
                .flat_map(|m| conjunctions(m.as_object().expect("an object"), path))
                .collect()
        } else {
            let mut inner = path.to_vec();
            inner.push(name);
            match sub {
                Value::Object(nested) => conjunctions(nested, &inner),
                Value::Array(alternatives) => vec![vec![(inner, alternatives.as_slice())]],
                _ => panic!("a leaf is a list"),
            }
        };
        all = all
            .iter()
            .flat_map(|so_far| {
                options.iter().map(move |option| {
                    let mut joined = so_far.clone();
                    joined.extend(option.iter().cloned());
                    joined
                })
            })
            .collect();
    }
    all
}

/// An array element a value lies in: the array (by address) and the element's index.
type Pin = (usize, usize);

/// A value at a path, with the array elements it lies in.
struct Occurrence<'e> {
    value: &'e Value,
    pins: Vec<Pin>,
}

fn occurrences<'e>(
    value: &'e Value,
    path: &[&str],
    pins: &mut Vec<Pin>,
    out: &mut Vec<Occurrence<'e>>,
) {
    match value {
        Value::Array(_) => {
            let mut items = Vec::new();
            flatten(value, &mut items);
            let array = value as *const Value as usize;
            for (index, item) in items.into_iter().enumerate() {
                if item.is_object() {
                    pins.push((array, index));
                    occurrences(item, path, pins, out);
                    pins.pop();
                } else if path.is_empty() {
                    out.push(Occurrence {
                        value: item,
                        pins: pins.clone(),
                    });
                }
            }
        }
        Value::Object(fields) => {
            if let Some((head, rest)) = path.split_first()
                && let Some(inner) = fields.get(*head)
            {
                occurrences(inner, rest, pins, out);
            }
        }
        scalar if path.is_empty() => out.push(Occurrence {
            value: scalar,
            pins: pins.clone(),
        }),
        _ => {}
    }
}

fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        value => out.push(value),
    }
}

/// Two sets of pins agree when they name no array with different elements.
fn agree(a: &[Pin], b: &[Pin]) -> bool {
    a.iter()
        .all(|(array, index)| b.iter().all(|(other, at)| other != array || at == index))
}

fn satisfiable(conditions: &[Condition<'_>], event: &Value) -> bool {
    let candidates: Vec<(Vec<Occurrence<'_>>, &[Value])> = conditions
        .iter()
        .map(|(path, alternatives)| {
            let mut found = Vec::new();
            occurrences(event, path, &mut Vec::new(), &mut found);
            (found, *alternatives)
        })
        .collect();
    search(&candidates, 0, &mut Vec::new(), &mut Vec::new())
}

/// Picks a value, or absence, for condition `next` and on, backtracking; the absences are
/// checked once every condition is decided.
fn search(
    conditions: &[(Vec<Occurrence<'_>>, &[Value])],
    next: usize,
    pins: &mut Vec<Pin>,
    absent: &mut Vec<usize>,
) -> bool {
    let Some((found, alternatives)) = conditions.get(next) else {
        return absent
            .iter()
            .all(|&i| conditions[i].0.iter().all(|o| !agree(&o.pins, pins)));
    };
    for occurrence in found {
        if agree(&occurrence.pins, pins) && accepts(alternatives, occurrence.value) {
            let before = pins.len();
            for pin in &occurrence.pins {
                if !pins.contains(pin) {
                    pins.push(*pin);
                }
            }
            if search(conditions, next + 1, pins, absent) {
                return true;
            }
            pins.truncate(before);
        }
    }
    let takes_absence = alternatives
        .iter()
        .any(|a| a.get("exists") == Some(&Value::Bool(false)));
    if takes_absence {
        absent.push(next);
        if search(conditions, next + 1, pins, absent) {
            return true;
        }
        absent.pop();
    }
    false
}

/// Whether one of the alternatives (`exists: false` aside) accepts the value.
fn accepts(alternatives: &[Value], value: &Value) -> bool {
    alternatives.iter().any(|alternative| {
        let Value::Object(operator) = alternative else {
            return equal(alternative, value);
        };
        let (name, operand) = operator.iter().next().expect("one operator");
        match name.as_str() {
            "exists" => operand.as_bool() == Some(true),
            _ => apply(name, operand, value),
        }
    })
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
    match operand {
        Value::Array(items) => !items.iter().any(|item| equal(item, value)),
        Value::Object(o) => {
            let (name, inner) = o.iter().next().unwrap();
            let Some(text) = value.as_str() else {
                return true;
            };
            let operands: Vec<&str> = match inner {
                Value::Array(items) => items.iter().map(|i| i.as_str().unwrap()).collect(),
                single => vec![single.as_str().unwrap()],
            };
            !operands.iter().any(|operand| match name.as_str() {
                "prefix" => text.starts_with(operand),
                "suffix" => text.ends_with(operand),
                "wildcard" => glob(operand, text),
                "equals-ignore-case" => lower(operand) == lower(text),
                _ => panic!("unknown anything-but {name}"),
            })
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
