//! The HTTP edge's guards, in front of every route: the `Host` a request names (DNS
//! rebinding) and the `Origin` of browser requests (cross-site requests), load shedding
//! past the concurrency limit, the response headers that keep the console out of frames
//! and sniffing, and one error shape for every refusal, the router's own included.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::ApiError;
use super::error::ErrorCode;
use crate::config::Config;

/// What the console's pages may load and do: only this server's own scripts, styles and
/// API, WebAssembly compiled from them, no frames, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Which `Host` and `Origin` values the server answers.
#[derive(Debug)]
pub(super) struct Policy {
    /// Host names (lower case, without port) besides IP addresses and `localhost`.
    public_hosts: Vec<String>,
    /// Origins (lower case, without a trailing slash) besides the server's own.
    allowed_origins: Vec<String>,
    /// `https` with TLS, else `http`.
    scheme: &'static str,
}

impl Policy {
    pub(super) fn new(config: &Config) -> Self {
        Self {
            public_hosts: config
                .public_hosts
                .iter()
                .map(|h| split_port(&h.to_ascii_lowercase()).0.to_string())
                .collect(),
            allowed_origins: config
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            scheme: if config.tls_cert.is_some() {
                "https"
            } else {
                "http"
            },
        }
    }

    /// An IP address (no DNS name can rebind to it), `localhost`, or a configured name.
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let name = split_port(&host).0;
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || self.public_hosts.iter().any(|h| h == name)
    }

    /// The server's own origin (the scheme and the Host the request named), or a
    /// configured one.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        let own = host.map(|h| format!("{}://{}", self.scheme, h.to_ascii_lowercase()));
        own.is_some_and(|own| own == origin) || self.allowed_origins.contains(&origin)
    }
}

/// `name:port` → (`name`, port); `[v6]:port` → (`[v6]`, port).
fn split_port(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        return match host.find("]:") {
            Some(end) => (&host[..=end], Some(&host[end + 2..])),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        _ => (host, None),
    }
}

fn request_host(headers: &HeaderMap, request: &Request) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_string()))
}

/// Refuses a request for a host name the server does not go by, or from a browser page
/// of another origin, before anything else sees it.
pub(super) async fn check_origin_and_host(
    State(policy): State<Arc<Policy>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let host = request_host(headers, &request);
    if let Some(host) = &host
        && !policy.host_allowed(host)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!(
                "this server does not answer for the host {host:?}; add it to public_hosts in the config if clients reach it by that name"
            ),
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !policy.origin_allowed(origin, host.as_deref()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                format!(
                    "requests from pages of {origin:?} are not allowed; add the origin to allowed_origins in the config to let them in"
                ),
            );
        }
    }
    next.run(request).await
}

fn refuse(status: StatusCode, code: &'static str, message: String) -> Response {
    ApiError::InvalidBody {
        status,
        code,
        message,
    }
    .into_response()
}

/// The one concurrency limit of the whole application.
#[derive(Clone)]
pub(super) struct Shedder(Arc<Semaphore>);

impl Shedder {
    pub(super) fn new(limit: usize) -> Self {
        Self(Arc::new(Semaphore::new(limit)))
    }
}

/// Serves a request if fewer than the limit are in progress; otherwise answers at once
/// with `503 overloaded` and `Retry-After`, so that a flood costs the server nothing but
/// the refusal.
pub(super) async fn shed(State(shedder): State<Shedder>, request: Request, next: Next) -> Response {
    match shedder.0.clone().try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(_) => {
            let mut response = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the server is serving as many requests as it is configured to (max_concurrent_requests); retry shortly".into(),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// Gives every error the router or a layer answers by itself (405, 408, 413, ...) the
/// API's `{"error":{"code","message"}}` shape.
pub(super) async fn shape_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<ErrorCode>().is_some()
    {
        return response;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", format!("no route for {method} {path}")),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!("{path} does not take {method}"),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "the request took longer than the server allows".into(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "request_too_large",
            "the request body is over the server's limit".into(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "the request's Content-Type is not one this route takes".into(),
        ),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests".into()),
        StatusCode::SERVICE_UNAVAILABLE => (
            "unavailable",
            "the server cannot take the request now; retry shortly".into(),
        ),
        status if status.is_server_error() => (
            "internal",
            "internal error; the request was not applied".into(),
        ),
        status => (
            "bad_request",
            format!(
                "the request was refused ({})",
                status.canonical_reason().unwrap_or("client error")
            ),
        ),
    };
    let mut shaped = refuse(status, code, message);
    for name in [header::RETRY_AFTER, header::ALLOW, header::WWW_AUTHENTICATE] {
        if let Some(value) = response.headers().get(&name) {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    shaped
}

/// Headers on every response: no sniffing, no framing, no referrers, and the console's
/// content security policy.
pub(super) async fn security_headers(request: Request<Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let config = Config {
            public_hosts: vec!["Bus.Example.com".into()],
            allowed_origins: vec!["https://ops.example.com/".into()],
            ..Config::default()
        };
        Policy::new(&config)
    }

    #[test]
    fn hosts_are_ip_addresses_localhost_or_configured_names() {
        let policy = policy();
        for host in [
            "127.0.0.1:7700",
            "10.1.2.3",
            "[::1]:7700",
            "localhost:7700",
            "LOCALHOST",
            "bus.example.com",
            "bus.example.com:443",
        ] {
            assert!(policy.host_allowed(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:7700",
            "127.0.0.1.evil.example",
            "localhost.evil",
        ] {
            assert!(!policy.host_allowed(host), "{host}");
        }
    }

    #[test]
    fn origins_are_the_servers_own_or_configured() {
        let policy = policy();
        assert!(policy.origin_allowed("http://127.0.0.1:7700", Some("127.0.0.1:7700")));
        assert!(policy.origin_allowed("https://ops.example.com", Some("127.0.0.1:7700")));
        assert!(!policy.origin_allowed("http://127.0.0.1:7701", Some("127.0.0.1:7700")));
        assert!(!policy.origin_allowed("https://127.0.0.1:7700", Some("127.0.0.1:7700")));
        assert!(!policy.origin_allowed("null", Some("127.0.0.1:7700")));
        assert!(!policy.origin_allowed("http://evil.example", None));
    }
}
