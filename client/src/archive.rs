//! The client's calls for topic archives: archived topics, replay jobs and filter
//! previews.

use crate::http::segment;
use crate::{
    ArchiveSettings, Client, ClientError, CreateTopic, Method, PatchTopic, PreviewRequest,
    PreviewResponse, Replay, ReplayList, StartReplay, Topic,
};

impl Client {
    /// Creates a topic that keeps an archive with this retention.
    pub async fn create_archived_topic(
        &self,
        name: &str,
        archive: ArchiveSettings,
    ) -> Result<Topic, ClientError> {
        let body = CreateTopic {
            name: name.into(),
            archive: Some(archive),
        };
        self.post("/v1/topics", &body).await
    }

    /// Changes a topic: turns its archive on, changes its retention, or (`Some(None)`)
    /// turns it off.
    pub async fn patch_topic(&self, name: &str, patch: &PatchTopic) -> Result<Topic, ClientError> {
        let path = format!("/v1/topics/{}", segment(name));
        self.call(Method::PATCH, &path, Some(patch)).await
    }

    /// Starts a replay job of a topic's archive into a queue.
    pub async fn start_replay(
        &self,
        topic: &str,
        request: &StartReplay,
    ) -> Result<Replay, ClientError> {
        let path = format!("/v1/topics/{}/replays", segment(topic));
        self.post(&path, request).await
    }

    /// Lists replay jobs.
    pub async fn list_replays(&self) -> Result<Vec<Replay>, ClientError> {
        Ok(self.get::<ReplayList>("/v1/replays").await?.replays)
    }

    /// One replay job with its progress.
    pub async fn get_replay(&self, id: &str) -> Result<Replay, ClientError> {
        self.get(&format!("/v1/replays/{}", segment(id))).await
    }

    /// Cancels a running replay job; answers with the job as it stopped.
    pub async fn cancel_replay(&self, id: &str) -> Result<Replay, ClientError> {
        let path = format!("/v1/replays/{}", segment(id));
        self.call::<(), Replay>(Method::DELETE, &path, None).await
    }

    /// Tests a draft filter against the newest archived messages of a topic.
    pub async fn preview_filter(
        &self,
        topic: &str,
        request: &PreviewRequest,
    ) -> Result<PreviewResponse, ClientError> {
        let path = format!("/v1/topics/{}/preview", segment(topic));
        self.post(&path, request).await
    }
}
