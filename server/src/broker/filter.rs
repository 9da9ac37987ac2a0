//! Subscription filters: an EventBridge-style pattern over the message envelope
//! `{"payload": <JSON payload>, "attributes": {..}, "key": ".."}`. This version matches
//! exact values: nested objects address fields, leaf arrays list alternatives (OR), several
//! fields must all match (AND), and an event array matches if any element does. Anything
//! else is refused with the JSON path of the offending part.

use serde_json::Value;

use super::BrokerError;

const ENVELOPE_FIELDS: [&str; 3] = ["payload", "attributes", "key"];

/// A compiled pattern: every condition must hold.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    conditions: Vec<Condition>,
    reads_payload: bool,
}

#[derive(Debug, Clone)]
struct Condition {
    path: Vec<String>,
    allowed: Vec<Value>,
}

/// What a filter looks at.
pub(crate) struct Envelope<'a> {
    /// The parsed payload, when it is JSON.
    pub(crate) payload: Option<&'a Value>,
    /// The attributes.
    pub(crate) attributes: &'a std::collections::BTreeMap<String, String>,
    /// The key.
    pub(crate) key: Option<&'a str>,
}

impl Filter {
    pub(crate) fn compile(pattern: &Value) -> Result<Self, BrokerError> {
        let Value::Object(fields) = pattern else {
            return Err(invalid("$", "a filter must be a JSON object"));
        };
        let mut conditions = Vec::new();
        for (name, value) in fields {
            if !ENVELOPE_FIELDS.contains(&name.as_str()) {
                return Err(invalid(
                    &format!("$.{name}"),
                    "unknown field; a filter matches \"payload\", \"attributes\" and \"key\"",
                ));
            }
            collect(value, &mut vec![name.clone()], &mut conditions)?;
        }
        if conditions.is_empty() {
            return Err(invalid("$", "a filter must test at least one field"));
        }
        let reads_payload = conditions.iter().any(|c| c.path[0] == "payload");
        Ok(Self {
            conditions,
            reads_payload,
        })
    }

    /// Whether matching needs the payload parsed.
    pub(crate) fn reads_payload(&self) -> bool {
        self.reads_payload
    }

    pub(crate) fn matches(&self, envelope: &Envelope<'_>) -> bool {
        self.conditions.iter().all(|c| c.matches(envelope))
    }
}

impl Condition {
    fn matches(&self, envelope: &Envelope<'_>) -> bool {
        let rest = &self.path[1..];
        match self.path[0].as_str() {
            "payload" => envelope
                .payload
                .is_some_and(|payload| any_leaf(payload, rest, &self.allowed)),
            "attributes" => match rest {
                [name] => envelope
                    .attributes
                    .get(name)
                    .is_some_and(|v| self.allowed.iter().any(|a| a.as_str() == Some(v))),
                _ => false,
            },
            "key" => {
                rest.is_empty()
                    && envelope
                        .key
                        .is_some_and(|k| self.allowed.iter().any(|a| a.as_str() == Some(k)))
            }
            _ => false,
        }
    }
}

fn any_leaf(value: &Value, path: &[String], allowed: &[Value]) -> bool {
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter().any(|item| any_leaf(item, path, allowed)),
        (Value::Object(fields), Some((head, rest))) => fields
            .get(head)
            .is_some_and(|inner| any_leaf(inner, rest, allowed)),
        (_, Some(_)) => false,
        (leaf, None) => allowed.iter().any(|a| same_value(a, leaf)),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn collect(
    value: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<Condition>,
) -> Result<(), BrokerError> {
    let here = json_path(path);
    match value {
        Value::Object(fields) => {
            if fields.is_empty() {
                return Err(invalid(
                    &here,
                    "an object in a filter must test at least one field",
                ));
            }
            if path.len() >= 2 && path[0] != "payload" {
                return Err(invalid(&here, "attributes and key have no nested fields"));
            }
            for (name, inner) in fields {
                path.push(name.clone());
                collect(inner, path, out)?;
                path.pop();
            }
            Ok(())
        }
        Value::Array(alternatives) => {
            if alternatives.is_empty() {
                return Err(invalid(&here, "list at least one value to match"));
            }
            if path.len() == 1 && path[0] == "attributes" {
                return Err(invalid(
                    &here,
                    "name the attribute: {\"attributes\": {\"kind\": [..]}}",
                ));
            }
            for (index, alternative) in alternatives.iter().enumerate() {
                let at = format!("{here}[{index}]");
                match alternative {
                    Value::Object(_) => {
                        return Err(invalid(
                            &at,
                            "operators such as prefix or numeric are not supported; list exact values",
                        ));
                    }
                    Value::Array(_) => return Err(invalid(&at, "nested lists are not allowed")),
                    Value::String(_) => {}
                    _ if path[0] != "payload" => {
                        return Err(invalid(
                            &at,
                            "attributes and key are strings; match them with strings",
                        ));
                    }
                    _ => {}
                }
            }
            out.push(Condition {
                path: path.clone(),
                allowed: alternatives.clone(),
            });
            Ok(())
        }
        _ => Err(invalid(
            &here,
            "a leaf must be a list of values, such as [\"signup\"]",
        )),
    }
}

fn json_path(path: &[String]) -> String {
    let mut out = String::from("$");
    for part in path {
        out.push('.');
        out.push_str(part);
    }
    out
}

fn invalid(path: &str, reason: &str) -> BrokerError {
    BrokerError::InvalidFilter {
        path: path.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn matches(
        pattern: Value,
        payload: Option<Value>,
        attrs: &[(&str, &str)],
        key: Option<&str>,
    ) -> bool {
        let filter = Filter::compile(&pattern).unwrap();
        let attributes: BTreeMap<String, String> = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        filter.matches(&Envelope {
            payload: payload.as_ref(),
            attributes: &attributes,
            key,
        })
    }

    #[test]
    fn exact_values_or_within_and_across() {
        let pattern =
            json!({"attributes": {"kind": ["signup", "login"]}, "payload": {"plan": ["pro"]}});
        assert!(matches(
            pattern.clone(),
            Some(json!({"plan": "pro"})),
            &[("kind", "login")],
            None
        ));
        assert!(!matches(
            pattern.clone(),
            Some(json!({"plan": "free"})),
            &[("kind", "login")],
            None
        ));
        assert!(!matches(
            pattern,
            Some(json!({"plan": "pro"})),
            &[("kind", "other")],
            None
        ));
    }

    #[test]
    fn arrays_in_events_match_any_element_and_numbers_compare_numerically() {
        let pattern = json!({"payload": {"items": {"sku": ["a1"]}, "n": [5]}});
        let payload = json!({"items": [{"sku": "zz"}, {"sku": "a1"}], "n": 5.0});
        assert!(matches(pattern.clone(), Some(payload), &[], None));
        assert!(!matches(
            pattern,
            Some(json!({"items": [{"sku": "zz"}], "n": 5})),
            &[],
            None
        ));
    }

    #[test]
    fn absent_fields_and_non_json_payloads_match_nothing() {
        let pattern = json!({"payload": {"a": [null]}});
        assert!(matches(
            pattern.clone(),
            Some(json!({"a": null})),
            &[],
            None
        ));
        assert!(!matches(pattern.clone(), Some(json!({})), &[], None));
        assert!(!matches(pattern, None, &[], None));
        assert!(matches(json!({"key": ["k1"]}), None, &[], Some("k1")));
    }

    #[test]
    fn invalid_patterns_name_their_path() {
        let err = Filter::compile(&json!({"payload": {"plan": [{"prefix": "pro"}]}})).unwrap_err();
        assert!(err.to_string().contains("$.payload.plan[0]"), "{err}");
        let err = Filter::compile(&json!({"payload": {"plan": "pro"}})).unwrap_err();
        assert!(err.to_string().contains("$.payload.plan"), "{err}");
        assert!(Filter::compile(&json!({"body": {"a": [1]}})).is_err());
        assert!(Filter::compile(&json!([1])).is_err());
        assert!(Filter::compile(&json!({"attributes": {"kind": [1]}})).is_err());
    }
}
