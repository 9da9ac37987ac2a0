//! `/v1/monitor`: per queue, the messages that have waited or been in flight longer than
//! each of its thresholds, and per consumer the invocations running that long;
//! `/v1/monitor/{queue}` lists a queue's stuck messages.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use switchyard_client::{Action, Kind, MonitorReport, StuckMessages};

use super::auth::{Caller, Need, Routes};
use super::{ApiError, ApiJson, DispatcherState};
use crate::broker::now_ms;

/// Reading the monitor needs `read` on some queue: the report lists the queues and the
/// consumers the token may read; a queue's stuck messages need `read` on the queue.
pub(super) fn routes() -> Routes<DispatcherState> {
    Routes::new()
        .get(
            "/monitor",
            Need::some(Action::Read, Kind::Queue),
            get_monitor,
        )
        .get(
            "/monitor/{queue}",
            Need::on(Action::Read, Kind::Queue, "queue"),
            get_stuck_messages,
        )
}

async fn get_monitor(
    State(dispatcher): State<DispatcherState>,
    caller: Caller,
) -> ApiJson<MonitorReport> {
    let at_ms = now_ms();
    let queues = dispatcher
        .broker()
        .monitor_queues(|name| caller.may(Action::Read, Kind::Queue, name))
        .await;
    let consumers =
        dispatcher.monitor_consumers(|name| caller.may(Action::Read, Kind::Consumer, name));
    ApiJson(MonitorReport {
        at_ms,
        queues,
        consumers,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StuckQuery {
    over_ms: Option<u64>,
    limit: Option<u32>,
    after: Option<String>,
}

async fn get_stuck_messages(
    State(dispatcher): State<DispatcherState>,
    Path(queue): Path<String>,
    query: Result<Query<StuckQuery>, QueryRejection>,
) -> Result<ApiJson<StuckMessages>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid_body(e.body_text()))?;
    let stuck = dispatcher
        .broker()
        .stuck_messages(&queue, query.over_ms, query.after.as_deref(), query.limit)
        .await?;
    Ok(ApiJson(stuck))
}
