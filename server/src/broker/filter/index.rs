//! An index over the filters of one topic's subscriptions, so that routing a publish does
//! not evaluate every filter. A filter whose top level requires an attribute (or the key)
//! to be one of some exact strings can only match events carrying one of them; the index
//! maps those strings to the subscriptions, and only they, plus the filters it cannot
//! index, are evaluated.

use std::collections::{BTreeMap, HashMap};

use super::{Filter, Flat};

/// Candidate subscriptions of one topic, by position in its route list.
#[derive(Debug, Default)]
pub(crate) struct FilterIndex {
    by_attribute: HashMap<Box<str>, HashMap<Box<str>, Vec<usize>>>,
    by_key: HashMap<Box<str>, Vec<usize>>,
    /// Routes without a filter, or with one the index cannot narrow: always evaluated.
    always: Vec<usize>,
}

impl FilterIndex {
    /// Indexes the routes' filters (`None`: the route takes everything).
    pub(crate) fn build<'a>(filters: impl IntoIterator<Item = Option<&'a Filter>>) -> Self {
        let mut index = FilterIndex::default();
        for (position, filter) in filters.into_iter().enumerate() {
            match filter.and_then(Filter::anchor) {
                Some((Flat::Attribute(name), values)) => {
                    let by_value = index.by_attribute.entry(name.clone()).or_default();
                    for value in values {
                        by_value.entry(value.clone()).or_default().push(position);
                    }
                }
                Some((Flat::Key, values)) => {
                    for value in values {
                        index
                            .by_key
                            .entry(value.clone())
                            .or_default()
                            .push(position);
                    }
                }
                _ => index.always.push(position),
            }
        }
        index
    }

    /// The routes that may match an event with these attributes and key, in route order;
    /// each still has to pass its filter.
    pub(crate) fn candidates(
        &self,
        attributes: &BTreeMap<String, String>,
        key: Option<&str>,
        out: &mut Vec<usize>,
    ) {
        out.clear();
        out.extend_from_slice(&self.always);
        for (name, by_value) in &self.by_attribute {
            if let Some(hits) = attributes
                .get(&**name)
                .and_then(|v| by_value.get(v.as_str()))
            {
                out.extend_from_slice(hits);
            }
        }
        if let Some(hits) = key.and_then(|k| self.by_key.get(k)) {
            out.extend_from_slice(hits);
        }
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::Envelope;
    use super::*;

    fn filters() -> Vec<Option<Filter>> {
        let patterns = [
            None,
            Some(json!({"attributes": {"kind": ["signup"]}})),
            Some(
                json!({"attributes": {"kind": ["signup", "login"]}, "payload": {"plan": ["pro"]}}),
            ),
            Some(json!({"attributes": {"kind": [{"prefix": "sign"}]}})),
            Some(json!({"attributes": {"kind": ["signup", {"prefix": "x"}]}})),
            Some(json!({"attributes": {"tenant": ["acme"], "kind": ["login"]}})),
            Some(json!({"key": ["k1"]})),
            Some(json!({"$or": [{"attributes": {"kind": ["signup"]}}, {"key": ["k2"]}]})),
            Some(json!({"attributes": {"kind": [{"exists": false}]}})),
            Some(json!({"payload": {"n": [{"numeric": [">", 1]}]}})),
        ];
        patterns
            .into_iter()
            .map(|p| p.map(|p| Filter::compile(&p).unwrap()))
            .collect()
    }

    #[test]
    fn candidates_never_miss_a_match_and_skip_what_cannot_match() {
        let filters = filters();
        let index = FilterIndex::build(filters.iter().map(Option::as_ref));
        let kinds = [
            None,
            Some("signup"),
            Some("login"),
            Some("signal"),
            Some("x1"),
        ];
        let tenants = [None, Some("acme"), Some("other")];
        let keys = [None, Some("k1"), Some("k2")];
        let payloads = [json!({"plan": "pro", "n": 2}), json!({"plan": "free"})];
        let mut candidates = Vec::new();
        let mut narrowed = false;
        for kind in kinds {
            for tenant in tenants {
                for key in keys {
                    for payload in &payloads {
                        let mut attributes = BTreeMap::new();
                        if let Some(kind) = kind {
                            attributes.insert("kind".to_string(), kind.to_string());
                        }
                        if let Some(tenant) = tenant {
                            attributes.insert("tenant".to_string(), tenant.to_string());
                        }
                        let envelope = Envelope {
                            payload: Some(payload as &Value),
                            attributes: &attributes,
                            key,
                        };
                        let matching: Vec<usize> = (0..filters.len())
                            .filter(|i| filters[*i].as_ref().is_none_or(|f| f.matches(&envelope)))
                            .collect();
                        index.candidates(&attributes, key, &mut candidates);
                        let through_index: Vec<usize> = candidates
                            .iter()
                            .copied()
                            .filter(|i| filters[*i].as_ref().is_none_or(|f| f.matches(&envelope)))
                            .collect();
                        assert_eq!(through_index, matching, "{attributes:?} {key:?} {payload}");
                        narrowed |= candidates.len() < filters.len();
                    }
                }
            }
        }
        assert!(narrowed, "the index never narrowed anything");
    }

    #[test]
    fn only_required_exact_strings_are_indexed() {
        let filters = filters();
        let index = FilterIndex::build(filters.iter().map(Option::as_ref));
        // Unfiltered, prefix, mixed exact + operator, $or, exists:false, payload-only.
        assert_eq!(index.always, vec![0, 3, 4, 7, 8, 9]);
        assert_eq!(index.by_key.get("k1").map(Vec::as_slice), Some(&[6][..]));
    }
}
