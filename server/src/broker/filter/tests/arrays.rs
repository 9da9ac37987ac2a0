//! Arrays in the event: any element can match, and matching is array-consistent: the
//! conditions that find values under one array of objects find them in one element.

use serde_json::json;

use super::{p, table};

#[test]
fn event_arrays_match_when_any_element_does() {
    table(
        json!({"payload": {"tags": ["red"]}}),
        &[
            (p(json!({"tags": ["blue", "red"]})), true),
            (p(json!({"tags": [["red"]]})), true),
            (p(json!({"tags": ["blue"]})), false),
            (p(json!({"tags": []})), false),
        ],
    );
    table(
        json!({"payload": {"items": {"sku": ["a1"]}}}),
        &[
            (p(json!({"items": [{"sku": "zz"}, {"sku": "a1"}]})), true),
            (p(json!({"items": [{"sku": "zz"}, {"other": "a1"}]})), false),
            (p(json!([{"items": {"sku": "a1"}}])), true),
        ],
    );
}

#[test]
fn fields_of_one_pattern_object_match_in_the_same_array_element() {
    let pattern = json!({"payload": {"lines": {"sku": ["a1"], "qty": [2]}}});
    table(
        pattern,
        &[
            (
                p(json!({"lines": [{"sku": "a1", "qty": 1}, {"sku": "b7", "qty": 2}]})),
                false,
            ),
            (
                p(json!({"lines": [{"sku": "b7", "qty": 2}, {"sku": "a1", "qty": 2}]})),
                true,
            ),
            (p(json!({"lines": {"sku": "a1", "qty": 2}})), true),
            // Nested arrays read as one flat array of elements.
            (
                p(json!({"lines": [[{"sku": "a1", "qty": 1}], [{"sku": "c3", "qty": 2}]]})),
                false,
            ),
            (
                p(json!({"lines": [[{"sku": "c3"}, {"sku": "a1", "qty": [5, 2]}]]})),
                true,
            ),
        ],
    );
}

#[test]
fn consistency_holds_at_every_level_of_nested_arrays_of_objects() {
    let album = json!({
        "tracks": [
            {"title": "Harbour", "credits": [{"role": "vocals", "name": "Ida"}, {"role": "drums", "name": "Bo"}]},
            {"title": "Ferry", "credits": [{"role": "vocals", "name": "Bo"}]}
        ]
    });
    let case = |tracks: serde_json::Value, expected| {
        table(
            json!({"payload": {"tracks": tracks}}),
            &[(p(album.clone()), expected)],
        );
    };
    case(
        json!({"title": ["Harbour"], "credits": {"name": ["Ida"]}}),
        true,
    );
    case(
        json!({"title": ["Ferry"], "credits": {"name": ["Ida"]}}),
        false,
    );
    case(
        json!({"credits": {"role": ["vocals"], "name": ["Bo"]}}),
        true,
    );
    case(
        json!({"credits": {"role": ["drums"], "name": ["Ida"]}}),
        false,
    );
    case(
        json!({"title": ["Harbour"], "credits": {"role": ["vocals"], "name": ["Bo"]}}),
        false,
    );
    // Fields under different arrays choose their elements on their own.
    table(
        json!({"payload": {"a": {"x": [1]}, "b": {"y": [2]}}}),
        &[(
            p(json!({"a": [{"x": 0}, {"x": 1}], "b": [{"y": 2}, {"y": 3}]})),
            true,
        )],
    );
}

#[test]
fn exists_false_is_judged_in_the_element_the_other_fields_matched() {
    let pattern = json!({"payload": {"staff": {"name": ["Rui"], "badge": [{"exists": false}]}}});
    table(
        pattern,
        &[
            (
                p(json!({"staff": [{"name": "Lea", "badge": 7}, {"name": "Rui"}]})),
                true,
            ),
            (
                p(json!({"staff": [{"name": "Lea"}, {"name": "Rui", "badge": 7}]})),
                false,
            ),
            (
                p(
                    json!({"staff": [[{"name": "Lea", "badge": 1}], [{"name": "Rui", "badge": []}]]}),
                ),
                true,
            ),
        ],
    );
    // Whether the absent field's name sorts before or after the others does not matter.
    table(
        json!({"payload": {"staff": {"alias": [{"exists": false}], "name": ["Rui"]}}}),
        &[(
            p(json!({"staff": [{"name": "Lea", "alias": "L"}, {"name": "Rui"}]})),
            true,
        )],
    );
    // exists: true needs the field in that same element.
    table(
        json!({"payload": {"staff": {"name": ["Rui"], "badge": [{"exists": true}]}}}),
        &[
            (
                p(json!({"staff": [{"name": "Lea", "badge": 7}, {"name": "Rui"}]})),
                false,
            ),
            (p(json!({"staff": [{"name": "Rui", "badge": null}]})), true),
        ],
    );
    // With no other condition picking an element, a field in any element is present.
    table(
        json!({"payload": {"staff": {"badge": [{"exists": false}]}}}),
        &[
            (
                p(json!({"staff": [{"name": "Lea", "badge": 7}, {"name": "Rui"}]})),
                false,
            ),
            (
                p(json!({"staff": [{"name": "Lea"}, {"name": "Rui"}]})),
                true,
            ),
            (p(json!({"staff": []})), true),
        ],
    );
}

#[test]
fn or_branches_join_the_fields_beside_them_in_one_element() {
    let orders = p(json!({"orders": [
        {"state": "open", "total": 5, "vip": true},
        {"state": "paid", "total": 500}
    ]}));
    let case = |pattern: serde_json::Value, expected| table(pattern, &[(orders.clone(), expected)]);
    // A $or beside the field it tests.
    case(
        json!({"payload": {"orders": {"state": ["open"]}, "$or": [
            {"orders": {"total": [{"numeric": [">", 100]}]}},
            {"orders": {"vip": [false]}}
        ]}}),
        false,
    );
    case(
        json!({"payload": {"orders": {"state": ["paid"]}, "$or": [
            {"orders": {"total": [{"numeric": [">", 100]}]}},
            {"orders": {"vip": [false]}}
        ]}}),
        true,
    );
    // Branches that test different fields: the shared one joins each of them.
    case(
        json!({"payload": {"orders": {"state": ["open"]}, "$or": [
            {"orders": {"total": [{"numeric": [">", 100]}]}},
            {"region": ["eu"]}
        ]}}),
        false,
    );
    // A $or inside, and one at the envelope's root, over the same array.
    case(
        json!({
            "payload": {"orders": {"state": ["open"], "$or": [{"vip": [true]}, {"total": [0]}]}},
            "$or": [{"payload": {"orders": {"total": [5]}}}, {"key": ["k"]}]
        }),
        true,
    );
    case(
        json!({
            "payload": {"orders": {"state": ["open"], "$or": [{"vip": [true]}, {"total": [0]}]}},
            "$or": [{"payload": {"orders": {"total": [500]}}}, {"key": ["k"]}]
        }),
        false,
    );
}

#[test]
fn scalars_in_an_array_pin_no_element() {
    table(
        json!({"payload": {"tags": ["red"], "$or": [{"tags": ["blue"]}, {"x": [1]}]}}),
        &[
            (p(json!({"tags": ["red", "blue"]})), true),
            (p(json!({"tags": ["red"], "x": 1})), true),
            (p(json!({"tags": ["red", "green"]})), false),
        ],
    );
}

#[test]
fn a_scalar_met_in_a_mixed_array_picks_no_object_for_the_fields_beside_it() {
    // The `$or` branch joins `a: ["1"]` to `a.b`: "1" is found among a's scalars, so no
    // object of `a` is picked and `b` must be absent from all of them.
    table(
        json!({"payload": {"a": {"b": [{"exists": false}]}, "$or": [{"a": ["1"]}, {"c": [1]}]}}),
        &[
            (p(json!({"a": ["1", {"b": 5}, {"d": 1}]})), false),
            (p(json!({"a": [{"d": 1}, "1"]})), true),
            (p(json!({"a": [{"b": 5}], "c": 1})), false),
            (p(json!({"a": [{"d": 5}], "c": 1})), true),
        ],
    );
}
