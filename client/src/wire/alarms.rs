//! Wire types of alarms (`/v1/alarms`): a condition on a queue's or a consumer's metric that
//! fires once it has held for `for_ms` and resolves when it stops holding. Each transition is
//! published to the topic [`ALARMS_TOPIC`] as an [`AlarmEvent`].

use serde::{Deserialize, Serialize};

/// The topic every alarm transition is published to (made at start, never deleted).
pub const ALARMS_TOPIC: &str = "switchyard.alarms";

/// `POST /v1/alarms`. Exactly one of `queue` and `consumer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAlarm {
    /// `[A-Za-z0-9._-]{1,128}`.
    pub name: String,
    /// The queue it watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The consumer it watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// What it watches (see [`AlarmMetric`]): `oldest_age_ms`, `depth`, `dead_lettered`,
    /// `dead_letters_per_minute`, `stuck_over_ms:<ms>` on a queue; `fault_rate` on a
    /// consumer.
    pub metric: String,
    /// The value compared with the metric.
    pub threshold: f64,
    /// How the metric is compared with the threshold; default `>=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// How long the condition must hold before the alarm fires; default 0 (at the first
    /// evaluation that finds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    /// How bad it is.
    pub level: AlarmLevel,
}

/// `PATCH /v1/alarms/{name}`: the parts of the condition to change; absent ones stay. What
/// an alarm watches (its queue or consumer, its metric) does not change: make another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchAlarm {
    /// See [`CreateAlarm::threshold`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// See [`CreateAlarm::comparison`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// See [`CreateAlarm::for_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    /// See [`CreateAlarm::level`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<AlarmLevel>,
}

/// How bad an alarm is; published as the message attribute `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmLevel {
    /// Look soon.
    Warning,
    /// Look now.
    Critical,
}

impl AlarmLevel {
    /// `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmLevel::Warning => "warning",
            AlarmLevel::Critical => "critical",
        }
    }
}

/// How a metric's value is compared with an alarm's threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// At or above the threshold.
    #[default]
    #[serde(rename = ">=")]
    AtOrAbove,
    /// Above the threshold.
    #[serde(rename = ">")]
    Above,
    /// At or below the threshold.
    #[serde(rename = "<=")]
    AtOrBelow,
    /// Below the threshold.
    #[serde(rename = "<")]
    Below,
}

impl Comparison {
    /// Whether `value` breaches `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::AtOrAbove => value >= threshold,
            Comparison::Above => value > threshold,
            Comparison::AtOrBelow => value <= threshold,
            Comparison::Below => value < threshold,
        }
    }

    /// `>=`, `>`, `<=` or `<`.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::AtOrAbove => ">=",
            Comparison::Above => ">",
            Comparison::AtOrBelow => "<=",
            Comparison::Below => "<",
        }
    }
}

/// What an alarm watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmMetric {
    /// A queue: the age of its oldest message in any state, in ms (0 when it is empty).
    OldestAgeMs,
    /// A queue: the messages it holds, in any state.
    Depth,
    /// A queue: the messages it holds that were dead-lettered into it (watch a dead-letter
    /// queue).
    DeadLettered,
    /// A queue: messages dead-lettered into it during the last minute.
    DeadLettersPerMinute,
    /// A queue: messages that have waited, or been in flight, longer than this many ms.
    StuckOverMs(u64),
    /// A consumer: the share of its invocations of the last minute that faulted (trap,
    /// deadline, memory, fuel, budget), from 0 to 1; no data without invocations.
    FaultRate,
}

impl AlarmMetric {
    /// Reads a metric's name; `Err` says which names there are.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "oldest_age_ms" => AlarmMetric::OldestAgeMs,
            "depth" => AlarmMetric::Depth,
            "dead_lettered" => AlarmMetric::DeadLettered,
            "dead_letters_per_minute" => AlarmMetric::DeadLettersPerMinute,
            "fault_rate" => AlarmMetric::FaultRate,
            other => match other.strip_prefix("stuck_over_ms:") {
                Some(ms) => match ms.parse::<u64>() {
                    Ok(ms) if ms > 0 => AlarmMetric::StuckOverMs(ms),
                    _ => {
                        return Err(format!(
                            "{other:?}: stuck_over_ms takes a positive number of ms, as in stuck_over_ms:300000"
                        ));
                    }
                },
                None => {
                    return Err(format!(
                        "unknown metric {:?}; a queue has oldest_age_ms, depth, dead_lettered, \
                         dead_letters_per_minute and stuck_over_ms:<ms>, a consumer fault_rate",
                        other.chars().take(100).collect::<String>()
                    ));
                }
            },
        })
    }

    /// Whether it is a consumer's metric (else a queue's).
    pub fn of_consumer(self) -> bool {
        self == AlarmMetric::FaultRate
    }

    /// Its name, as [`AlarmMetric::parse`] reads it.
    pub fn name(self) -> String {
        match self {
            AlarmMetric::OldestAgeMs => "oldest_age_ms".into(),
            AlarmMetric::Depth => "depth".into(),
            AlarmMetric::DeadLettered => "dead_lettered".into(),
            AlarmMetric::DeadLettersPerMinute => "dead_letters_per_minute".into(),
            AlarmMetric::StuckOverMs(ms) => format!("stuck_over_ms:{ms}"),
            AlarmMetric::FaultRate => "fault_rate".into(),
        }
    }
}

/// Where an alarm is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    /// The condition does not hold.
    #[default]
    Ok,
    /// The condition holds, not yet for `for_ms`.
    Pending,
    /// The condition has held for `for_ms` and still holds.
    Firing,
}

/// A transition of an alarm, as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// It began to fire.
    Firing,
    /// It stopped firing.
    Resolved,
}

/// An alarm's last transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmTransition {
    /// Which.
    pub state: Transition,
    /// When (Unix ms).
    pub at_ms: u64,
    /// The metric's value then (none: no data).
    pub value: Option<f64>,
    /// The id of the message published to [`ALARMS_TOPIC`] for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// An alarm with its state (`GET /v1/alarms`, `GET /v1/alarms/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// Its name.
    pub name: String,
    /// The queue it watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The consumer it watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// What it watches.
    pub metric: String,
    /// The value compared with the metric.
    pub threshold: f64,
    /// How they are compared.
    pub comparison: Comparison,
    /// How long the condition must hold before it fires.
    pub for_ms: u64,
    /// How bad it is.
    pub level: AlarmLevel,
    /// Where it is now.
    pub state: AlarmState,
    /// The metric's value at the last evaluation (none: no data, or not evaluated yet).
    pub value: Option<f64>,
    /// Since when the condition has held (Unix ms), while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaching_since_ms: Option<u64>,
    /// When it was last evaluated (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluated_at_ms: Option<u64>,
    /// Its last transition, if it ever fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition: Option<AlarmTransition>,
    /// When it was created (Unix ms).
    pub created_at_ms: u64,
}

/// `GET /v1/alarms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmList {
    /// Every alarm the token may read, by name.
    pub alarms: Vec<Alarm>,
}

/// The payload of a message on [`ALARMS_TOPIC`]: one transition of one alarm. The message
/// carries the attribute `level` too, so a subscription can filter on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmEvent {
    /// The alarm's name.
    pub alarm: String,
    /// How bad it is.
    pub level: AlarmLevel,
    /// `firing` or `resolved`.
    pub state: Transition,
    /// What it watches.
    pub metric: String,
    /// The metric's value (none: no data).
    pub value: Option<f64>,
    /// The alarm's threshold.
    pub threshold: f64,
    /// The queue it watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The consumer it watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// When the transition happened (Unix ms).
    pub at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_read_back_from_their_names() {
        for metric in [
            AlarmMetric::OldestAgeMs,
            AlarmMetric::Depth,
            AlarmMetric::DeadLettered,
            AlarmMetric::DeadLettersPerMinute,
            AlarmMetric::StuckOverMs(300_000),
            AlarmMetric::FaultRate,
        ] {
            assert_eq!(AlarmMetric::parse(&metric.name()), Ok(metric));
        }
        assert!(AlarmMetric::parse("stuck_over_ms:0").is_err());
        assert!(AlarmMetric::parse("stuck_over_ms:soon").is_err());
        assert!(
            AlarmMetric::parse("cpu")
                .unwrap_err()
                .contains("oldest_age_ms")
        );
    }

    #[test]
    fn comparisons_read_as_symbols() {
        let c: Comparison = serde_json::from_str(r#"">""#).unwrap();
        assert_eq!(c, Comparison::Above);
        assert!(c.holds(2.0, 1.0) && !c.holds(1.0, 1.0));
        assert!(Comparison::default().holds(1.0, 1.0));
        assert!(Comparison::Below.holds(0.5, 1.0));
    }

    #[test]
    fn an_event_names_either_the_queue_or_the_consumer() {
        let event = AlarmEvent {
            alarm: "backlog".into(),
            level: AlarmLevel::Critical,
            state: Transition::Firing,
            metric: "depth".into(),
            value: Some(12.0),
            threshold: 10.0,
            queue: Some("mail".into()),
            consumer: None,
            at_ms: 1,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"alarm": "backlog", "level": "critical", "state": "firing",
                "metric": "depth", "value": 12.0, "threshold": 10.0, "queue": "mail", "at_ms": 1})
        );
    }
}
