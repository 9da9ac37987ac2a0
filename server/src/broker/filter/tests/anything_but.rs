//! `anything-but`: a value, a list of values of one type, or `prefix`, `suffix`,
//! `equals-ignore-case` and `wildcard`, each with a string or a list of strings.

use serde_json::json;

use super::{p, table};

#[test]
fn anything_but_matches_other_values_of_any_type_but_not_absent_fields() {
    table(
        json!({"payload": {"state": [{"anything-but": "done"}]}}),
        &[
            (p(json!({"state": "open"})), true),
            (p(json!({"state": "done"})), false),
            (p(json!({"state": 3})), true),
            (p(json!({"state": null})), true),
            (p(json!({"state": ["done", "open"]})), true),
            (p(json!({"state": ["done"]})), false),
            (p(json!({})), false),
            (json!({}), false),
        ],
    );
    table(
        json!({"payload": {"code": [{"anything-but": [200, 204]}]}}),
        &[
            (p(json!({"code": 200.0})), false),
            (p(json!({"code": 204})), false),
            (p(json!({"code": "200"})), true),
            (p(json!({"code": 500})), true),
        ],
    );
    table(
        json!({"payload": {"code": [{"anything-but": ["ok", "fine"]}]}}),
        &[
            (p(json!({"code": "ok"})), false),
            (p(json!({"code": "OK"})), true),
            (p(json!({"code": 200})), true),
        ],
    );
}

#[test]
fn anything_but_prefix_suffix_ignore_case_and_wildcard() {
    table(
        json!({"payload": {"src": [{"anything-but": {"prefix": "internal-"}}]}}),
        &[
            (p(json!({"src": "internal-db"})), false),
            (p(json!({"src": "web"})), true),
            (p(json!({"src": 7})), true),
        ],
    );
    table(
        json!({"payload": {"f": [{"anything-but": {"suffix": ".tmp"}}]}}),
        &[
            (p(json!({"f": "a.tmp"})), false),
            (p(json!({"f": "a.txt"})), true),
        ],
    );
    table(
        json!({"payload": {"env": [{"anything-but": {"equals-ignore-case": "Prod"}}]}}),
        &[
            (p(json!({"env": "PROD"})), false),
            (p(json!({"env": "dev"})), true),
        ],
    );
    table(
        json!({"payload": {"f": [{"anything-but": {"wildcard": "*.log"}}]}}),
        &[
            (p(json!({"f": "x.log"})), false),
            (p(json!({"f": "x.txt"})), true),
        ],
    );
}

#[test]
fn anything_but_lists_refuse_a_string_that_meets_any_of_them() {
    table(
        json!({"payload": {"id": [{"anything-but": {"prefix": ["tmp-", "test-"]}}]}}),
        &[
            (p(json!({"id": "tmp-1"})), false),
            (p(json!({"id": "test-1"})), false),
            (p(json!({"id": "prod-tmp-1"})), true),
            (p(json!({"id": 4})), true),
        ],
    );
    table(
        json!({"payload": {"f": [{"anything-but": {"suffix": [".tmp", ".bak"]}}]}}),
        &[
            (p(json!({"f": "a.bak"})), false),
            (p(json!({"f": "a.tmp"})), false),
            (p(json!({"f": "a.tmp.txt"})), true),
        ],
    );
    table(
        json!({"payload": {"env": [{"anything-but": {"equals-ignore-case": ["Prod", "STAGING"]}}]}}),
        &[
            (p(json!({"env": "PROD"})), false),
            (p(json!({"env": "staging"})), false),
            (p(json!({"env": "dev"})), true),
        ],
    );
    table(
        json!({"payload": {"host": [{"anything-but": {"wildcard": ["*.internal", "db-*"]}}]}}),
        &[
            (p(json!({"host": "api.internal"})), false),
            (p(json!({"host": "db-7"})), false),
            (p(json!({"host": "www.example"})), true),
            (p(json!({"host": "internal.db"})), true),
        ],
    );
    // In an array, the field matches when one element is outside every operand.
    table(
        json!({"payload": {"ids": [{"anything-but": {"prefix": ["a", "b"]}}]}}),
        &[
            (p(json!({"ids": ["a1", "b2"]})), false),
            (p(json!({"ids": ["a1", "c3"]})), true),
        ],
    );
}
