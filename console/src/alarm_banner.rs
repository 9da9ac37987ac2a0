//! The banner of firing alarms, shown above every page while any fires: `GET /v1/alarms`
//! every two seconds, as the session's token (a token that may read no alarm sees none).

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{Alarm, AlarmLevel, AlarmList, AlarmState};

use crate::api;
use crate::format;

const POLL: Duration = Duration::from_secs(2);

/// What an alarm watches, in words: `depth ≥ 3 on queue work`.
fn condition(alarm: &Alarm) -> String {
    let on = match (&alarm.queue, &alarm.consumer) {
        (Some(queue), _) => format!("queue {queue}"),
        (None, Some(consumer)) => format!("consumer {consumer}"),
        (None, None) => String::new(),
    };
    format!(
        "{} {} {} on {on}",
        alarm.metric,
        alarm.comparison.as_str(),
        alarm.threshold
    )
}

/// The firing alarms, critical first, or nothing.
#[component]
pub(crate) fn FiringAlarms() -> impl IntoView {
    let firing = RwSignal::new(Vec::<Alarm>::new());
    let poll = move || {
        spawn_local(async move {
            // A refusal (a token that may read no queue) shows no banner rather than an error
            // on every page.
            let mut alarms: Vec<Alarm> = api::get::<AlarmList>("/v1/alarms")
                .await
                .map(|list| list.alarms)
                .unwrap_or_default();
            alarms.retain(|a| a.state == AlarmState::Firing);
            alarms.sort_by_key(|a| (a.level != AlarmLevel::Critical, a.name.clone()));
            firing.set(alarms);
        });
    };
    poll();
    if let Ok(interval) = set_interval_with_handle(poll, POLL) {
        on_cleanup(move || interval.clear());
    }
    move || {
        let alarms = firing.get();
        if alarms.is_empty() {
            return None;
        }
        let critical = alarms.iter().any(|a| a.level == AlarmLevel::Critical);
        let count = alarms.len();
        let items = alarms
            .into_iter()
            .map(|alarm| {
                let level = alarm.level.as_str();
                let since = alarm
                    .last_transition
                    .as_ref()
                    .map(|t| format!(" · since {}", format::ago(t.at_ms)));
                let value = alarm.value.map(|v| format!(" · now {v}"));
                let href = alarm
                    .queue
                    .clone()
                    .map_or_else(|| "#/monitor".to_string(), |q| format!("#/monitor/{q}"));
                view! {
                    <li class=format!("alarm-item {level}") data-alarm=alarm.name.clone()>
                        <span class=format!("badge level {level}")>{level}</span>
                        <a href=href><strong>{alarm.name.clone()}</strong></a>
                        <span class="alarm-condition">{condition(&alarm)}{value}{since}</span>
                    </li>
                }
            })
            .collect_view();
        let title = if count == 1 {
            "1 alarm firing".to_string()
        } else {
            format!("{count} alarms firing")
        };
        Some(view! {
            <div class="banner alarms" class:critical=critical id="firing-alarms" role="alert">
                <strong class="alarms-title">{title}</strong>
                <ul class="alarm-items">{items}</ul>
            </div>
        })
    }
}
