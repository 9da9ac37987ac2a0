//! Property tests: on generated patterns and envelopes, the compiled matcher agrees with
//! the plain interpreter in `interpreter.rs`, and the filter index never drops a match.
//! One generator covers every operator; the other aims at arrays of objects, with
//! several fields per pattern object and `$or` branches over the same fields, on a small
//! set of values so that elements often half-match.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

use super::interpreter::{envelope_json, interpret};
use super::{Envelope, Filter, FilterIndex};

const FIELDS: [&str; 3] = ["a", "b", "c"];
const STRINGS: [&str; 16] = [
    "",
    "a",
    "ab",
    "AB",
    "abc",
    "b",
    "a*b",
    "*",
    "\\",
    "5",
    "10.0.0.7",
    "10.1.2.3",
    "2001:db8::1",
    "::1",
    "İ",
    "i̇x",
];
const CIDRS: [&str; 7] = [
    "10.0.0.0/8",
    "10.0.0.0/24",
    "10.0.0.7/32",
    "0.0.0.0/0",
    "2001:db8::/32",
    "::1/128",
    "::/0",
];
const WILDCARDS: [&str; 9] = ["*", "a*", "*b", "a*b", "\\**", "*\\\\", "a*b*c", "", "\\*"];

fn string() -> impl Strategy<Value = Value> + Clone {
    select(&STRINGS[..]).prop_map(Value::from)
}

fn number() -> impl Strategy<Value = Value> {
    // Includes the same number written as an integer, a float and an exponent.
    select(&["0", "-0.0", "5", "5.0", "5e0", "-1", "2.5", "100", "1e2"][..])
        .prop_map(|text| serde_json::from_str(text).expect("a JSON number"))
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => string(),
        3 => number(),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

fn ignore_case_or_plain() -> impl Strategy<Value = Value> {
    prop_oneof![
        string(),
        string().prop_map(|s| json!({"equals-ignore-case": s}))
    ]
}

/// Strings an `anything-but` prefix or suffix may take (not the empty one).
fn affix() -> impl Strategy<Value = Value> + Clone {
    select(&STRINGS[1..]).prop_map(Value::from)
}

/// One string or a list of them.
fn one_or_list<S: Strategy<Value = Value> + Clone + 'static>(text: S) -> BoxedStrategy<Value> {
    prop_oneof![
        text.clone(),
        proptest::collection::vec(text, 1..3).prop_map(Value::from),
    ]
    .boxed()
}

fn anything_but(strings_only: bool) -> BoxedStrategy<Value> {
    // A plain list holds values of one type.
    let list = if strings_only {
        proptest::collection::vec(string(), 1..4).boxed()
    } else {
        prop_oneof![
            proptest::collection::vec(string(), 1..4),
            proptest::collection::vec(number(), 1..4),
            proptest::collection::vec(any::<bool>().prop_map(Value::from), 1..3),
            Just(vec![Value::Null]),
        ]
        .boxed()
    };
    let value = if strings_only {
        string().boxed()
    } else {
        scalar().boxed()
    };
    prop_oneof![
        value,
        list.prop_map(Value::from),
        one_or_list(affix()).prop_map(|s| json!({"prefix": s})),
        one_or_list(affix()).prop_map(|s| json!({"suffix": s})),
        one_or_list(string()).prop_map(|s| json!({"equals-ignore-case": s})),
        one_or_list(select(&WILDCARDS[..]).prop_map(Value::from))
            .prop_map(|w| json!({"wildcard": w})),
    ]
    .prop_map(|operand| json!({"anything-but": operand}))
    .boxed()
}

fn numeric() -> impl Strategy<Value = Value> {
    let n = || select(&[-1.0, 0.0, 2.5, 5.0, 100.0][..]);
    prop_oneof![
        n().prop_map(|x| json!(["=", x])),
        (select(&["<", "<=", ">", ">="][..]), n()).prop_map(|(op, x)| json!([op, x])),
        (
            any::<bool>(),
            n(),
            any::<bool>(),
            select(&[0.0, 2.5, 5.0][..])
        )
            .prop_map(|(low_inclusive, x, high_inclusive, width)| {
                let high_inclusive = high_inclusive || width == 0.0;
                let low_inclusive = low_inclusive || width == 0.0;
                json!([
                    if low_inclusive { ">=" } else { ">" },
                    x,
                    if high_inclusive { "<=" } else { "<" },
                    x + width
                ])
            }),
    ]
    .prop_map(|operand| json!({"numeric": operand}))
}

fn alternative(strings_only: bool) -> BoxedStrategy<Value> {
    let exact = if strings_only {
        string().boxed()
    } else {
        scalar().boxed()
    };
    let mut choices = vec![
        (3, exact),
        (
            1,
            ignore_case_or_plain()
                .prop_map(|p| json!({"prefix": p}))
                .boxed(),
        ),
        (
            1,
            ignore_case_or_plain()
                .prop_map(|p| json!({"suffix": p}))
                .boxed(),
        ),
        (
            1,
            string()
                .prop_map(|s| json!({"equals-ignore-case": s}))
                .boxed(),
        ),
        (
            1,
            select(&WILDCARDS[..])
                .prop_map(|w| json!({"wildcard": w}))
                .boxed(),
        ),
        (
            1,
            select(&CIDRS[..]).prop_map(|c| json!({"cidr": c})).boxed(),
        ),
        (1, any::<bool>().prop_map(|b| json!({"exists": b})).boxed()),
        (2, anything_but(strings_only)),
    ];
    if !strings_only {
        choices.push((2, numeric().boxed()));
    }
    proptest::strategy::Union::new_weighted(choices).boxed()
}

fn leaf(strings_only: bool) -> BoxedStrategy<Value> {
    proptest::collection::vec(alternative(strings_only), 1..4)
        .prop_map(Value::from)
        .boxed()
}

/// An object of 1 or 2 fields and, with probability `or_weight`, a `$or` of 2 or 3.
fn object_of(
    fields: BoxedStrategy<(String, Value)>,
    or: BoxedStrategy<Value>,
    or_weight: f64,
) -> BoxedStrategy<Value> {
    (
        proptest::collection::vec(fields, 1..3),
        proptest::option::weighted(or_weight, proptest::collection::vec(or, 2..4)),
    )
        .prop_map(|(fields, or)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            if let Some(members) = or {
                object.insert("$or".into(), Value::from(members));
            }
            Value::Object(object)
        })
        .boxed()
}

fn payload_pattern(depth: u32) -> BoxedStrategy<Value> {
    let value = if depth == 0 {
        leaf(false)
    } else {
        prop_oneof![3 => leaf(false), 1 => payload_pattern(depth - 1)].boxed()
    };
    let fields = (select(&FIELDS[..]).prop_map(String::from), value).boxed();
    let or = if depth == 0 {
        leaf_object().boxed()
    } else {
        payload_pattern(depth - 1)
    };
    object_of(fields, or, 0.25)
}

fn leaf_object() -> impl Strategy<Value = Value> {
    (select(&FIELDS[..]), leaf(false)).prop_map(|(name, leaf)| json!({ name: leaf }))
}

fn attributes_pattern() -> BoxedStrategy<Value> {
    let fields = (select(&["k", "m"][..]).prop_map(String::from), leaf(true)).boxed();
    let or = (select(&["k", "m"][..]), leaf(true))
        .prop_map(|(name, leaf)| json!({ name: leaf }))
        .boxed();
    object_of(fields, or, 0.25)
}

fn root_field() -> BoxedStrategy<(String, Value)> {
    prop_oneof![
        3 => payload_pattern(2).prop_map(|p| ("payload".to_owned(), p)),
        1 => leaf(false).prop_map(|l| ("payload".to_owned(), l)),
        2 => attributes_pattern().prop_map(|p| ("attributes".to_owned(), p)),
        1 => leaf(true).prop_map(|l| ("key".to_owned(), l)),
    ]
    .boxed()
}

fn pattern() -> BoxedStrategy<Value> {
    let member = root_field()
        .prop_map(|(name, value)| json!({ name: value }))
        .boxed();
    object_of(root_field(), member, 0.25)
}

type Event = (Option<Value>, BTreeMap<String, String>, Option<String>);

fn event() -> impl Strategy<Value = Event> {
    let payload = scalar().prop_recursive(3, 24, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::btree_map(
                select(&FIELDS[..]).prop_map(String::from),
                inner,
                0..3
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    });
    let text = select(&STRINGS[..]).prop_map(String::from);
    (
        proptest::option::weighted(0.85, payload),
        proptest::collection::btree_map(
            select(&["k", "m"][..]).prop_map(String::from),
            text.clone(),
            0..3,
        ),
        proptest::option::of(text),
    )
}

/// Checks the matcher against the interpreter, and the index against the matcher.
fn agrees(pattern: &Value, events: &[Event]) -> Result<(), TestCaseError> {
    let filter =
        Filter::compile(pattern).map_err(|e| TestCaseError::fail(format!("{pattern}: {e}")))?;
    let index = FilterIndex::build([Some(&filter)]);
    let mut candidates = Vec::new();
    for (payload, attributes, key) in events {
        let envelope = Envelope {
            payload: payload.as_ref(),
            attributes,
            key: key.as_deref(),
        };
        let event = envelope_json(&envelope);
        let matches = filter.matches(&envelope);
        prop_assert_eq!(
            matches,
            interpret(pattern, &event),
            "pattern {} event {}",
            pattern,
            event
        );
        index.candidates(attributes, key.as_deref(), &mut candidates);
        prop_assert!(
            !matches || candidates == [0],
            "the index skips a match: pattern {} event {}",
            pattern,
            event
        );
    }
    Ok(())
}

/// Values of the array-focused generator: few, so that elements often half-match.
const SMALL: [&str; 3] = ["\"x\"", "\"y\"", "1"];

fn small() -> impl Strategy<Value = Value> {
    select(&SMALL[..]).prop_map(|text| serde_json::from_str(text).expect("a JSON value"))
}

fn small_alternative() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => small(),
        2 => any::<bool>().prop_map(|b| json!({"exists": b})),
        1 => prop_oneof![
            select(&["x", "y"][..]).prop_map(|s| json!([s])),
            one_or_list(select(&["x", "y", "z"][..]).prop_map(Value::from))
                .prop_map(|p| json!({"prefix": p})),
        ]
        .prop_map(|operand| json!({"anything-but": operand})),
        1 => select(&[">", "<="][..]).prop_map(|op| json!({"numeric": [op, 1]})),
    ]
}

/// A payload pattern over fields `a` and `b`, nested up to `depth`, with `$or` groups whose
/// branches often test the fields beside them.
fn nested_pattern(depth: u32) -> BoxedStrategy<Value> {
    let leaf = proptest::collection::vec(small_alternative(), 1..3)
        .prop_map(Value::from)
        .boxed();
    let value = if depth == 0 {
        leaf.clone()
    } else {
        prop_oneof![2 => leaf.clone(), 3 => nested_pattern(depth - 1)].boxed()
    };
    let fields = (
        select(&["a", "b"][..]).prop_map(String::from),
        value.clone(),
    )
        .boxed();
    // A branch tests one field, as often a field beside it as not.
    let or = (select(&["a", "b"][..]), value)
        .prop_map(|(name, value)| json!({ name: value }))
        .boxed();
    object_of(fields, or, if depth == 0 { 0.05 } else { 0.5 })
}

/// An object over `a` and `b`, `depth` levels deep, with arrays of objects most of all
/// (nested arrays and arrays mixing scalars and objects too).
fn nested_object(depth: u32) -> BoxedStrategy<Value> {
    let value = if depth == 0 {
        prop_oneof![3 => small(), 1 => proptest::collection::vec(small(), 1..3).prop_map(Value::from)]
            .boxed()
    } else {
        let object = || nested_object(depth - 1);
        let array = |element: BoxedStrategy<Value>| {
            proptest::collection::vec(element, 1..4).prop_map(Value::from)
        };
        prop_oneof![
            2 => small(),
            1 => object(),
            4 => array(object()),
            1 => array(array(object()).boxed()),
            1 => array(prop_oneof![small(), object()].boxed()),
            1 => Just(json!([])),
        ]
        .boxed()
    };
    proptest::collection::btree_map(select(&["a", "b"][..]).prop_map(String::from), value, 1..3)
        .prop_map(|fields| Value::Object(fields.into_iter().collect()))
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn compiled_matcher_agrees_with_the_interpreter(
        pattern in pattern(),
        events in proptest::collection::vec(event(), 1..8),
    ) {
        agrees(&pattern, &events)?;
    }
}

proptest! {
    // Patterns that half-match an element are rarer: more cases.
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn arrays_of_objects_are_matched_consistently(
        pattern in nested_pattern(2),
        payloads in proptest::collection::vec(nested_object(2), 1..8),
    ) {
        let pattern = json!({"payload": pattern});
        let events: Vec<Event> = payloads
            .into_iter()
            .map(|payload| (Some(payload), BTreeMap::new(), None))
            .collect();
        agrees(&pattern, &events)?;
    }
}
