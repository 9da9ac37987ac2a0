//! The client's calls for the task monitor and alarms.

use crate::http::segment;
use crate::{
    Alarm, AlarmList, Client, ClientError, CreateAlarm, Method, MonitorReport, PatchAlarm,
    StuckMessages,
};

impl Client {
    /// `GET /v1/monitor`: stuck messages and long invocations, per queue and consumer.
    pub async fn monitor(&self) -> Result<MonitorReport, ClientError> {
        self.get("/v1/monitor").await
    }

    /// `GET /v1/monitor/{queue}`: a queue's messages that have waited or been in flight at
    /// least `over_ms` (default: its smallest threshold), oldest id first, after `after`.
    pub async fn stuck_messages(
        &self,
        queue: &str,
        over_ms: Option<u64>,
        limit: Option<u32>,
        after: Option<&str>,
    ) -> Result<StuckMessages, ClientError> {
        let mut query = Vec::new();
        if let Some(over_ms) = over_ms {
            query.push(format!("over_ms={over_ms}"));
        }
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        if let Some(after) = after {
            query.push(format!("after={}", segment(after)));
        }
        let mut path = format!("/v1/monitor/{}", segment(queue));
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        self.get(&path).await
    }

    /// Creates an alarm.
    pub async fn create_alarm(&self, alarm: &CreateAlarm) -> Result<Alarm, ClientError> {
        self.post("/v1/alarms", alarm).await
    }

    /// Every alarm with its state and last transition.
    pub async fn list_alarms(&self) -> Result<Vec<Alarm>, ClientError> {
        Ok(self.get::<AlarmList>("/v1/alarms").await?.alarms)
    }

    /// One alarm with its state.
    pub async fn get_alarm(&self, name: &str) -> Result<Alarm, ClientError> {
        self.get(&format!("/v1/alarms/{}", segment(name))).await
    }

    /// Changes an alarm's threshold, comparison, `for_ms` or level.
    pub async fn patch_alarm(&self, name: &str, patch: &PatchAlarm) -> Result<Alarm, ClientError> {
        let path = format!("/v1/alarms/{}", segment(name));
        self.call(Method::PATCH, &path, Some(patch)).await
    }

    /// Deletes an alarm (a firing one publishes nothing more).
    pub async fn delete_alarm(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&format!("/v1/alarms/{}", segment(name))).await
    }
}
