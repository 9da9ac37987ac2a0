//! The SQS-compatible endpoint: the AWS JSON 1.0 protocol (`X-Amz-Target: AmazonSQS.<Action>`)
//! on the main port, at `/` and at queue URL paths (`/<account>/<queue>`), signed with
//! SigV4 by key pairs issued with Switchyard tokens (`"aws_keys": true`), which carry the
//! token's scopes. Each action maps onto the broker: SQS queues are Switchyard queues,
//! receipt handles are receipts, `RedrivePolicy` is the dead-letter settings.

mod actions;
mod attributes;
mod sigv4;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::ErrorCode;
use crate::access::{Access, AccessError, Principal};
use crate::broker::{Broker, BrokerError, now_ms};

/// The account id in queue URLs and ARNs.
const ACCOUNT: &str = "000000000000";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// What the endpoint runs on.
pub(super) struct Sqs {
    broker: Arc<Broker>,
    access: Arc<Access>,
    /// Largest request body (a 1 MiB message escaped by an SDK is about 6 MiB of JSON).
    max_body: usize,
    max_message_bytes: usize,
    scheme: &'static str,
}

impl Sqs {
    pub(super) fn new(broker: Arc<Broker>, access: Arc<Access>, config: &crate::Config) -> Self {
        Self {
            broker,
            access,
            max_body: config.max_request_bytes,
            max_message_bytes: config.max_message_bytes,
            scheme: if config.tls_cert.is_some() {
                "https"
            } else {
                "http"
            },
        }
    }
}

/// Answers SQS requests (those with an `X-Amz-Target: AmazonSQS.*` header, on any path);
/// passes every other request on.
pub(super) async fn serve(State(sqs): State<Arc<Sqs>>, request: Request, next: Next) -> Response {
    let action = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("AmazonSQS."))
        .map(str::to_string);
    match action {
        Some(action) if request.method() == axum::http::Method::POST => {
            match sqs.handle(&action, request).await {
                Ok(value) => ok(value),
                Err(error) => error.into_response(),
            }
        }
        _ => next.run(request).await,
    }
}

/// Who sent a request, and where it reached the server (for queue URLs and ARNs).
pub(super) struct Context {
    principal: Arc<Principal>,
    base_url: String,
    region: String,
}

impl Context {
    fn queue_url(&self, name: &str) -> String {
        format!("{}/{ACCOUNT}/{name}", self.base_url)
    }

    fn queue_arn(&self, name: &str) -> String {
        format!("arn:aws:sqs:{}:{ACCOUNT}:{name}", self.region)
    }

    fn require(&self, action: switchyard_client::Action, queue: &str) -> Result<(), SqsError> {
        self.principal
            .require(action, switchyard_client::Kind::Queue, queue)
            .map_err(SqsError::from)
    }
}

impl Sqs {
    async fn handle(&self, action: &str, request: Request) -> Result<Value, SqsError> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, self.max_body)
            .await
            .map_err(|_| {
                SqsError::sender(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestTooLong",
                    format!("the request body is over {} bytes", self.max_body),
                )
            })?;
        let (principal, region) = self.authenticate(&parts, &body)?;
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_string();
        let context = Context {
            principal,
            base_url: format!("{}://{host}", self.scheme),
            region,
        };
        let input: Value = if body.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                SqsError::sender(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    format!("the body is not JSON: {e}"),
                )
            })?
        };
        if !input.is_object() {
            return Err(SqsError::invalid("the body must be a JSON object"));
        }
        actions::run(self, &context, action, input).await
    }

    /// The key's token, after its signature checked out; and the region it was signed for.
    fn authenticate(
        &self,
        parts: &axum::http::request::Parts,
        body: &[u8],
    ) -> Result<(Arc<Principal>, String), SqsError> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !self.access.enabled() {
            // No auth (`--insecure-no-auth`): any signature, or none, goes.
            let region = sigv4::parse(authorization)
                .map(|c| c.region)
                .unwrap_or_else(|_| "us-east-1".into());
            let (principal, _) = self.access.aws_principal("")?;
            return Ok((principal, region));
        }
        let credential = sigv4::parse(authorization)?;
        let (principal, secret) = self.access.aws_principal(&credential.access_key_id)?;
        if let Some(secret) = secret {
            let signed = sigv4::Signed {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &parts.headers,
                body,
            };
            sigv4::verify(&credential, &signed, &secret, now_ms())?;
        }
        Ok((principal, credential.region))
    }
}

fn ok(value: Value) -> Response {
    let mut response = (StatusCode::OK, value.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// An SQS error: `{"__type": "com.amazonaws.sqs#<Code>", "message"}` and the
/// `x-amzn-query-error: <query code>;Sender` header older SDKs read the code from.
#[derive(Debug)]
pub(super) struct SqsError {
    status: StatusCode,
    code: &'static str,
    query_code: &'static str,
    message: String,
    fault: &'static str,
}

impl SqsError {
    fn sender(status: StatusCode, code: &'static str, message: String) -> Self {
        Self {
            status,
            code,
            query_code: code,
            message,
            fault: "Sender",
        }
    }

    /// A code whose query-protocol name differs (`AWS.SimpleQueueService.*`).
    fn renamed(code: &'static str, query_code: &'static str, message: String) -> Self {
        Self {
            query_code,
            ..Self::sender(StatusCode::BAD_REQUEST, code, message)
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::sender(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            message.into(),
        )
    }

    fn missing(parameter: &str) -> Self {
        Self::sender(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("The request must contain the parameter {parameter}."),
        )
    }

    fn no_queue() -> Self {
        Self::renamed(
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.".into(),
        )
    }

    fn invalid_receipt(receipt: &str) -> Self {
        Self::sender(
            StatusCode::BAD_REQUEST,
            "ReceiptHandleIsInvalid",
            format!("The input receipt handle \"{receipt}\" is not a valid receipt handle."),
        )
    }

    fn not_in_flight() -> Self {
        Self::renamed(
            "MessageNotInflight",
            "AWS.SimpleQueueService.MessageNotInflight",
            "The message referred to isn't in flight.".into(),
        )
    }
}

impl IntoResponse for SqsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "__type": format!("com.amazonaws.sqs#{}", self.code),
            "message": self.message,
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Ok(value) = HeaderValue::from_str(&format!("{};{}", self.query_code, self.fault)) {
            headers.insert("x-amzn-query-error", value);
        }
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

impl From<sigv4::Refusal> for SqsError {
    fn from(refusal: sigv4::Refusal) -> Self {
        match refusal {
            sigv4::Refusal::Malformed(code @ "MissingAuthenticationToken", message) => {
                Self::sender(StatusCode::FORBIDDEN, code, message)
            }
            sigv4::Refusal::Malformed(code, message) => {
                Self::sender(StatusCode::BAD_REQUEST, code, message)
            }
            sigv4::Refusal::Expired(message) => {
                Self::sender(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message)
            }
            sigv4::Refusal::Mismatch => Self::sender(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided."
                    .into(),
            ),
        }
    }
}

impl From<AccessError> for SqsError {
    fn from(error: AccessError) -> Self {
        let message = error.to_string();
        match error {
            AccessError::Unauthenticated { .. } => {
                Self::sender(StatusCode::FORBIDDEN, "InvalidClientTokenId", message)
            }
            AccessError::Forbidden { .. } => {
                Self::sender(StatusCode::FORBIDDEN, "AccessDenied", message)
            }
            AccessError::RateLimited { .. } => {
                Self::sender(StatusCode::BAD_REQUEST, "RequestThrottled", message)
            }
            _ => Self {
                fault: "Receiver",
                ..Self::sender(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
            },
        }
    }
}

impl From<BrokerError> for SqsError {
    fn from(error: BrokerError) -> Self {
        let message = error.to_string();
        match error {
            BrokerError::QueueNotFound { .. } => Self::no_queue(),
            BrokerError::QueueExists { .. } => Self::renamed(
                "QueueNameExists",
                "QueueAlreadyExists",
                "A queue already exists with the same name and a different value for attribute(s)."
                    .into(),
            ),
            BrokerError::InvalidReceipt { .. } => {
                Self::sender(StatusCode::BAD_REQUEST, "ReceiptHandleIsInvalid", message)
            }
            BrokerError::ReceiptExpired | BrokerError::ReceiptMessageGone => Self::not_in_flight(),
            BrokerError::Storage(_) => Self {
                fault: "Receiver",
                ..Self::sender(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
            },
            _ => Self::invalid(message),
        }
    }
}

/// The body of a response without fields.
fn empty() -> Value {
    Value::Object(Default::default())
}
