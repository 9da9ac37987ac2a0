//! Topic archives: retention sweeps, archive points (position or time) resolved to
//! positions, and the draft-filter preview over the newest archived messages.

use std::collections::HashMap;

use switchyard_client::{ArchivePoint, PreviewRequest, PreviewResponse};

use super::delivery::payload_fields;
use super::filter::{Envelope, Filter};
use super::{Broker, BrokerError, format_id};
use crate::storage::{
    ArchiveHead, ArchiveId, ArchiveRetention, ArchivedMessage, Op, StoredMessage,
};

/// Most archived messages one trim op drops (each op is one bounded write).
const TRIM_BATCH: usize = 4096;
/// Most trim ops per archive per sweep.
const TRIM_ROUNDS: usize = 8;
/// Default and largest number of messages a preview tests.
const PREVIEW_DEFAULT: u32 = 100;
const PREVIEW_MAX: u32 = 10_000;
/// Payload bytes one preview reads at most: it stops after the message that crosses it.
pub(crate) const PREVIEW_MAX_BYTES: u64 = 64 << 20;
/// Matching messages a preview shows.
const PREVIEW_EXAMPLES: usize = 5;

impl Broker {
    /// Applies archive retention: drops what is too old or over the size limit, and every
    /// message of archives that were turned off or whose topic was deleted. Bounded: at most
    /// `TRIM_ROUNDS` writes of `TRIM_BATCH` messages per archive per sweep.
    pub(crate) async fn trim_archives(&self, now: u64) {
        let policies: HashMap<ArchiveId, Option<ArchiveRetention>> = {
            let catalog = self.catalog();
            catalog
                .topics
                .values()
                .filter_map(|t| Some((t.archive_id?, t.archive)))
                .collect()
        };
        for (archive, head) in self.storage.archive_heads() {
            let policy = policies.get(&archive);
            let op = |limit| match policy {
                Some(Some(retention)) => Op::TrimArchive {
                    archive,
                    before_time_ms: retention.max_age_ms.map(|age| now.saturating_sub(age)),
                    max_bytes: retention.max_bytes,
                    all: false,
                    limit,
                    forget: false,
                },
                // Turned off (the id stays with the topic) or the topic is gone.
                _ => Op::TrimArchive {
                    archive,
                    before_time_ms: None,
                    max_bytes: None,
                    all: true,
                    limit,
                    forget: policy.is_none(),
                },
            };
            let keeps_all =
                matches!(policy, Some(Some(r)) if r.max_age_ms.is_none() && r.max_bytes.is_none());
            if keeps_all || (head.messages == 0 && policy.is_some()) {
                continue;
            }
            for _ in 0..TRIM_ROUNDS {
                match self.storage.write(vec![op(TRIM_BATCH)]).await {
                    Ok(outcomes) => {
                        let dropped = match outcomes.first() {
                            Some(crate::storage::OpOutcome::Count(n)) => *n,
                            _ => 0,
                        };
                        if dropped > 0 {
                            tracing::debug!(archive, dropped, "archive retention");
                        }
                        if dropped < TRIM_BATCH as u64 {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, archive, "archive retention sweep failed");
                        break;
                    }
                }
            }
        }
    }

    /// The archive of a topic whose archive is on.
    pub(crate) fn archive_of(&self, topic: &str) -> Result<ArchiveId, BrokerError> {
        let record = self.topic_record(topic)?;
        match (record.archive, record.archive_id) {
            (Some(_), Some(id)) => Ok(id),
            _ => Err(BrokerError::ArchiveNotEnabled {
                topic: topic.into(),
            }),
        }
    }

    /// The position an archive point names; a position must not lie beyond the archive's
    /// end (`head.next_position`). A time names the first message archived at or after it.
    pub(crate) async fn resolve_point(
        &self,
        archive: ArchiveId,
        point: ArchivePoint,
        head: &ArchiveHead,
        what: &str,
    ) -> Result<u64, BrokerError> {
        match point {
            ArchivePoint::Position(position) if position > head.next_position => {
                Err(BrokerError::InvalidRange {
                    reason: format!(
                        "{what} position {position} is beyond the end of the archive ({})",
                        head.next_position
                    ),
                })
            }
            ArchivePoint::Position(position) => Ok(position),
            ArchivePoint::TimeMs(time) => {
                let storage = self.storage.clone();
                let position =
                    tokio::task::spawn_blocking(move || storage.archive_position_at(archive, time))
                        .await
                        .expect("reading the archive does not panic")?;
                Ok(position)
            }
        }
    }

    /// Tests a draft filter against the newest archived messages of a topic. Reads only.
    pub async fn preview(
        &self,
        topic: &str,
        request: PreviewRequest,
    ) -> Result<PreviewResponse, BrokerError> {
        let filter = Filter::compile(&request.filter)?;
        let limit = request.limit.unwrap_or(PREVIEW_DEFAULT);
        if !(1..=PREVIEW_MAX).contains(&limit) {
            return Err(BrokerError::InvalidSetting {
                name: "limit",
                reason: format!("{limit} is outside 1..={PREVIEW_MAX}"),
            });
        }
        let archive = self.archive_of(topic)?;
        let storage = self.storage.clone();
        // Reading and matching run off the async threads, one message at a time.
        tokio::task::spawn_blocking(move || {
            let (mut scanned, mut matched) = (0, 0);
            let mut examples = Vec::new();
            let byte_limit_reached = storage.scan_archive_newest(
                archive,
                limit as usize,
                PREVIEW_MAX_BYTES,
                |archived| {
                    scanned += 1;
                    if matches(&filter, &archived.message) {
                        matched += 1;
                        if examples.len() < PREVIEW_EXAMPLES {
                            examples.push(archived_view(archived));
                        }
                    }
                },
            )?;
            Ok(PreviewResponse {
                scanned,
                matched,
                examples,
                byte_limit_reached,
            })
        })
        .await
        .expect("previewing does not panic")
    }
}

/// Whether a stored message passes a filter.
pub(crate) fn matches(filter: &Filter, message: &StoredMessage) -> bool {
    let parsed = if filter.reads_payload() && message.is_json {
        serde_json::from_slice::<serde_json::Value>(&message.payload).ok()
    } else {
        None
    };
    filter.matches(&Envelope {
        payload: parsed.as_ref(),
        attributes: &message.attributes,
        key: message.key.as_deref(),
    })
}

fn archived_view(archived: ArchivedMessage) -> switchyard_client::ArchivedMessage {
    let body = archived.message;
    let (payload, payload_base64) = payload_fields(body.is_json, body.payload);
    switchyard_client::ArchivedMessage {
        position: archived.position,
        time_ms: archived.time_ms,
        id: format_id(archived.id),
        payload,
        payload_base64,
        attributes: body.attributes,
        key: body.key,
        published_at_ms: body.published_at_ms,
    }
}
