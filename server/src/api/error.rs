//! `ApiError` (every refusal as `{"error":{"code","message"}}` with a stable code), the
//! JSON body extractor that makes malformed bodies answer in that shape, and the
//! middleware that logs server faults (whose details never reach the client).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchyard_client::{ErrorBody, ErrorDetail};

use crate::access::AccessError;
use crate::alarms::AlarmError;
use crate::broker::BrokerError;
use crate::dispatcher::DispatcherError;

/// An API failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The broker refused or failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The plugin registry or a consumer refused or failed.
    #[error(transparent)]
    Dispatcher(#[from] DispatcherError),
    /// The request body or query is malformed.
    #[error("{message}")]
    InvalidBody {
        /// 400, 413 or 415.
        status: StatusCode,
        /// Stable code.
        code: &'static str,
        /// What is wrong, in words.
        message: String,
    },
    /// Authentication, authorization or a token change refused or failed.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// An alarm request was refused (its broker and dispatcher refusals become theirs).
    #[error(transparent)]
    Alarm(AlarmError),
    /// The server is not wired as it should be (a bug; never the client's fault).
    #[error("internal error: {what}")]
    Internal {
        /// What is missing.
        what: &'static str,
    },
    /// No such route.
    #[error("no route for {method} {path}")]
    NoRoute {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
}

impl From<AlarmError> for ApiError {
    fn from(error: AlarmError) -> Self {
        match error {
            AlarmError::Broker(error) => ApiError::Broker(error),
            AlarmError::Dispatcher(error) => ApiError::Dispatcher(error),
            other => ApiError::Alarm(other),
        }
    }
}

/// A server fault, riding on the response for [`log_failures`] to log.
#[derive(Clone)]
struct Fault(std::sync::Arc<String>);

/// The stable code of an error response, riding on it (for the audit log).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCode(pub(crate) &'static str);

impl ApiError {
    pub(crate) fn invalid_body(message: impl Into<String>) -> Self {
        ApiError::InvalidBody {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_body",
            message: message.into(),
        }
    }

    /// The storage writer's refusal of the write because too much waits for it.
    fn storage_overloaded(&self) -> Option<&crate::storage::StorageError> {
        match self {
            ApiError::Broker(BrokerError::Storage(
                error @ crate::storage::StorageError::Overloaded { .. },
            ))
            | ApiError::Dispatcher(DispatcherError::Broker(BrokerError::Storage(
                error @ crate::storage::StorageError::Overloaded { .. },
            ))) => Some(error),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidBody { status, .. } => *status,
            ApiError::NoRoute { .. } => StatusCode::NOT_FOUND,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Alarm(error) => match error {
                AlarmError::NotFound { .. } => StatusCode::NOT_FOUND,
                AlarmError::Exists { .. } => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            },
            ApiError::Access(error) => match error {
                AccessError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
                AccessError::Forbidden { .. } => StatusCode::FORBIDDEN,
                AccessError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                AccessError::InvalidToken { .. } => StatusCode::BAD_REQUEST,
                AccessError::TokenNotFound { .. } => StatusCode::NOT_FOUND,
                AccessError::TokenFile { .. } | AccessError::Storage(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
            ApiError::Dispatcher(DispatcherError::Broker(error)) | ApiError::Broker(error) => {
                broker_status(error)
            }
            ApiError::Dispatcher(error) => match error {
                DispatcherError::PluginNotFound { .. }
                | DispatcherError::VersionNotFound { .. }
                | DispatcherError::KeyNotFound { .. }
                | DispatcherError::ConsumerNotFound { .. } => StatusCode::NOT_FOUND,
                DispatcherError::ConsumerExists { .. } | DispatcherError::VersionActive { .. } => {
                    StatusCode::CONFLICT
                }
                DispatcherError::CompileBusy => StatusCode::SERVICE_UNAVAILABLE,
                DispatcherError::PluginTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                DispatcherError::InvalidPlugin(crate::runtime::PluginError::Engine { .. })
                | DispatcherError::InvalidPlugin(crate::runtime::PluginError::Instantiate {
                    ..
                })
                | DispatcherError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            },
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Broker(BrokerError::Storage(
                crate::storage::StorageError::WriterFailed { .. },
            )) => "storage_failed",
            ApiError::Broker(error) => error.code(),
            ApiError::Dispatcher(error) => error.code(),
            ApiError::InvalidBody { code, .. } => code,
            ApiError::NoRoute { .. } => "not_found",
            ApiError::Access(error) => error.code(),
            ApiError::Alarm(error) => error.code(),
            ApiError::Internal { .. } => "internal",
        }
    }
}

fn broker_status(error: &BrokerError) -> StatusCode {
    match error {
        BrokerError::TopicNotFound { .. }
        | BrokerError::QueueNotFound { .. }
        | BrokerError::SubscriptionNotFound { .. }
        | BrokerError::MessageNotFound { .. }
        | BrokerError::ReplayNotFound { .. }
        | BrokerError::RedriveNotFound { .. }
        | BrokerError::ReceiptMessageGone => StatusCode::NOT_FOUND,
        BrokerError::TopicExists { .. }
        | BrokerError::TopicProtected { .. }
        | BrokerError::QueueExists { .. }
        | BrokerError::SubscriptionExists { .. }
        | BrokerError::QueueInUse { .. }
        | BrokerError::QueueHasConsumers { .. }
        | BrokerError::ArchiveNotEnabled { .. }
        | BrokerError::ReplayNotRunning { .. }
        | BrokerError::RedriveRunning { .. } => StatusCode::CONFLICT,
        BrokerError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BrokerError::Storage(
            crate::storage::StorageError::WriterFailed { .. }
            | crate::storage::StorageError::Overloaded { .. },
        ) => StatusCode::SERVICE_UNAVAILABLE,
        BrokerError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Shedding load is no fault: its message is for the client, and nothing to log.
        let overloaded = self.storage_overloaded();
        let shed = matches!(self, ApiError::Dispatcher(DispatcherError::CompileBusy))
            || overloaded.is_some();
        let message = if status.is_server_error() && !shed {
            "internal error; the request was not applied".to_string()
        } else if let Some(refusal) = overloaded {
            refusal.to_string()
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        match &self {
            ApiError::Access(AccessError::RateLimited { retry_after_ms, .. }) => {
                let seconds = retry_after_ms.div_ceil(1000).max(1);
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(seconds),
                );
            }
            ApiError::Dispatcher(DispatcherError::CompileBusy) => {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("5"),
                );
            }
            _ if overloaded.is_some() => {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("1"),
                );
            }
            ApiError::Access(AccessError::Unauthenticated { .. }) => {
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            _ => {}
        }
        if status.is_server_error() && !shed {
            let detail = error_chain(&self);
            response
                .extensions_mut()
                .insert(Fault(std::sync::Arc::new(detail)));
        }
        response
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Logs the cause of every 5xx the API produces; the rest at debug level. Used as the
/// trace layer's response hook.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogFailures;

impl<B> tower_http::trace::OnResponse<B> for LogFailures {
    fn on_response(
        self,
        response: &axum::http::Response<B>,
        latency: std::time::Duration,
        _span: &tracing::Span,
    ) {
        let status = response.status();
        match response.extensions().get::<Fault>() {
            Some(Fault(detail)) => {
                tracing::error!(%status, ?latency, error = %detail, "request failed");
            }
            None => tracing::debug!(%status, ?latency, "answered"),
        }
    }
}

pub(crate) async fn no_route(request: Request) -> ApiError {
    ApiError::NoRoute {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
    }
}

/// JSON in and out. Reading takes only a body sent as `Content-Type: application/json`
/// (`415 unsupported_media_type` otherwise: a browser form or a cross-site `text/plain`
/// post never reaches a handler), and answers anything but a well-formed object of the
/// right shape (malformed JSON, arrays, wrong types, unknown fields) with `invalid_body`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::InvalidBody {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: format!(
                    "send the body as JSON with Content-Type: application/json (got {:?})",
                    content_type.chars().take(100).collect::<String>()
                ),
            });
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::InvalidBody {
                        status,
                        code: "request_too_large",
                        message: "the request body is over the server's limit (max_request_bytes)"
                            .into(),
                    }
                } else {
                    ApiError::InvalidBody {
                        status: StatusCode::BAD_REQUEST,
                        code: "invalid_body",
                        message: rejection.body_text(),
                    }
                }
            })?;
        // serde reads a JSON array into a struct by position; a body is an object or
        // nothing.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {}
            Some(_) => {
                return Err(ApiError::invalid_body(
                    "the request body must be a JSON object",
                ));
            }
            None => {
                return Err(ApiError::invalid_body(
                    "the request body is empty; send a JSON object",
                ));
            }
        }
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::invalid_body(format!("invalid JSON body: {e}")))?;
        Ok(ApiJson(value))
    }
}

/// `application/json`, with parameters or not, or a `+json` type.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `error` sheds load: `503 overloaded` with `Retry-After: retry_after`,
    /// not logged as a fault; returns the message the client reads.
    async fn sheds(error: ApiError, retry_after: &str) -> String {
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[axum::http::header::RETRY_AFTER],
            retry_after
        );
        assert!(
            response.extensions().get::<Fault>().is_none(),
            "not logged as a fault"
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.error.code, "overloaded");
        body.error.message
    }

    #[tokio::test]
    async fn a_busy_compiler_sheds_with_retry_after_and_says_why() {
        let message = sheds(DispatcherError::CompileBusy.into(), "5").await;
        assert!(message.contains("compiling"), "{message}");
    }

    #[tokio::test]
    async fn a_write_the_storage_writer_is_too_far_behind_for_sheds_with_retry_after() {
        let overloaded = crate::storage::StorageError::Overloaded {
            requests: 65_536,
            bytes: 1 << 20,
        };
        let message = sheds(BrokerError::Storage(overloaded).into(), "1").await;
        assert!(message.contains("retry"), "{message}");
    }
}
