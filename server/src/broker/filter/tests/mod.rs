//! A table of cases for every operator. Each case is an envelope document
//! `{"payload": .., "attributes": {..}, "key": ..}` (no `payload`: the payload is not JSON)
//! and is checked against the compiled matcher, the plain interpreter and the filter index.
//! Arrays and `$or` consistency are in `arrays`, `anything-but` in `anything_but`.

mod anything_but;
mod arrays;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::interpreter::{envelope_json, interpret};
use super::{Envelope, Filter, FilterIndex};

#[track_caller]
fn table(pattern: Value, cases: &[(Value, bool)]) {
    let filter = Filter::compile(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    for (event, expected) in cases {
        let attributes: BTreeMap<String, String> = event
            .get("attributes")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let envelope = Envelope {
            payload: event.get("payload"),
            attributes: &attributes,
            key: event.get("key").and_then(Value::as_str),
        };
        assert_eq!(
            filter.matches(&envelope),
            *expected,
            "pattern {pattern} event {event}"
        );
        assert_eq!(
            interpret(&pattern, &envelope_json(&envelope)),
            *expected,
            "interpreter: pattern {pattern} event {event}"
        );
        let index = FilterIndex::build([Some(&filter)]);
        let mut candidates = Vec::new();
        index.candidates(&attributes, envelope.key, &mut candidates);
        assert!(
            !*expected || candidates == [0],
            "the index skips a match: pattern {pattern} event {event}"
        );
    }
}

/// An envelope with this payload and nothing else.
fn p(payload: Value) -> Value {
    json!({ "payload": payload })
}

#[test]
fn exact_values_are_alternatives_within_a_leaf_and_fields_must_all_match() {
    let pattern =
        json!({"attributes": {"kind": ["signup", "login"]}, "payload": {"plan": ["pro"]}});
    table(
        pattern,
        &[
            (
                json!({"payload": {"plan": "pro"}, "attributes": {"kind": "login"}}),
                true,
            ),
            (
                json!({"payload": {"plan": "free"}, "attributes": {"kind": "login"}}),
                false,
            ),
            (
                json!({"payload": {"plan": "pro"}, "attributes": {"kind": "other"}}),
                false,
            ),
            (json!({"payload": {"plan": "pro"}}), false),
        ],
    );
    table(
        json!({"payload": {"user": {"tier": ["gold"]}}, "key": ["k1"]}),
        &[
            (
                json!({"payload": {"user": {"tier": "gold"}}, "key": "k1"}),
                true,
            ),
            (
                json!({"payload": {"user": {"tier": "gold"}}, "key": "k2"}),
                false,
            ),
            (json!({"payload": {"user": {"tier": "gold"}}}), false),
            (json!({"payload": {"tier": "gold"}, "key": "k1"}), false),
        ],
    );
    // A payload-level leaf tests a scalar payload.
    table(
        json!({"payload": ["ping", 7]}),
        &[
            (p(json!("ping")), true),
            (p(json!(7.0)), true),
            (p(json!({"x": "ping"})), false),
        ],
    );
}

#[test]
fn numbers_compare_numerically_and_strings_that_look_like_numbers_are_strings() {
    table(
        json!({"payload": {"n": [5]}}),
        &[
            (p(json!({"n": 5})), true),
            (p(json!({"n": 5.0})), true),
            (p(serde_json::from_str(r#"{"n": 5e0}"#).unwrap()), true),
            (p(serde_json::from_str(r#"{"n": 0.5E1}"#).unwrap()), true),
            (p(json!({"n": "5"})), false),
            (p(json!({"n": 5.000001})), false),
        ],
    );
    table(
        serde_json::from_str(r#"{"payload": {"n": [1e2, -0.0]}}"#).unwrap(),
        &[
            (p(json!({"n": 100})), true),
            (p(json!({"n": 0})), true),
            (p(json!({"n": 1})), false),
        ],
    );
    table(
        json!({"payload": {"n": ["5"]}}),
        &[(p(json!({"n": "5"})), true), (p(json!({"n": 5})), false)],
    );
}

#[test]
fn empty_strings_null_and_booleans_are_values_of_their_own_type() {
    table(
        json!({"payload": {"v": [""]}}),
        &[
            (p(json!({"v": ""})), true),
            (p(json!({"v": null})), false),
            (p(json!({})), false),
        ],
    );
    table(
        json!({"payload": {"v": [null]}}),
        &[
            (p(json!({"v": null})), true),
            (p(json!({"v": "null"})), false),
            (p(json!({"v": ""})), false),
            (p(json!({})), false),
        ],
    );
    table(
        json!({"payload": {"v": [false]}}),
        &[
            (p(json!({"v": false})), true),
            (p(json!({"v": true})), false),
            (p(json!({"v": 0})), false),
            (p(json!({"v": "false"})), false),
        ],
    );
}

#[test]
fn prefix_and_suffix_match_strings_also_ignoring_case() {
    table(
        json!({"payload": {"plan": [{"prefix": "pro"}]}}),
        &[
            (p(json!({"plan": "pro"})), true),
            (p(json!({"plan": "professional"})), true),
            (p(json!({"plan": "Pro"})), false),
            (p(json!({"plan": "a-pro"})), false),
            (p(json!({"plan": ["free", "pro-x"]})), true),
        ],
    );
    table(
        json!({"payload": {"plan": [{"prefix": {"equals-ignore-case": "PRO"}}]}}),
        &[
            (p(json!({"plan": "Professional"})), true),
            (p(json!({"plan": "free"})), false),
        ],
    );
    table(
        json!({"payload": {"file": [{"suffix": ".png"}, {"suffix": {"equals-ignore-case": ".JPG"}}]}}),
        &[
            (p(json!({"file": "a.png"})), true),
            (p(json!({"file": "a.PNG"})), false),
            (p(json!({"file": "a.jpg"})), true),
            (p(json!({"file": "a.Jpg"})), true),
        ],
    );
    // Numbers are not strings; an empty prefix matches every string.
    table(
        json!({"payload": {"n": [{"prefix": "1"}], "s": [{"prefix": ""}]}}),
        &[
            (p(json!({"n": "12", "s": ""})), true),
            (p(json!({"n": 12, "s": "x"})), false),
            (p(json!({"n": "12", "s": 1})), false),
        ],
    );
}

#[test]
fn equals_ignore_case_matches_strings_of_any_case() {
    table(
        json!({"attributes": {"region": [{"equals-ignore-case": "EU-West"}]}}),
        &[
            (json!({"attributes": {"region": "eu-west"}}), true),
            (json!({"attributes": {"region": "EU-WEST"}}), true),
            (json!({"attributes": {"region": "eu-west-1"}}), false),
            (json!({"attributes": {}}), false),
        ],
    );
}

#[test]
fn numeric_comparisons_and_ranges() {
    table(
        json!({"payload": {"n": [{"numeric": [">", 0, "<=", 5]}]}}),
        &[
            (p(json!({"n": 0})), false),
            (p(json!({"n": 0.0001})), true),
            (p(json!({"n": 5})), true),
            (p(json!({"n": 5.0})), true),
            (p(json!({"n": 5.1})), false),
            (p(json!({"n": "3"})), false),
            (p(json!({"n": [9, 3]})), true),
        ],
    );
    table(
        serde_json::from_str(r#"{"payload": {"n": [{"numeric": ["=", 5e0]}]}}"#).unwrap(),
        &[(p(json!({"n": 5})), true), (p(json!({"n": 5.5})), false)],
    );
    table(
        json!({"payload": {"n": [{"numeric": ["<", -1.5]}, {"numeric": [">=", 100]}]}}),
        &[
            (p(json!({"n": -2})), true),
            (p(json!({"n": -1.5})), false),
            (p(json!({"n": 100})), true),
            (p(json!({"n": 99.99})), false),
        ],
    );
}

#[test]
fn exists_tests_presence_and_absent_parents_count_as_absent() {
    let missing = json!({"payload": {"user": {"email": [{"exists": false}]}}});
    table(
        missing,
        &[
            (p(json!({"user": {"name": "x"}})), true),
            (p(json!({})), true),
            (p(json!({"user": {"email": "a@b"}})), false),
            (p(json!({"user": {"email": null}})), false),
            // Not JSON: there is no payload, so the field is absent too.
            (json!({}), true),
        ],
    );
    table(
        json!({"payload": {"email": [{"exists": true}]}, "attributes": {"trace": [{"exists": false}]}}),
        &[
            (p(json!({"email": ""})), true),
            (p(json!({"email": ["x"]})), true),
            (p(json!({"email": []})), false),
            (p(json!({})), false),
            (
                json!({"payload": {"email": "x"}, "attributes": {"trace": "t"}}),
                false,
            ),
        ],
    );
    // Exists, like every operator, tests leaf values: an object is not one.
    table(
        json!({"payload": {"a": [{"exists": true}]}}),
        &[
            (p(json!({"a": {"b": 1}})), false),
            (p(json!({"a": 1})), true),
        ],
    );
    table(
        json!({"key": ["k", {"exists": false}]}),
        &[
            (json!({"key": "k"}), true),
            (json!({}), true),
            (json!({"key": "j"}), false),
        ],
    );
}

#[test]
fn or_groups_combine_with_sibling_fields_by_and() {
    table(
        json!({
            "payload": {"kind": ["order"], "$or": [{"total": [{"numeric": [">", 100]}]}, {"vip": [true]}]}
        }),
        &[
            (p(json!({"kind": "order", "total": 150})), true),
            (p(json!({"kind": "order", "total": 50, "vip": true})), true),
            (p(json!({"kind": "order", "total": 50})), false),
            (p(json!({"kind": "refund", "vip": true})), false),
        ],
    );
    table(
        json!({"$or": [{"attributes": {"kind": ["signup"]}}, {"key": [{"prefix": "user-"}]}]}),
        &[
            (json!({"attributes": {"kind": "signup"}}), true),
            (json!({"key": "user-1"}), true),
            (json!({"key": "order-1"}), false),
        ],
    );
}

#[test]
fn wildcard_matches_runs_and_honours_escapes() {
    table(
        json!({"payload": {"f": [{"wildcard": "img/*.png"}]}}),
        &[
            (p(json!({"f": "img/a.png"})), true),
            (p(json!({"f": "img/.png"})), true),
            (p(json!({"f": "img/a/b.png"})), true),
            (p(json!({"f": "img/a.jpg"})), false),
            (p(json!({"f": "img.png"})), false),
        ],
    );
    table(
        json!({"payload": {"f": [{"wildcard": "a\\*b*"}]}}),
        &[
            (p(json!({"f": "a*bc"})), true),
            (p(json!({"f": "axbc"})), false),
        ],
    );
    table(
        json!({"payload": {"f": [{"wildcard": "*a*a*"}]}}),
        &[
            (p(json!({"f": "aa"})), true),
            (p(json!({"f": "a"})), false),
            (p(json!({"f": 1})), false),
        ],
    );
}

#[test]
fn cidr_matches_ipv4_and_ipv6_addresses_in_the_block() {
    table(
        json!({"attributes": {"ip": [{"cidr": "10.0.0.0/24"}, {"cidr": "2001:db8::/32"}]}}),
        &[
            (json!({"attributes": {"ip": "10.0.0.255"}}), true),
            (json!({"attributes": {"ip": "10.0.1.0"}}), false),
            (json!({"attributes": {"ip": "2001:db8:1::7"}}), true),
            (json!({"attributes": {"ip": "2001:db9::1"}}), false),
            (json!({"attributes": {"ip": "::ffff:10.0.0.1"}}), false),
            (json!({"attributes": {"ip": "not an ip"}}), false),
        ],
    );
    table(
        json!({"payload": {"ip": [{"cidr": "0.0.0.0/0"}]}}),
        &[
            (p(json!({"ip": "8.8.8.8"})), true),
            (p(json!({"ip": "::1"})), false),
        ],
    );
}

#[test]
fn reads_payload_only_when_a_payload_field_is_tested() {
    let reads = |pattern: Value| Filter::compile(&pattern).unwrap().reads_payload();
    assert!(!reads(json!({"attributes": {"a": ["x"]}, "key": ["k"]})));
    assert!(reads(
        json!({"$or": [{"key": ["k"]}, {"payload": {"a": [1]}}]})
    ));
}
