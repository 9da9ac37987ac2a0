//! Alarms: a condition on a queue's or a consumer's metric that fires once it has held for
//! `for_ms` and resolves when it stops holding. Definitions are durable (with the state of
//! their last transition, so a restart neither fires an alarm twice nor forgets one that
//! fired); an evaluator ([`Alarms::run`]) looks at every alarm once a second, and each
//! transition is published as an ordinary message to the topic `switchyard.alarms` (made at
//! start, never deleted), payload [`AlarmEvent`], attribute `level`. Knows the broker and the
//! dispatcher; neither HTTP nor redb.

mod evaluate;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use switchyard_client::{
    ALARMS_TOPIC, Alarm, AlarmEvent, AlarmMetric, AlarmState, CreateAlarm, PatchAlarm,
    PublishMessage,
};

use crate::broker::{Broker, BrokerError, MAX_RETENTION_MS, now_ms, validate_name};
use crate::dispatcher::{Dispatcher, DispatcherError};
use crate::storage::{AlarmOp, AlarmRecord, Op};

/// Most alarms a server keeps.
const MAX_ALARMS: usize = 1000;
/// Longest `for_ms`: a day.
const MAX_FOR_MS: u64 = 24 * 60 * 60 * 1000;

/// Why an alarm request was refused or failed. Refusals change nothing.
#[derive(Debug, thiserror::Error)]
pub enum AlarmError {
    /// The definition is malformed (400).
    #[error("invalid alarm: {reason}")]
    Invalid {
        /// Why.
        reason: String,
    },
    /// An alarm by that name exists (409).
    #[error("alarm {name:?} already exists")]
    Exists {
        /// The name.
        name: String,
    },
    /// No such alarm (404).
    #[error("alarm {name:?} does not exist")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The broker refused or failed (a queue that does not exist, storage).
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The dispatcher refused (a consumer that does not exist).
    #[error(transparent)]
    Dispatcher(#[from] DispatcherError),
}

impl AlarmError {
    /// The API's stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AlarmError::Invalid { .. } => "invalid_alarm",
            AlarmError::Exists { .. } => "alarm_exists",
            AlarmError::NotFound { .. } => "alarm_not_found",
            AlarmError::Broker(error) => error.code(),
            AlarmError::Dispatcher(error) => error.code(),
        }
    }
}

fn check_threshold(threshold: f64) -> Result<(), AlarmError> {
    if threshold.is_finite() {
        Ok(())
    } else {
        Err(invalid("threshold must be a finite number"))
    }
}

fn check_for_ms(for_ms: u64) -> Result<(), AlarmError> {
    if for_ms > MAX_FOR_MS {
        return Err(invalid(format!(
            "for_ms {for_ms} is over the maximum of {MAX_FOR_MS} (a day)"
        )));
    }
    Ok(())
}

fn invalid(reason: impl Into<String>) -> AlarmError {
    AlarmError::Invalid {
        reason: reason.into(),
    }
}

/// One alarm: its definition and where its evaluation stands.
struct Watched {
    record: AlarmRecord,
    metric: AlarmMetric,
    /// Since when the condition has held, while it does.
    breaching_since_ms: Option<u64>,
    /// The metric at the last evaluation.
    value: Option<f64>,
    evaluated_at_ms: Option<u64>,
}

impl Watched {
    fn new(record: AlarmRecord) -> Option<Self> {
        let metric = AlarmMetric::parse(&record.metric).ok()?;
        Some(Self {
            record,
            metric,
            breaching_since_ms: None,
            value: None,
            evaluated_at_ms: None,
        })
    }

    fn state(&self) -> AlarmState {
        if self.record.firing {
            AlarmState::Firing
        } else if self.breaching_since_ms.is_some() {
            AlarmState::Pending
        } else {
            AlarmState::Ok
        }
    }

    fn view(&self) -> Alarm {
        let record = &self.record;
        Alarm {
            name: record.name.clone(),
            queue: record.queue.clone(),
            consumer: record.consumer.clone(),
            metric: record.metric.clone(),
            threshold: record.threshold,
            comparison: record.comparison,
            for_ms: record.for_ms,
            level: record.level,
            state: self.state(),
            value: self.value,
            breaching_since_ms: self.breaching_since_ms,
            evaluated_at_ms: self.evaluated_at_ms,
            last_transition: record.last_transition.clone(),
            created_at_ms: record.created_at_ms,
        }
    }

    /// The queue access to this alarm is decided on.
    fn access_queue(&self) -> &str {
        self.record
            .queue
            .as_deref()
            .or(self.record.consumer_queue.as_deref())
            .unwrap_or_default()
    }
}

/// The alarms of a server and their evaluation.
pub struct Alarms {
    broker: Arc<Broker>,
    dispatcher: Arc<Dispatcher>,
    /// Serializes changes to definitions and transitions across their durable writes.
    admin: tokio::sync::Mutex<()>,
    alarms: Mutex<BTreeMap<String, Watched>>,
    samples: Mutex<evaluate::Samples>,
}

impl Alarms {
    /// Loads the alarms and makes the topic `switchyard.alarms` if it does not exist. The
    /// evaluation runs in [`Alarms::run`].
    pub async fn open(
        broker: Arc<Broker>,
        dispatcher: Arc<Dispatcher>,
    ) -> Result<Arc<Self>, AlarmError> {
        let storage = broker.storage().clone();
        let records = tokio::task::spawn_blocking(move || storage.read_alarms())
            .await
            .expect("reading alarms does not panic")
            .map_err(BrokerError::from)?;
        let mut alarms = BTreeMap::new();
        for record in records {
            let name = record.name.clone();
            match Watched::new(record) {
                Some(watched) => {
                    alarms.insert(name, watched);
                }
                None => {
                    tracing::error!(alarm = %name, "a stored alarm's metric is unknown; it is not evaluated")
                }
            }
        }
        match broker.create_topic(ALARMS_TOPIC, None).await {
            Ok(_) | Err(BrokerError::TopicExists { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        Ok(Arc::new(Self {
            broker,
            dispatcher,
            admin: tokio::sync::Mutex::new(()),
            alarms: Mutex::new(alarms),
            samples: Mutex::default(),
        }))
    }

    fn alarms(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Watched>> {
        self.alarms.lock().expect("alarms lock")
    }

    /// The queue access to a new alarm is decided on: its queue, or its consumer's queue
    /// (the consumer must exist).
    pub fn access_queue_of(&self, request: &CreateAlarm) -> Result<String, AlarmError> {
        match (&request.queue, &request.consumer) {
            (Some(queue), None) => Ok(queue.clone()),
            (None, Some(consumer)) => Ok(self.dispatcher.get_consumer(consumer)?.queue),
            _ => Err(invalid("name exactly one of queue and consumer")),
        }
    }

    /// The queue access to an existing alarm is decided on.
    pub fn access_queue(&self, name: &str) -> Result<String, AlarmError> {
        self.alarms()
            .get(name)
            .map(|w| w.access_queue().to_string())
            .ok_or_else(|| AlarmError::NotFound { name: name.into() })
    }

    /// Creates an alarm; it is evaluated from the next second on.
    pub async fn create(&self, request: CreateAlarm) -> Result<Alarm, AlarmError> {
        validate_name("alarm", &request.name)?;
        let metric = AlarmMetric::parse(&request.metric).map_err(invalid)?;
        let consumer_queue = match (&request.queue, &request.consumer) {
            (Some(queue), None) => {
                if metric.of_consumer() {
                    return Err(invalid(format!(
                        "{} is a consumer's metric; name the consumer instead of a queue",
                        request.metric
                    )));
                }
                self.broker.get_queue(queue)?;
                None
            }
            (None, Some(consumer)) => {
                if !metric.of_consumer() {
                    return Err(invalid(format!(
                        "{} is a queue's metric; name the queue instead of a consumer",
                        request.metric
                    )));
                }
                Some(self.dispatcher.get_consumer(consumer)?.queue)
            }
            _ => return Err(invalid("name exactly one of queue and consumer")),
        };
        if let AlarmMetric::StuckOverMs(ms) = metric
            && ms > MAX_RETENTION_MS
        {
            return Err(invalid(format!(
                "stuck_over_ms:{ms} is over 14 days, longer than any message is kept"
            )));
        }
        check_threshold(request.threshold)?;
        let for_ms = request.for_ms.unwrap_or(0);
        check_for_ms(for_ms)?;
        let record = AlarmRecord {
            name: request.name,
            queue: request.queue,
            consumer: request.consumer,
            consumer_queue,
            metric: metric.name(),
            threshold: request.threshold,
            comparison: request.comparison.unwrap_or_default(),
            for_ms,
            level: request.level,
            firing: false,
            last_transition: None,
            created_at_ms: now_ms(),
        };
        let _admin = self.admin.lock().await;
        {
            let alarms = self.alarms();
            if alarms.contains_key(&record.name) {
                return Err(AlarmError::Exists { name: record.name });
            }
            if alarms.len() >= MAX_ALARMS {
                return Err(invalid(format!(
                    "the server keeps at most {MAX_ALARMS} alarms; delete one first"
                )));
            }
        }
        self.write(AlarmOp::Put(record.clone())).await?;
        let watched = Watched {
            record,
            metric,
            breaching_since_ms: None,
            value: None,
            evaluated_at_ms: None,
        };
        let view = watched.view();
        self.alarms().insert(view.name.clone(), watched);
        Ok(view)
    }

    /// Every alarm with its state, by name.
    pub fn list(&self, may_read: impl Fn(&str) -> bool) -> Vec<Alarm> {
        self.alarms()
            .values()
            .filter(|w| may_read(w.access_queue()))
            .map(Watched::view)
            .collect()
    }

    /// One alarm with its state.
    pub fn get(&self, name: &str) -> Result<Alarm, AlarmError> {
        self.alarms()
            .get(name)
            .map(Watched::view)
            .ok_or_else(|| AlarmError::NotFound { name: name.into() })
    }

    /// Changes an alarm's condition (threshold, comparison, `for_ms`, level). Its state stays;
    /// the time its condition has held counts again from the next evaluation, which fires or
    /// resolves it by the new condition.
    pub async fn patch(&self, name: &str, patch: PatchAlarm) -> Result<Alarm, AlarmError> {
        if let Some(threshold) = patch.threshold {
            check_threshold(threshold)?;
        }
        if let Some(for_ms) = patch.for_ms {
            check_for_ms(for_ms)?;
        }
        let _admin = self.admin.lock().await;
        let mut record = self
            .alarms()
            .get(name)
            .map(|w| w.record.clone())
            .ok_or_else(|| AlarmError::NotFound { name: name.into() })?;
        record.threshold = patch.threshold.unwrap_or(record.threshold);
        record.comparison = patch.comparison.unwrap_or(record.comparison);
        record.for_ms = patch.for_ms.unwrap_or(record.for_ms);
        record.level = patch.level.unwrap_or(record.level);
        self.write(AlarmOp::Put(record.clone())).await?;
        let mut alarms = self.alarms();
        let watched = alarms.get_mut(name).expect("changes hold the admin lock");
        watched.record = record;
        watched.breaching_since_ms = None;
        Ok(watched.view())
    }

    /// Deletes an alarm; from the moment this answers it publishes nothing more.
    pub async fn delete(&self, name: &str) -> Result<(), AlarmError> {
        let _admin = self.admin.lock().await;
        if !self.alarms().contains_key(name) {
            return Err(AlarmError::NotFound { name: name.into() });
        }
        self.write(AlarmOp::Delete { name: name.into() }).await?;
        self.alarms().remove(name);
        Ok(())
    }

    async fn write(&self, op: AlarmOp) -> Result<(), AlarmError> {
        self.broker
            .storage()
            .write(vec![Op::Alarm(op)])
            .await
            .map_err(BrokerError::from)?;
        Ok(())
    }

    /// Publishes one transition to `switchyard.alarms`; returns the message id.
    async fn publish(&self, event: &AlarmEvent) -> Result<String, BrokerError> {
        let message = PublishMessage::json(event)
            .expect("an alarm event serializes")
            .attribute("level", event.level.as_str())
            .attribute("alarm", event.alarm.clone())
            .attribute(
                "state",
                match event.state {
                    switchyard_client::Transition::Firing => "firing",
                    switchyard_client::Transition::Resolved => "resolved",
                },
            );
        let mut ids = self
            .broker
            .publish(ALARMS_TOPIC, vec![message], false)
            .await?;
        Ok(ids.pop().unwrap_or_default())
    }
}
