//! Tests of validation: each invalid pattern is refused with the JSON path of the
//! offending part and the reason, and the size limits hold.

use serde_json::{Value, json};

use super::{Filter, MAX_CONDITIONS, MAX_DEPTH, MAX_LEAF_VALUES, MAX_PATTERN_BYTES};
use crate::broker::BrokerError;

#[track_caller]
fn refused(pattern: Value, path: &str, reason: &str) {
    match Filter::compile(&pattern) {
        Ok(_) => panic!("{pattern} was accepted"),
        Err(BrokerError::InvalidFilter {
            path: got,
            reason: why,
        }) => {
            assert_eq!(got, path, "{pattern}: {why}");
            assert!(why.contains(reason), "{pattern}: {why:?} lacks {reason:?}");
        }
        Err(other) => panic!("{pattern}: unexpected {other}"),
    }
}

#[test]
fn the_pattern_and_its_fields_have_the_right_shape() {
    refused(json!([1]), "$", "JSON object");
    refused(json!({}), "$", "at least one field");
    refused(json!({"body": {"a": [1]}}), "$.body", "unknown field");
    refused(
        json!({"payload": {"plan": "pro"}}),
        "$.payload.plan",
        "list of values",
    );
    refused(
        json!({"payload": {"plan": []}}),
        "$.payload.plan",
        "at least one value",
    );
    refused(
        json!({"payload": {"plan": {}}}),
        "$.payload.plan",
        "at least one field",
    );
    refused(
        json!({"payload": {"plan": [[1]]}}),
        "$.payload.plan[0]",
        "nested lists",
    );
    refused(
        json!({"payload": {"a b": "x"}}),
        "$.payload[\"a b\"]",
        "list of values",
    );
}

#[test]
fn attributes_and_key_are_flat_strings() {
    refused(
        json!({"attributes": ["x"]}),
        "$.attributes",
        "name the attribute",
    );
    refused(
        json!({"attributes": {"kind": [1]}}),
        "$.attributes.kind[0]",
        "strings",
    );
    refused(json!({"key": [null]}), "$.key[0]", "strings");
    refused(
        json!({"attributes": {"n": [{"numeric": [">", 1]}]}}),
        "$.attributes.n[0].numeric",
        "strings",
    );
    refused(
        json!({"attributes": {"n": [{"anything-but": [1]}]}}),
        "$.attributes.n[0].anything-but[0]",
        "strings",
    );
    refused(
        json!({"attributes": {"a": {"b": ["x"]}}}),
        "$.attributes.a",
        "no nested fields",
    );
    refused(json!({"key": {"a": ["x"]}}), "$.key", "no nested fields");
}

#[test]
fn operators_are_known_and_take_the_right_operands() {
    let at = |op: Value| json!({"payload": {"v": [op]}});
    refused(
        at(json!({"prefixx": "a"})),
        "$.payload.v[0].prefixx",
        "unknown operator",
    );
    refused(
        at(json!({"prefix": "a", "suffix": "b"})),
        "$.payload.v[0]",
        "exactly one",
    );
    refused(at(json!({})), "$.payload.v[0]", "exactly one");
    refused(
        at(json!({"prefix": 1})),
        "$.payload.v[0].prefix",
        "a string",
    );
    refused(
        at(json!({"prefix": {"equals-ignore-case": 3}})),
        "$.payload.v[0].prefix.equals-ignore-case",
        "a string",
    );
    refused(
        at(json!({"suffix": {"nope": "x"}})),
        "$.payload.v[0].suffix.nope",
        "a string",
    );
    refused(
        at(json!({"equals-ignore-case": ["a"]})),
        "$.payload.v[0].equals-ignore-case",
        "a string",
    );
    refused(
        at(json!({"exists": "yes"})),
        "$.payload.v[0].exists",
        "true or false",
    );
    refused(
        at(json!({"wildcard": "a**"})),
        "$.payload.v[0].wildcard",
        "consecutive",
    );
    refused(
        at(json!({"wildcard": "a\\b"})),
        "$.payload.v[0].wildcard",
        "backslash",
    );
}

#[test]
fn numeric_operands_form_a_valid_range() {
    let at = |operand: Value| json!({"payload": {"n": [{"numeric": operand}]}});
    let path = "$.payload.n[0].numeric";
    refused(at(json!([])), path, "a list");
    refused(at(json!(5)), path, "a list");
    refused(at(json!([">", 5, "<"])), path, "a list");
    refused(at(json!([">", "5"])), &format!("{path}[1]"), "a number");
    refused(at(json!(["!", 5])), &format!("{path}[0]"), "one of");
    refused(
        at(json!([">", 5, ">", 6])),
        &format!("{path}[2]"),
        "one lower",
    );
    refused(
        at(json!(["=", 5, "<", 6])),
        &format!("{path}[0]"),
        "stands alone",
    );
    refused(at(json!([">", 5, "<", 1])), path, "empty");
    refused(at(json!([">", 5, "<=", 5])), path, "empty");
    assert!(Filter::compile(&at(json!([">=", 5, "<=", 5]))).is_ok());
    // As in event-ruler, the lower bound comes first.
    refused(
        at(json!(["<", 1, ">", 0])),
        &format!("{path}[0]"),
        "lower bound first",
    );
    refused(
        at(json!(["<=", 9, ">=", 2])),
        &format!("{path}[0]"),
        "lower bound first",
    );
    assert!(Filter::compile(&at(json!([">", 0, "<", 1]))).is_ok());
}

#[test]
fn cidr_blocks_are_valid() {
    let at = |block: &str| json!({"payload": {"ip": [{"cidr": block}]}});
    let path = "$.payload.ip[0].cidr";
    refused(at("10.0.0.0"), path, "CIDR block");
    refused(at("300.0.0.0/8"), path, "CIDR block");
    refused(at("10.0.0.0/x"), path, "CIDR block");
    refused(at("10.0.0.0/33"), path, "at most 32");
    refused(at("::/129"), path, "at most 128");
}

#[test]
fn anything_but_takes_values_or_one_inner_operator() {
    let at = |operand: Value| json!({"payload": {"v": [{"anything-but": operand}]}});
    let path = "$.payload.v[0].anything-but";
    refused(at(json!([])), path, "at least one");
    refused(at(json!([[1]])), &format!("{path}[0]"), "plain values");
    refused(
        at(json!({"prefix": 1})),
        &format!("{path}.prefix"),
        "a string",
    );
    refused(
        at(json!({"numeric": [">", 1]})),
        &format!("{path}.numeric"),
        "anything-but takes",
    );
    refused(
        at(json!({"equals-ignore-case": ["a", 2]})),
        &format!("{path}.equals-ignore-case[1]"),
        "a string",
    );
}

#[test]
fn anything_but_lists_hold_one_type_and_no_empty_prefix_or_suffix() {
    let at = |operand: Value| json!({"payload": {"v": [{"anything-but": operand}]}});
    let path = "$.payload.v[0].anything-but";
    refused(at(json!(["a", 1, "b"])), &format!("{path}[1]"), "one type");
    refused(at(json!([1, 2, "3"])), &format!("{path}[2]"), "one type");
    refused(at(json!([true, null])), &format!("{path}[1]"), "one type");
    assert!(Filter::compile(&at(json!([1, 2.5, -3]))).is_ok());
    assert!(Filter::compile(&at(json!([false, true]))).is_ok());

    refused(
        at(json!({"prefix": ""})),
        &format!("{path}.prefix"),
        "empty prefix",
    );
    refused(
        at(json!({"suffix": ""})),
        &format!("{path}.suffix"),
        "empty suffix",
    );
    refused(
        at(json!({"prefix": ["x", ""]})),
        &format!("{path}.prefix[1]"),
        "empty prefix",
    );
    refused(
        at(json!({"suffix": []})),
        &format!("{path}.suffix"),
        "at least one",
    );
    refused(
        at(json!({"prefix": [1, 2]})),
        &format!("{path}.prefix[0]"),
        "a string",
    );
    refused(
        at(json!({"suffix": 3})),
        &format!("{path}.suffix"),
        "a string or a list of strings",
    );
    refused(
        at(json!({"wildcard": ["a*", "b**"]})),
        &format!("{path}.wildcard[1]"),
        "consecutive",
    );
    refused(
        at(json!({"wildcard": [7]})),
        &format!("{path}.wildcard[0]"),
        "a string",
    );
    refused(
        at(json!({"equals-ignore-case": []})),
        &format!("{path}.equals-ignore-case"),
        "at least one",
    );
    // An empty wildcard or equals-ignore-case only excludes the empty string.
    assert!(Filter::compile(&at(json!({"wildcard": ""}))).is_ok());
    assert!(Filter::compile(&at(json!({"equals-ignore-case": [""]}))).is_ok());
}

#[test]
fn or_takes_a_list_of_pattern_objects() {
    refused(
        json!({"payload": {"$or": {"a": [1]}}}),
        "$.payload.$or",
        "a list of patterns",
    );
    refused(
        json!({"payload": {"$or": []}}),
        "$.payload.$or",
        "at least two",
    );
    refused(
        json!({"payload": {"$or": [{"a": [1]}]}}),
        "$.payload.$or",
        "at least two",
    );
    refused(json!({"$or": [{"key": ["k"]}]}), "$.$or", "at least two");
    refused(
        json!({"payload": {"$or": [1]}}),
        "$.payload.$or[0]",
        "pattern object",
    );
    refused(
        json!({"payload": {"$or": [{}, {"a": [1]}]}}),
        "$.payload.$or[0]",
        "at least one field",
    );
    refused(
        json!({"$or": [{"body": ["x"]}, {"key": ["k"]}]}),
        "$.$or[0].body",
        "unknown field",
    );
    refused(
        json!({"payload": {"$or": [{"a": [1]}, {"b": [{"prefix": 2}]}]}}),
        "$.payload.$or[1].b[0].prefix",
        "a string",
    );
}

#[test]
fn patterns_are_bounded_in_depth_values_and_size() {
    let nested = |levels: usize| {
        let mut pattern = json!(["x"]);
        for _ in 0..levels {
            pattern = json!({ "a": pattern });
        }
        json!({ "payload": pattern })
    };
    // The root object and the leaf list take two of the levels.
    assert!(Filter::compile(&nested(MAX_DEPTH - 2)).is_ok());
    let err = Filter::compile(&nested(MAX_DEPTH - 1)).unwrap_err();
    assert!(err.to_string().contains("nests at most 16"), "{err}");

    let values: Vec<usize> = (0..=MAX_LEAF_VALUES).collect();
    refused(
        json!({"payload": {"n": values}}),
        &format!("$.payload.n[{MAX_LEAF_VALUES}]"),
        "at most 1000 values",
    );
    assert!(Filter::compile(&json!({"payload": {"n": values[1..]}})).is_ok());

    let long = "x".repeat(MAX_PATTERN_BYTES);
    refused(json!({"payload": {"s": [long]}}), "$", "bytes serialized");
}

#[test]
fn or_groups_may_not_expand_past_the_condition_limit() {
    // 600 conditions beside a 20-branch $or that tests the same field: each branch gets
    // its own copy of them.
    let shared: serde_json::Map<String, Value> =
        (0..600).map(|i| (format!("f{i}"), json!([0]))).collect();
    let mut branches = vec![json!({"a": {"g": [1]}})];
    branches.extend((0..19).map(|i| json!({ format!("b{i}"): [1] })));
    let pattern = json!({"payload": {"a": shared, "$or": branches}});
    refused(
        pattern,
        "$.payload",
        &format!("more than {MAX_CONDITIONS} conditions"),
    );
    // With fewer branches it fits.
    let shared: serde_json::Map<String, Value> =
        (0..600).map(|i| (format!("f{i}"), json!([0]))).collect();
    let pattern = json!({"payload": {"a": shared, "$or": [{"a": {"g": [1]}}, {"b": [1]}]}});
    assert!(Filter::compile(&pattern).is_ok());
}
