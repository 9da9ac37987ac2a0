//! A queue's settings edited in place (`PATCH /v1/queues/{q}`): only the fields changed in
//! the form are sent, so a setting nobody touched is never rewritten by rounding.

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{
    Action, Fairness, Kind, PatchQueue, Queue, QueueList, QueueOrdering, RetrySchedule,
};

use crate::api;
use crate::fields::{Choice, SaveOrCancel, TextField, form_error, optional_number, send_patch};
use crate::permit::{Permit, need};

const MS_PER_SECOND: u64 = 1_000;
const MS_PER_HOUR: u64 = 3_600_000;

/// Milliseconds as a field shows them in `unit` (whole units, or with decimals).
fn in_unit(ms: u64, unit: u64) -> String {
    if ms.is_multiple_of(unit) {
        (ms / unit).to_string()
    } else {
        format!("{}", ms as f64 / unit as f64)
    }
}

/// A field's text in `unit` back to milliseconds.
fn to_ms(text: &str, unit: u64, what: &str) -> Result<u64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{what} must be a number."))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{what} cannot be negative."));
    }
    Ok((value * unit as f64).round() as u64)
}

/// The edit form; `saved` gets the queue as the server stored it.
#[component]
pub(crate) fn QueueSettingsForm(
    queue: Queue,
    saved: Callback<Queue>,
    cancel: Callback<()>,
) -> impl IntoView {
    let original = StoredValue::new(queue.clone());
    let visibility = RwSignal::new(in_unit(queue.visibility_timeout_ms, MS_PER_SECOND));
    let delay = RwSignal::new(in_unit(queue.delay_ms, MS_PER_SECOND));
    let retention = RwSignal::new(in_unit(queue.retention_ms, MS_PER_HOUR));
    let max_receives = RwSignal::new(
        queue
            .max_receive_count
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    let dead_letter_queue = RwSignal::new(queue.dead_letter_queue.clone().unwrap_or_default());
    let ordering = RwSignal::new(ordering_text(queue.ordering).to_string());
    let retry = RwSignal::new(retry_text(queue.retry.as_ref()));
    let fair_by = RwSignal::new(
        queue
            .fairness
            .as_ref()
            .map(|f| f.by.clone())
            .unwrap_or_default(),
    );
    let weights = RwSignal::new(weights_text(queue.fairness.as_ref()));
    let others = RwSignal::new(Vec::<String>::new());
    let error = RwSignal::new(None::<String>);
    let name = queue.name.clone();
    // A dead-letter queue newly chosen is changed too: it needs manage as well.
    let permit = Permit::new(move || {
        let was = original.get_value();
        let mut needs = vec![need(Action::Manage, Kind::Queue, was.name.clone())];
        let dlq = dead_letter_queue.get();
        if !dlq.is_empty() && Some(dlq.as_str()) != was.dead_letter_queue.as_deref() {
            needs.push(need(Action::Manage, Kind::Queue, dlq));
        }
        needs
    });
    spawn_local(async move {
        match api::get::<QueueList>("/v1/queues").await {
            Ok(list) => others.set(
                list.queues
                    .into_iter()
                    .map(|q| q.name)
                    .filter(|q| *q != name)
                    .collect(),
            ),
            Err(e) => error.set(Some(e.explain())),
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let was = original.get_value();
        let texts = [
            visibility,
            delay,
            retention,
            max_receives,
            dead_letter_queue,
            ordering,
            retry,
            fair_by,
            weights,
        ]
        .map(|field| field.get_untracked());
        let patch = match changes(&was, texts.each_ref().map(String::as_str)) {
            Ok(patch) => patch,
            Err(why) => return error.set(Some(why)),
        };
        let path = format!("/v1/queues/{}", api::segment(&was.name));
        send_patch(path, patch, error, saved);
    };
    view! {
        <form class="card form" id="queue-settings" on:submit=save>
            <h3>"Settings"</h3>
            <div class="row">
                <TextField label="Visibility timeout (s)" name="visibility" placeholder="30" value=visibility />
                <TextField label="Delay (s)" name="delay" placeholder="0" value=delay />
                <TextField label="Retention (h)" name="retention" placeholder="96" value=retention />
            </div>
            <div class="row">
                <Choice
                    label="Dead-letter queue"
                    name="dead-letter-queue"
                    none="None"
                    value=dead_letter_queue
                    options=Signal::derive(move || others.get())
                />
                <TextField label="Max receives (with a dead-letter queue)" name="max-receives" placeholder="5" value=max_receives />
            </div>
            <div class="row">
                <Choice
                    label="Ordering"
                    name="ordering"
                    none="None"
                    value=ordering
                    options=Signal::derive(|| vec![PER_KEY.to_string()])
                />
                <TextField label="Retry after (s, one per failed delivery)" name="retry" placeholder="at once, e.g. 1, 10, 60" value=retry />
            </div>
            <div class="row">
                <TextField label="Fair between (key or attribute:<name>)" name="fair-by" placeholder="none: oldest first" value=fair_by />
                <TextField label="Weights (group=n, ...; others 1)" name="weights" placeholder="e.g. acme=3, globex=1" value=weights />
            </div>
            {form_error(error)}
            <SaveOrCancel save="Save settings" permit=permit cancel=cancel />
        </form>
    }
}

/// The fields that differ from `was`, as a patch; or why the form cannot be sent.
/// `fields` are the form's texts in the order it shows them.
fn changes(was: &Queue, fields: [&str; 9]) -> Result<PatchQueue, String> {
    let [
        visibility,
        delay,
        retention,
        max_receives,
        dead_letter_queue,
        ordering,
        retry,
        fair_by,
        weights,
    ] = fields;
    let mut patch = PatchQueue::default();
    if visibility.trim() != in_unit(was.visibility_timeout_ms, MS_PER_SECOND) {
        patch.visibility_timeout_ms = Some(to_ms(visibility, MS_PER_SECOND, "Visibility timeout")?);
    }
    if delay.trim() != in_unit(was.delay_ms, MS_PER_SECOND) {
        patch.delay_ms = Some(to_ms(delay, MS_PER_SECOND, "Delay")?);
    }
    if retention.trim() != in_unit(was.retention_ms, MS_PER_HOUR) {
        patch.retention_ms = Some(to_ms(retention, MS_PER_HOUR, "Retention")?);
    }
    let dlq = dead_letter_queue.trim();
    let max = max_receives.trim();
    let max_receive_count = optional_number::<u32>(max, "Max receives")?;
    if dlq != was.dead_letter_queue.as_deref().unwrap_or("") {
        patch.dead_letter_queue = Some((!dlq.is_empty()).then(|| dlq.to_string()));
    }
    if !dlq.is_empty() && max_receive_count != was.max_receive_count {
        patch.max_receive_count = max_receive_count;
    }
    if dlq.is_empty() && max_receive_count.is_some() {
        return Err("Max receives needs a dead-letter queue to move messages to.".into());
    }
    if ordering != ordering_text(was.ordering) {
        patch.ordering = Some(match ordering {
            PER_KEY => QueueOrdering::PerKey,
            _ => QueueOrdering::None,
        });
    }
    if retry.trim() != retry_text(was.retry.as_ref()) {
        patch.retry = Some(retry_schedule(retry)?);
    }
    let was_by = was.fairness.as_ref().map_or("", |f| f.by.as_str());
    if fair_by.trim() != was_by || weights.trim() != weights_text(was.fairness.as_ref()) {
        patch.fairness = Some(fairness(fair_by, weights, was.fairness.as_ref())?);
    }
    Ok(patch)
}

/// A fairness setting's weights as the weights field shows them: `acme=3, globex=1`.
fn weights_text(fairness: Option<&Fairness>) -> String {
    fairness.map_or_else(String::new, |f| {
        f.weights
            .iter()
            .map(|(group, weight)| format!("{group}={weight}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The fairness fields back to a setting (empty `by`: none), keeping the default weight
/// the queue had.
fn fairness(by: &str, weights: &str, was: Option<&Fairness>) -> Result<Option<Fairness>, String> {
    let by = by.trim();
    if by.is_empty() {
        if !weights.trim().is_empty() {
            return Err("Weights need a group to be fair between.".into());
        }
        return Ok(None);
    }
    let weights = weights
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (group, weight) = pair
                .rsplit_once('=')
                .ok_or_else(|| format!("Weight {pair:?} is not group=n."))?;
            let weight = weight
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("The weight of {:?} must be a whole number.", group.trim()))?;
            Ok((group.trim().to_string(), weight))
        })
        .collect::<Result<_, String>>()?;
    Ok(Some(Fairness {
        by: by.to_string(),
        weights,
        default_weight: was.map_or(1, |f| f.default_weight),
    }))
}

/// The ordering choice's option for `per_key` (the empty option is none).
const PER_KEY: &str = "per key";

fn ordering_text(ordering: QueueOrdering) -> &'static str {
    match ordering {
        QueueOrdering::None => "",
        QueueOrdering::PerKey => PER_KEY,
    }
}

/// A schedule of steps in the retry field: seconds, comma-separated (empty: none). A
/// schedule made otherwise (by `initial_ms`) shows as the API stores it.
fn retry_text(schedule: Option<&RetrySchedule>) -> String {
    match schedule {
        None => String::new(),
        Some(RetrySchedule {
            backoff_ms: Some(steps),
            jitter: None,
            ..
        }) => steps
            .iter()
            .map(|ms| in_unit(*ms, MS_PER_SECOND))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// The retry field back to a schedule: steps in seconds, or a schedule as JSON.
fn retry_schedule(text: &str) -> Result<Option<RetrySchedule>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.starts_with('{') {
        return serde_json::from_str(text)
            .map(Some)
            .map_err(|e| format!("Retry: {e}."));
    }
    let steps = text
        .split(',')
        .map(|step| to_ms(step, MS_PER_SECOND, "Each retry step"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(RetrySchedule {
        backoff_ms: Some(steps),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> Queue {
        serde_json::from_value(serde_json::json!({
            "name": "jobs",
            "visibility_timeout_ms": 30_000,
            "max_receive_count": null,
            "dead_letter_queue": null,
            "delay_ms": 0,
            "retention_ms": 345_600_000,
            "created_at_ms": 0
        }))
        .expect("a queue")
    }

    #[test]
    fn only_changed_fields_are_sent() {
        let q = queue();
        let patch = changes(&q, ["30", "0", "96", "", "", "", "", "", ""]).expect("valid");
        assert_eq!(
            serde_json::to_value(&patch).expect("json"),
            serde_json::json!({})
        );
        let patch =
            changes(&q, ["45", "0.5", "96", "3", "jobs-dlq", "", "", "", ""]).expect("valid");
        assert_eq!(
            serde_json::to_value(&patch).expect("json"),
            serde_json::json!({
                "visibility_timeout_ms": 45_000,
                "delay_ms": 500,
                "dead_letter_queue": "jobs-dlq",
                "max_receive_count": 3
            })
        );
        let fields = [
            "30",
            "0",
            "96",
            "",
            "",
            PER_KEY,
            "1, 10, 60",
            "attribute:tenant",
            "acme=3, globex = 2",
        ];
        let patch = changes(&q, fields).expect("valid");
        assert_eq!(
            serde_json::to_value(&patch).expect("json"),
            serde_json::json!({
                "ordering": "per_key",
                "retry": {"backoff_ms": [1000, 10_000, 60_000]},
                "fairness": {"by": "attribute:tenant", "weights": {"acme": 3, "globex": 2}}
            })
        );
    }

    #[test]
    fn bad_numbers_and_max_receives_without_a_queue_are_refused() {
        let q = queue();
        let bad = |fields: [&str; 9]| changes(&q, fields).is_err();
        assert!(bad(["soon", "0", "96", "", "", "", "", "", ""]));
        assert!(bad(["-1", "0", "96", "", "", "", "", "", ""]));
        assert!(bad(["30", "0", "96", "3", "", "", "", "", ""]));
        assert!(bad(["30", "0", "96", "", "", "", "1, soon", "", ""]));
        assert!(bad(["30", "0", "96", "", "", "", "", "", "a=1"]));
        assert!(bad(["30", "0", "96", "", "", "", "", "key", "a=lots"]));
    }
}
