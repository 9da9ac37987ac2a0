//! The typed HTTP client (reqwest) over the wire types; behind the default `http` feature so
//! the wire types alone compile for the browser console.

pub use reqwest::{Method, StatusCode};

use crate::wire::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What can go wrong talking to a Switchyard server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{status}: {code}: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// Stable error code, such as `queue_not_found`.
        code: String,
        /// In words.
        message: String,
    },
    /// The request did not get an answer.
    #[error("cannot reach the server at {url}: {source}")]
    Transport {
        /// The request URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not what the protocol says.
    #[error("unexpected answer from {url} ({status}): {detail}")]
    Protocol {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: StatusCode,
        /// What was wrong with it.
        detail: String,
    },
}

impl ClientError {
    /// The API error code, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::Protocol { status, .. } => Some(*status),
            ClientError::Transport { .. } => None,
        }
    }
}

/// A typed client of one Switchyard server. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// `Bearer <token>`, sent with every request when set.
    authorization: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: say whether there is one, never what it is.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client of the server at `base_url`, such as `http://127.0.0.1:7700`.
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("a plain-HTTP reqwest client always builds");
        Self::with_http(base_url, http)
    }

    /// A client that uses the given `reqwest::Client` (for custom timeouts or pools).
    pub fn with_http(base_url: impl Into<String>, http: reqwest::Client) -> Self {
        let base = base_url.into().trim_end_matches('/').to_string();
        Self {
            base,
            http,
            authorization: None,
        }
    }

    /// This client, sending `Authorization: Bearer <token>` with every request.
    pub fn with_token(mut self, token: impl AsRef<str>) -> Self {
        self.authorization = Some(format!("Bearer {}", token.as_ref().trim()));
        self
    }

    /// The `Authorization` header value this client sends (`Bearer <token>`), if any.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// A request with the client's credentials.
    pub fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.authorization {
            Some(value) => request.header(reqwest::header::AUTHORIZATION, value),
            None => request,
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request with an optional JSON body and decodes the JSON answer.
    pub async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut request = self.request(method, &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?;
        decode(url, response).await
    }

    /// Sends raw bytes with a content type and decodes the JSON answer.
    pub async fn call_bytes<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{}", self.base, path);
        let response = self
            .request(method, &url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                source,
            })?;
        decode(url, response).await
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>(Method::GET, path, None).await
    }

    pub(crate) async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.call::<(), serde_json::Value>(Method::DELETE, path, None)
            .await
            .map(drop)
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let url = format!("{}/metrics", self.base);
        let transport = |source| ClientError::Transport {
            url: url.clone(),
            source,
        };
        let response = self
            .request(Method::GET, &url)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ClientError::Protocol {
                url,
                status,
                detail: text.chars().take(200).collect(),
            });
        }
        Ok(text)
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/healthz").await
    }

    // ------------------------------------------------------------ topics

    /// Creates a topic.
    pub async fn create_topic(&self, name: &str) -> Result<Topic, ClientError> {
        let body = CreateTopic {
            name: name.into(),
            archive: None,
        };
        self.post("/v1/topics", &body).await
    }

    /// Lists topics.
    pub async fn list_topics(&self) -> Result<Vec<Topic>, ClientError> {
        Ok(self.get::<TopicList>("/v1/topics").await?.topics)
    }

    /// Gets one topic.
    pub async fn get_topic(&self, name: &str) -> Result<Topic, ClientError> {
        self.get(&format!("/v1/topics/{}", segment(name))).await
    }

    /// Deletes a topic and its subscriptions (queues and their messages stay).
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&format!("/v1/topics/{}", segment(name))).await
    }

    /// Publishes one message to a topic; returns its id once it is durable.
    pub async fn publish(
        &self,
        topic: &str,
        message: &PublishMessage,
    ) -> Result<String, ClientError> {
        let path = format!("/v1/topics/{}/messages", segment(topic));
        Ok(self.post::<_, Published>(&path, message).await?.id)
    }

    /// Publishes a batch to a topic; returns the ids in order once all are durable.
    pub async fn publish_batch(
        &self,
        topic: &str,
        messages: &PublishBatch,
    ) -> Result<Vec<String>, ClientError> {
        let path = format!("/v1/topics/{}/batch", segment(topic));
        Ok(self.post::<_, PublishedBatch>(&path, messages).await?.ids)
    }

    // ------------------------------------------------------------ queues

    /// Creates a queue.
    pub async fn create_queue(&self, queue: &CreateQueue) -> Result<Queue, ClientError> {
        self.post("/v1/queues", queue).await
    }

    /// Lists queues with their stats.
    pub async fn list_queues(&self) -> Result<Vec<Queue>, ClientError> {
        Ok(self.get::<QueueList>("/v1/queues").await?.queues)
    }

    /// Gets one queue with live stats.
    pub async fn get_queue(&self, name: &str) -> Result<Queue, ClientError> {
        self.get(&format!("/v1/queues/{}", segment(name))).await
    }

    /// Changes a queue's settings.
    pub async fn patch_queue(&self, name: &str, patch: &PatchQueue) -> Result<Queue, ClientError> {
        let path = format!("/v1/queues/{}", segment(name));
        self.call(Method::PATCH, &path, Some(patch)).await
    }

    /// Deletes a queue, its messages and the subscriptions that feed it.
    pub async fn delete_queue(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&format!("/v1/queues/{}", segment(name))).await
    }

    /// Sends one message straight to a queue.
    pub async fn send(&self, queue: &str, message: &PublishMessage) -> Result<String, ClientError> {
        let path = format!("/v1/queues/{}/messages", segment(queue));
        Ok(self.post::<_, Published>(&path, message).await?.id)
    }

    /// Sends a batch straight to a queue; returns the ids in order once all are durable.
    pub async fn send_batch(
        &self,
        queue: &str,
        messages: &PublishBatch,
    ) -> Result<Vec<String>, ClientError> {
        let path = format!("/v1/queues/{}/batch", segment(queue));
        Ok(self.post::<_, PublishedBatch>(&path, messages).await?.ids)
    }

    /// Receives up to `max_messages`, long-polling up to `wait_ms`.
    pub async fn receive(
        &self,
        queue: &str,
        request: &ReceiveRequest,
    ) -> Result<Vec<Message>, ClientError> {
        let path = format!("/v1/queues/{}/receive", segment(queue));
        Ok(self
            .post::<_, ReceiveResponse>(&path, request)
            .await?
            .messages)
    }

    /// Acks (deletes) received messages.
    pub async fn ack(
        &self,
        queue: &str,
        receipts: Vec<String>,
    ) -> Result<AckResponse, ClientError> {
        let path = format!("/v1/queues/{}/ack", segment(queue));
        self.post(&path, &AckRequest { receipts }).await
    }

    /// Returns received messages to the queue, visible again after `delay_ms`.
    pub async fn nack(
        &self,
        queue: &str,
        receipts: Vec<String>,
        delay_ms: Option<u64>,
    ) -> Result<NackResponse, ClientError> {
        let path = format!("/v1/queues/{}/nack", segment(queue));
        self.post(&path, &NackRequest { receipts, delay_ms }).await
    }

    /// Sets a received message's lease to end `visibility_timeout_ms` from now.
    pub async fn extend(
        &self,
        queue: &str,
        receipt: &str,
        visibility_timeout_ms: u64,
    ) -> Result<ExtendResponse, ClientError> {
        let path = format!("/v1/queues/{}/extend", segment(queue));
        let body = ExtendRequest {
            receipt: receipt.into(),
            visibility_timeout_ms,
        };
        self.post(&path, &body).await
    }

    /// Browses a queue without leasing: up to `limit` messages after id `after`.
    pub async fn peek(
        &self,
        queue: &str,
        limit: u32,
        after: Option<&str>,
    ) -> Result<Vec<Message>, ClientError> {
        let mut path = format!("/v1/queues/{}/messages?limit={limit}", segment(queue));
        if let Some(after) = after {
            path.push_str("&after=");
            path.push_str(&segment(after));
        }
        Ok(self.get::<PeekResponse>(&path).await?.messages)
    }

    /// Deletes every message in a queue.
    pub async fn purge(&self, queue: &str) -> Result<u64, ClientError> {
        let path = format!("/v1/queues/{}/purge", segment(queue));
        Ok(self
            .post::<_, PurgeResponse>(&path, &serde_json::json!({}))
            .await?
            .purged)
    }

    /// Starts moving ready dead letters back to their source queues (or to
    /// `destination`) in the background; answers the job as it started.
    pub async fn start_redrive(
        &self,
        queue: &str,
        request: &RedriveRequest,
    ) -> Result<RedriveJob, ClientError> {
        let path = format!("/v1/queues/{}/redrive", segment(queue));
        self.post(&path, request).await
    }

    /// Moves ready dead letters back (see [`Client::start_redrive`]) and waits until the
    /// job has ended; answers it as it ended.
    pub async fn redrive(
        &self,
        queue: &str,
        request: &RedriveRequest,
    ) -> Result<RedriveJob, ClientError> {
        let mut job = self.start_redrive(queue, request).await?;
        let mut pause = std::time::Duration::from_millis(5);
        while !job.state.is_finished() {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(200));
            job = self.get_redrive(queue, &job.id).await?;
        }
        Ok(job)
    }

    /// The last hour of queue and topic samples the token may read.
    pub async fn history(&self) -> Result<History, ClientError> {
        self.get("/v1/history").await
    }

    /// A redrive job of `queue`.
    pub async fn get_redrive(&self, queue: &str, id: &str) -> Result<RedriveJob, ClientError> {
        let path = format!("/v1/queues/{}/redrives/{}", segment(queue), segment(id));
        self.get(&path).await
    }

    /// The recent redrive jobs of `queue`, newest first.
    pub async fn list_redrives(&self, queue: &str) -> Result<Vec<RedriveJob>, ClientError> {
        let path = format!("/v1/queues/{}/redrives", segment(queue));
        Ok(self.get::<RedriveList>(&path).await?.redrives)
    }

    /// Cancels a running redrive job; answers it as it stopped.
    pub async fn cancel_redrive(&self, queue: &str, id: &str) -> Result<RedriveJob, ClientError> {
        let path = format!("/v1/queues/{}/redrives/{}", segment(queue), segment(id));
        self.call::<(), RedriveJob>(Method::DELETE, &path, None)
            .await
    }

    // ------------------------------------------------------------ subscriptions

    /// Subscribes a queue to a topic, with an optional filter.
    pub async fn subscribe(
        &self,
        topic: &str,
        queue: &str,
        filter: Option<serde_json::Value>,
    ) -> Result<Subscription, ClientError> {
        let body = CreateSubscription {
            topic: topic.into(),
            queue: queue.into(),
            filter,
            start: None,
        };
        self.post("/v1/subscriptions", &body).await
    }

    /// Creates a subscription as given (with `start`, it also starts a replay job of the
    /// archived history; the answer names it in `replay`).
    pub async fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> Result<Subscription, ClientError> {
        self.post("/v1/subscriptions", request).await
    }

    /// Lists subscriptions.
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, ClientError> {
        Ok(self
            .get::<SubscriptionList>("/v1/subscriptions")
            .await?
            .subscriptions)
    }

    /// Replaces a subscription's filter.
    pub async fn patch_subscription(
        &self,
        id: &str,
        filter: Option<serde_json::Value>,
    ) -> Result<Subscription, ClientError> {
        let path = format!("/v1/subscriptions/{}", segment(id));
        self.call(Method::PATCH, &path, Some(&PatchSubscription { filter }))
            .await
    }

    /// Deletes a subscription.
    pub async fn delete_subscription(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&format!("/v1/subscriptions/{}", segment(id)))
            .await
    }

    // ------------------------------------------------------------ access

    /// Creates a token; the answer is the only time its secret is shown.
    pub async fn create_token(&self, request: &CreateToken) -> Result<CreatedToken, ClientError> {
        self.post("/v1/tokens", request).await
    }

    /// Lists tokens (never their secrets).
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        Ok(self.get::<TokenList>("/v1/tokens").await?.tokens)
    }

    /// Revokes a token at once.
    pub async fn revoke_token(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&format!("/v1/tokens/{}", segment(id))).await
    }

    /// The identity and scopes of this client's token.
    pub async fn whoami(&self) -> Result<Identity, ClientError> {
        self.get("/v1/whoami").await
    }

    /// Audit log entries after `after` (oldest first), at most `limit`.
    pub async fn audit(
        &self,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<AuditEntry>, ClientError> {
        let mut query = Vec::new();
        if let Some(after) = after {
            query.push(format!("after={after}"));
        }
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        let path = if query.is_empty() {
            "/v1/audit".to_string()
        } else {
            format!("/v1/audit?{}", query.join("&"))
        };
        Ok(self.get::<AuditLog>(&path).await?.entries)
    }

    // ------------------------------------------------------------ messages

    /// Where a message is: every queue that still holds it, and in which state.
    pub async fn message_status(&self, id: &str) -> Result<MessageStatus, ClientError> {
        self.get(&format!("/v1/messages/{}", segment(id))).await
    }
}

async fn decode<T: DeserializeOwned>(
    url: String,
    response: reqwest::Response,
) -> Result<T, ClientError> {
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|source| ClientError::Transport {
            url: url.clone(),
            source,
        })?;
    if status.is_success() {
        let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        return serde_json::from_slice(body).map_err(|e| ClientError::Protocol {
            url,
            status,
            detail: e.to_string(),
        });
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Err(ClientError::Api {
            status,
            code: body.error.code,
            message: body.error.message,
        }),
        Err(_) => Err(ClientError::Protocol {
            url,
            status,
            detail: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        }),
    }
}

/// Percent-encodes one path segment (names are plain, but receipts and ids come from users).
pub(crate) fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
