//! `switchyard bench --scenario routing`: the cost of routing a publish through one topic's
//! subscription filters, for 1, 100 and 1000 subscriptions with realistic patterns, with
//! the topic's filter index and, for comparison, evaluating every filter. Runs in process:
//! no server needed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::broker::filter::{Envelope, Filter, FilterIndex};

/// The figures of one subscription count.
#[derive(Debug, Serialize)]
pub(super) struct RoutingReport {
    pub(super) subscriptions: usize,
    /// Publishes routed per second through the index.
    pub(super) indexed_per_s: f64,
    /// Publishes routed per second evaluating every filter.
    pub(super) every_filter_per_s: f64,
    /// Filters evaluated per publish with the index.
    pub(super) filters_evaluated: f64,
    /// Subscriptions matched per publish.
    pub(super) matches: f64,
}

/// Subscription `i`'s pattern: most select on an attribute (as EventBridge rules select on
/// source and detail-type), some on the payload alone or through `$or`.
fn pattern(i: usize) -> Value {
    match i % 10 {
        0..=4 => json!({
            "attributes": {"kind": [format!("kind-{}", i % 50)]},
            "payload": {"plan": ["pro", "team"]}
        }),
        5 | 6 => json!({
            "attributes": {"tenant": [format!("t{}", i % 400)]},
            "payload": {"amount": [{"numeric": [">", (i % 100) as f64]}]}
        }),
        7 => json!({
            "attributes": {"kind": [format!("kind-{}", i % 50), format!("kind-{}", (i + 1) % 50)]},
            "payload": {"country": [{"prefix": "EU-"}]}
        }),
        8 => json!({
            "payload": {"country": [{"prefix": "EU-"}], "amount": [{"numeric": [">=", 900, "<", 1000]}]}
        }),
        _ => json!({
            "$or": [
                {"attributes": {"kind": [format!("kind-{}", i % 50)]}},
                {"payload": {"flag": [true], "plan": [{"anything-but": ["free"]}]}}
            ]
        }),
    }
}

const PLANS: [&str; 3] = ["free", "pro", "team"];
const COUNTRIES: [&str; 4] = ["EU-DE", "US-NY", "EU-FR", "JP-13"];

struct Event {
    payload: Value,
    attributes: BTreeMap<String, String>,
}

fn events() -> Vec<Event> {
    (0..1000usize)
        .map(|n| Event {
            payload: json!({
                "plan": PLANS[n % PLANS.len()],
                "amount": (n * 7) % 1000,
                "country": COUNTRIES[n % COUNTRIES.len()],
                "flag": n % 17 == 0,
            }),
            attributes: BTreeMap::from([
                ("kind".to_string(), format!("kind-{}", n % 60)),
                ("tenant".to_string(), format!("t{}", n % 500)),
            ]),
        })
        .collect()
}

/// Measures each subscription count for about `per_run` per mode.
pub(super) fn measure(counts: &[usize], per_run: Duration) -> Vec<RoutingReport> {
    let events = events();
    counts
        .iter()
        .map(|&count| {
            let filters: Vec<Filter> = (0..count)
                .map(|i| Filter::compile(&pattern(i)).expect("bench patterns are valid"))
                .collect();
            let index = FilterIndex::build(filters.iter().map(Some));
            let mut candidates = Vec::new();
            let (indexed_per_s, (evaluated, matched)) = rate(&events, per_run, |event| {
                index.candidates(&event.attributes, None, &mut candidates);
                let envelope = envelope(event);
                let matched = candidates
                    .iter()
                    .filter(|i| filters[**i].matches(&envelope))
                    .count();
                (candidates.len(), matched)
            });
            let (every_filter_per_s, (_, matched_by_all)) = rate(&events, per_run, |event| {
                let envelope = envelope(event);
                (
                    count,
                    filters.iter().filter(|f| f.matches(&envelope)).count(),
                )
            });
            assert_eq!(
                matched, matched_by_all,
                "the index must not change what matches"
            );
            RoutingReport {
                subscriptions: count,
                indexed_per_s,
                every_filter_per_s,
                filters_evaluated: evaluated,
                matches: matched,
            }
        })
        .collect()
}

fn envelope(event: &Event) -> Envelope<'_> {
    Envelope {
        payload: Some(&event.payload),
        attributes: &event.attributes,
        key: None,
    }
}

/// Routes events round-robin for `per_run`; returns publishes per second and the mean of
/// (filters evaluated, subscriptions matched) per publish.
fn rate(
    events: &[Event],
    per_run: Duration,
    mut route: impl FnMut(&Event) -> (usize, usize),
) -> (f64, (f64, f64)) {
    let started = Instant::now();
    let (mut routed, mut evaluated, mut matched) = (0u64, 0u64, 0u64);
    while started.elapsed() < per_run {
        for event in events {
            let (e, m) = route(event);
            evaluated += e as u64;
            matched += m as u64;
        }
        routed += events.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let per = |total: u64| (total as f64 / routed as f64 * 10.0).round() / 10.0;
    (
        (routed as f64 / seconds).round(),
        (per(evaluated), per(matched)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile_and_the_index_agrees_with_every_filter() {
        let reports = measure(&[100], Duration::from_millis(20));
        let report = &reports[0];
        assert!(report.matches > 0.0, "the bench patterns match something");
        assert!(
            report.filters_evaluated < 100.0,
            "the index narrows: {report:?}"
        );
    }
}
