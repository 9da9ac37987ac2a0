//! How a queue hands out its messages: in which order, shared between which groups, and
//! when a failed delivery comes back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The order a queue delivers in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueOrdering {
    /// Any ready message may be delivered, many at once.
    #[default]
    None,
    /// Messages with the same `key` are delivered one at a time, in publish order: the
    /// next one becomes ready when the one before it leaves the queue (acked, dead-lettered
    /// or expired). Messages of other keys, and messages without a key, flow in parallel.
    PerKey,
}

impl QueueOrdering {
    /// Whether this is [`QueueOrdering::None`] (kept out of serialized settings).
    pub fn is_none(&self) -> bool {
        *self == QueueOrdering::None
    }
}

/// How a queue shares its deliveries between groups of messages (tenants, say): receives
/// serve the groups with ready messages in weighted round robin, `weight` messages of a
/// group per turn, so a group with a deep backlog does not delay one with a few messages.
/// A group is a message's `key` (`"by": "key"`) or the value of one of its attributes
/// (`"by": "attribute:tenant"`); messages without it form one group of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fairness {
    /// `key` or `attribute:<name>`.
    pub by: String,
    /// Weights of named groups (1 to 1000); the others get `default_weight`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, u32>,
    /// The weight of groups not in `weights` (1 to 1000, default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub default_weight: u32,
}

fn one() -> u32 {
    1
}

fn is_one(weight: &u32) -> bool {
    *weight == 1
}

/// What a [`Fairness`] groups messages by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy<'a> {
    /// The message's key.
    Key,
    /// The value of this attribute.
    Attribute(&'a str),
}

/// The most named weights a fairness setting may have.
pub const MAX_FAIRNESS_WEIGHTS: usize = 10_000;
/// The largest weight.
pub const MAX_WEIGHT: u32 = 1000;

impl Fairness {
    /// What it groups by, if `by` is well formed.
    pub fn group_by(&self) -> Option<GroupBy<'_>> {
        match self.by.as_str() {
            "key" => Some(GroupBy::Key),
            by => by
                .strip_prefix("attribute:")
                .filter(|name| !name.is_empty() && name.len() <= 256)
                .map(GroupBy::Attribute),
        }
    }

    /// Checks the setting; the error names the field at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.group_by().is_none() {
            return Err((
                "fairness.by",
                format!(
                    "{:?} is neither \"key\" nor \"attribute:<name>\" (a name of 1 to 256 bytes)",
                    self.by
                ),
            ));
        }
        if self.weights.len() > MAX_FAIRNESS_WEIGHTS {
            return Err((
                "fairness.weights",
                format!(
                    "has {} groups; at most {MAX_FAIRNESS_WEIGHTS}",
                    self.weights.len()
                ),
            ));
        }
        let out_of_range = |weight: u32| !(1..=MAX_WEIGHT).contains(&weight);
        if let Some((group, weight)) = self.weights.iter().find(|(_, w)| out_of_range(**w)) {
            return Err((
                "fairness.weights",
                format!("{group:?} has weight {weight}; weights are 1 to {MAX_WEIGHT}"),
            ));
        }
        if out_of_range(self.default_weight) {
            return Err((
                "fairness.default_weight",
                format!("{} is outside 1..={MAX_WEIGHT}", self.default_weight),
            ));
        }
        Ok(())
    }
}

/// When a message whose delivery failed (a nack or a plugin `Retry` without a delay, a
/// lease that expired) becomes visible again: after the step of its delivery count.
/// Either `backoff_ms`, a list of steps (the last repeats), or `initial_ms` with an
/// optional `multiplier` (default 2) and `max_ms` (default 12 h). `jitter` (0 to 1,
/// default 0) takes up to that fraction off each step, at random.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySchedule {
    /// The delay after the first failed delivery, the second, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<Vec<u64>>,
    /// The delay after the first failed delivery; each next one is `multiplier` times
    /// longer, up to `max_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_ms: Option<u64>,
    /// See [`RetrySchedule::initial_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    /// See [`RetrySchedule::initial_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<u64>,
    /// Up to this fraction of each step is taken off at random (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

/// The longest step of a retry schedule (12 h, the longest lease).
pub const MAX_RETRY_STEP_MS: u64 = 12 * 60 * 60 * 1000;
/// The most steps a `backoff_ms` list may have.
pub const MAX_RETRY_STEPS: usize = 100;

impl RetrySchedule {
    /// Checks the schedule; the error names the field at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let over = |name: &'static str, ms: u64| {
            (ms > MAX_RETRY_STEP_MS).then(|| {
                (
                    name,
                    format!("{ms} is over the maximum of {MAX_RETRY_STEP_MS} (12 h)"),
                )
            })
        };
        match (&self.backoff_ms, self.initial_ms) {
            (Some(_), Some(_)) => {
                return Err((
                    "retry",
                    "give either backoff_ms or initial_ms, not both".into(),
                ));
            }
            (None, None) => {
                return Err(("retry", "give backoff_ms or initial_ms".into()));
            }
            (Some(steps), None) => {
                if steps.is_empty() || steps.len() > MAX_RETRY_STEPS {
                    return Err((
                        "retry.backoff_ms",
                        format!("has {} steps; give 1 to {MAX_RETRY_STEPS}", steps.len()),
                    ));
                }
                if self.multiplier.is_some() || self.max_ms.is_some() {
                    return Err((
                        "retry",
                        "multiplier and max_ms go with initial_ms, not backoff_ms".into(),
                    ));
                }
                if let Some(error) = steps.iter().find_map(|ms| over("retry.backoff_ms", *ms)) {
                    return Err(error);
                }
            }
            (None, Some(initial)) => {
                if let Some(error) = over("retry.initial_ms", initial) {
                    return Err(error);
                }
                if let Some(max) = self.max_ms {
                    if let Some(error) = over("retry.max_ms", max) {
                        return Err(error);
                    }
                    if max < initial {
                        return Err((
                            "retry.max_ms",
                            format!("{max} is below initial_ms ({initial})"),
                        ));
                    }
                }
                if let Some(multiplier) = self.multiplier
                    && !(1.0..=100.0).contains(&multiplier)
                {
                    return Err((
                        "retry.multiplier",
                        format!("{multiplier} is outside 1..=100"),
                    ));
                }
            }
        }
        if let Some(jitter) = self.jitter
            && !(0.0..=1.0).contains(&jitter)
        {
            return Err(("retry.jitter", format!("{jitter} is outside 0..=1")));
        }
        Ok(())
    }

    /// The delay after delivery number `delivery` (1 for the first) failed, before jitter.
    pub fn step_ms(&self, delivery: u32) -> u64 {
        let index = delivery.saturating_sub(1);
        if let Some(steps) = &self.backoff_ms {
            let last = steps.len().saturating_sub(1);
            return steps.get((index as usize).min(last)).copied().unwrap_or(0);
        }
        let initial = self.initial_ms.unwrap_or(0) as f64;
        let max = self.max_ms.unwrap_or(MAX_RETRY_STEP_MS);
        let step = initial * self.multiplier.unwrap_or(2.0).powi(index.min(1000) as i32);
        if step.is_finite() && step < max as f64 {
            step as u64
        } else {
            max
        }
    }

    /// The schedule in words, with `duration` writing a span of ms:
    /// `1 s, 10 s, 1 min (the last repeats)` or `100 ms ×2 up to 1 min`.
    pub fn describe(&self, duration: impl Fn(u64) -> String) -> String {
        let mut text = match (&self.backoff_ms, self.initial_ms) {
            (Some(steps), _) => {
                let steps: Vec<String> = steps.iter().map(|ms| duration(*ms)).collect();
                format!("{} (the last repeats)", steps.join(", "))
            }
            (None, initial) => format!(
                "{} ×{} up to {}",
                duration(initial.unwrap_or(0)),
                self.multiplier.unwrap_or(2.0),
                duration(self.max_ms.unwrap_or(MAX_RETRY_STEP_MS))
            ),
        };
        if let Some(jitter) = self.jitter.filter(|jitter| *jitter > 0.0) {
            text.push_str(&format!(", up to {:.0}% less at random", jitter * 100.0));
        }
        text
    }

    /// The delay after delivery number `delivery` failed, with `draw` (0 to 1) choosing
    /// how much of the jitter is taken off.
    pub fn delay_ms(&self, delivery: u32, draw: f64) -> u64 {
        let step = self.step_ms(delivery);
        let jitter = self.jitter.unwrap_or(0.0).clamp(0.0, 1.0);
        let off = (step as f64 * jitter * draw.clamp(0.0, 1.0)) as u64;
        step - off.min(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(list: &[u64]) -> RetrySchedule {
        RetrySchedule {
            backoff_ms: Some(list.to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn a_list_of_steps_repeats_its_last() {
        let schedule = steps(&[1000, 10_000, 60_000]);
        let delays: Vec<u64> = (1..=5).map(|n| schedule.step_ms(n)).collect();
        assert_eq!(delays, [1000, 10_000, 60_000, 60_000, 60_000]);
    }

    #[test]
    fn an_exponential_schedule_grows_up_to_its_cap() {
        let schedule = RetrySchedule {
            initial_ms: Some(100),
            multiplier: Some(3.0),
            max_ms: Some(2000),
            ..Default::default()
        };
        let delays: Vec<u64> = (1..=5).map(|n| schedule.step_ms(n)).collect();
        assert_eq!(delays, [100, 300, 900, 2000, 2000]);
        assert_eq!(schedule.step_ms(u32::MAX), 2000);
    }

    #[test]
    fn jitter_takes_off_at_most_its_share() {
        let schedule = RetrySchedule {
            jitter: Some(0.5),
            ..steps(&[1000])
        };
        assert_eq!(schedule.delay_ms(1, 0.0), 1000);
        assert_eq!(schedule.delay_ms(1, 1.0), 500);
        assert_eq!(schedule.delay_ms(1, 0.5), 750);
    }

    #[test]
    fn fairness_groups_by_key_or_an_attribute_with_weights_in_range() {
        let fair = |by: &str| Fairness {
            by: by.into(),
            weights: BTreeMap::new(),
            default_weight: 1,
        };
        assert_eq!(fair("key").group_by(), Some(GroupBy::Key));
        assert_eq!(
            fair("attribute:tenant").group_by(),
            Some(GroupBy::Attribute("tenant"))
        );
        for bad in ["", "attribute:", "keys", "payload.tenant"] {
            assert_eq!(fair(bad).validate().unwrap_err().0, "fairness.by", "{bad}");
        }
        let mut weighted = fair("key");
        weighted.weights.insert("big".into(), 0);
        assert_eq!(weighted.validate().unwrap_err().0, "fairness.weights");
        weighted.weights.insert("big".into(), 1000);
        assert!(weighted.validate().is_ok());
        weighted.default_weight = 1001;
        assert_eq!(
            weighted.validate().unwrap_err().0,
            "fairness.default_weight"
        );
        let parsed: Fairness = serde_json::from_str(r#"{"by":"key"}"#).unwrap();
        assert_eq!(parsed.default_weight, 1);
    }

    #[test]
    fn a_schedule_reads_in_words() {
        let ms = |ms: u64| format!("{ms}ms");
        assert_eq!(steps(&[1, 2]).describe(ms), "1ms, 2ms (the last repeats)");
        let grows = RetrySchedule {
            initial_ms: Some(100),
            max_ms: Some(800),
            jitter: Some(0.25),
            ..Default::default()
        };
        assert_eq!(
            grows.describe(ms),
            "100ms ×2 up to 800ms, up to 25% less at random"
        );
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let field = |schedule: RetrySchedule| schedule.validate().unwrap_err().0;
        assert_eq!(field(RetrySchedule::default()), "retry");
        assert_eq!(field(steps(&[])), "retry.backoff_ms");
        assert_eq!(field(steps(&[MAX_RETRY_STEP_MS + 1])), "retry.backoff_ms");
        let both = RetrySchedule {
            initial_ms: Some(1),
            ..steps(&[1])
        };
        assert_eq!(field(both), "retry");
        let below = RetrySchedule {
            initial_ms: Some(10),
            max_ms: Some(5),
            ..Default::default()
        };
        assert_eq!(field(below), "retry.max_ms");
        let multiplier = RetrySchedule {
            initial_ms: Some(10),
            multiplier: Some(0.5),
            ..Default::default()
        };
        assert_eq!(field(multiplier), "retry.multiplier");
        let jitter = RetrySchedule {
            jitter: Some(1.5),
            ..steps(&[1])
        };
        assert_eq!(field(jitter), "retry.jitter");
        assert!(steps(&[1000, 2000]).validate().is_ok());
    }
}
