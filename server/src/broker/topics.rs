//! Topics: create, inspect, change (the archive setting), delete. Every change is durable
//! before the catalog in memory shows it.

use std::sync::atomic::Ordering;

use switchyard_client::{ArchiveSettings, ArchiveStats, PatchTopic, Topic};

use super::{Broker, BrokerError, now_ms, validate_name};
use crate::storage::{ArchiveHead, ArchiveRetention, Op, TopicRecord};

/// Shortest archive age limit: one second.
const MIN_ARCHIVE_AGE_MS: u64 = 1000;
/// Longest archive age limit: one year.
const MAX_ARCHIVE_AGE_MS: u64 = 365 * 24 * 60 * 60 * 1000;

impl Broker {
    /// Creates a topic, with an archive when `archive` is given.
    pub async fn create_topic(
        &self,
        name: &str,
        archive: Option<ArchiveSettings>,
    ) -> Result<Topic, BrokerError> {
        validate_name("topic", name)?;
        let retention = archive.map(check_retention).transpose()?;
        let _admin = self.admin.lock().await;
        if self.catalog().topics.contains_key(name) {
            return Err(BrokerError::TopicExists { name: name.into() });
        }
        let record = TopicRecord {
            name: name.into(),
            created_at_ms: now_ms(),
            archive_id: retention.map(|_| self.next_archive_id.fetch_add(1, Ordering::Relaxed)),
            archive: retention,
        };
        let (subscriptions, published) = self.save_topic(&record).await?;
        Ok(self.topic_view(&record, subscriptions, published))
    }

    /// Stores a topic record and shows it in the catalog; returns its subscription and
    /// publish counts.
    async fn save_topic(&self, record: &TopicRecord) -> Result<(usize, u64), BrokerError> {
        self.storage
            .write(vec![Op::PutTopic(record.clone())])
            .await?;
        let mut catalog = self.catalog_mut();
        catalog.topics.insert(record.name.clone(), record.clone());
        catalog.rebuild_routes(&record.name);
        Ok(catalog.counts(&record.name))
    }

    /// Turns a topic's archive on, changes its retention, or turns it off. Turned off, the
    /// archive keeps its id, so positions go on counting if it is turned on again; what it
    /// held is dropped by housekeeping. A lower limit applies at the next sweep.
    pub async fn patch_topic(&self, name: &str, patch: PatchTopic) -> Result<Topic, BrokerError> {
        let retention = match patch.archive {
            Some(Some(settings)) => Some(Some(check_retention(settings)?)),
            Some(None) => Some(None),
            None => None,
        };
        let _admin = self.admin.lock().await;
        let mut record = self.topic_record(name)?;
        if let Some(retention) = retention {
            if retention.is_some() && record.archive_id.is_none() {
                record.archive_id = Some(self.next_archive_id.fetch_add(1, Ordering::Relaxed));
            }
            record.archive = retention;
        }
        let (subscriptions, published) = self.save_topic(&record).await?;
        Ok(self.topic_view(&record, subscriptions, published))
    }

    /// All topics, by name.
    pub fn list_topics(&self) -> Vec<Topic> {
        let catalog = self.catalog();
        catalog
            .topics
            .values()
            .map(|t| {
                let (subscriptions, published) = catalog.counts(&t.name);
                self.topic_view(t, subscriptions, published)
            })
            .collect()
    }

    /// One topic, with its archive's stats.
    pub fn get_topic(&self, name: &str) -> Result<Topic, BrokerError> {
        let catalog = self.catalog();
        let topic = catalog
            .topics
            .get(name)
            .ok_or_else(|| BrokerError::TopicNotFound { name: name.into() })?;
        let (subscriptions, published) = catalog.counts(name);
        Ok(self.topic_view(topic, subscriptions, published))
    }

    /// Deletes a topic and its subscriptions; queues and their messages stay. Its archive
    /// is dropped by housekeeping.
    pub async fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        if name == switchyard_client::ALARMS_TOPIC {
            return Err(BrokerError::TopicProtected {
                name: name.into(),
                why: "every alarm transition is published to it",
            });
        }
        let _admin = self.admin.lock().await;
        let subscriptions: Vec<String> = {
            let catalog = self.catalog();
            if !catalog.topics.contains_key(name) {
                return Err(BrokerError::TopicNotFound { name: name.into() });
            }
            catalog
                .subscriptions
                .values()
                .filter(|s| s.topic == name)
                .map(|s| s.id.clone())
                .collect()
        };
        let mut ops = vec![Op::DeleteTopic { name: name.into() }];
        ops.extend(
            subscriptions
                .iter()
                .map(|id| Op::DeleteSubscription { id: id.clone() }),
        );
        self.storage.write(ops).await?;
        let mut catalog = self.catalog_mut();
        catalog.topics.remove(name);
        catalog.routes.remove(name);
        for id in &subscriptions {
            catalog.subscriptions.remove(id);
        }
        Ok(())
    }

    pub(crate) fn topic_record(&self, name: &str) -> Result<TopicRecord, BrokerError> {
        self.catalog()
            .topics
            .get(name)
            .cloned()
            .ok_or_else(|| BrokerError::TopicNotFound { name: name.into() })
    }

    fn topic_view(&self, record: &TopicRecord, subscriptions: usize, published: u64) -> Topic {
        // Stats show while the archive is on, and while a turned-off one is being emptied.
        let head = record
            .archive_id
            .and_then(|id| self.storage.archive_head(id));
        let show = record.archive.is_some() || head.is_some_and(|h| h.messages > 0);
        let archive_stats = show.then(|| stats_view(&head.unwrap_or_default()));
        Topic {
            name: record.name.clone(),
            created_at_ms: record.created_at_ms,
            subscriptions: subscriptions as u64,
            archive: record.archive.map(|r| ArchiveSettings {
                max_age_ms: r.max_age_ms,
                max_bytes: r.max_bytes,
            }),
            archive_stats,
            published,
        }
    }
}

fn check_retention(settings: ArchiveSettings) -> Result<ArchiveRetention, BrokerError> {
    if let Some(age) = settings.max_age_ms
        && !(MIN_ARCHIVE_AGE_MS..=MAX_ARCHIVE_AGE_MS).contains(&age)
    {
        return Err(BrokerError::InvalidSetting {
            name: "archive.max_age_ms",
            reason: format!(
                "{age} is outside {MIN_ARCHIVE_AGE_MS}..={MAX_ARCHIVE_AGE_MS} (1 s to 365 days)"
            ),
        });
    }
    if settings.max_bytes == Some(0) {
        return Err(BrokerError::InvalidSetting {
            name: "archive.max_bytes",
            reason: "must be at least 1; turn the archive off with \"archive\": null".into(),
        });
    }
    Ok(ArchiveRetention {
        max_age_ms: settings.max_age_ms,
        max_bytes: settings.max_bytes,
    })
}

pub(crate) fn stats_view(head: &ArchiveHead) -> ArchiveStats {
    let any = head.messages > 0;
    ArchiveStats {
        messages: head.messages,
        bytes: head.bytes,
        first_position: any.then_some(head.first_position),
        last_position: any.then(|| head.next_position - 1),
        first_time_ms: any.then_some(head.first_time_ms),
        last_time_ms: any.then_some(head.last_time_ms),
        next_position: head.next_position,
    }
}
