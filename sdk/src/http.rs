//! Outbound HTTP through `wasi:http`. The server allows only the origins on the consumer's
//! `allowed_hosts` (`https://api.example.com`; see [`crate::allow`]), and an allowed name
//! only while it resolves to global addresses or addresses listed too; any other call fails
//! with the error code `http_denied`. Calls are external side effects: they happen at least
//! once, so send the message id as an idempotency key.

use serde::Serialize;

use crate::Error;

/// An HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json(mut self, value: &impl Serialize) -> Result<Self, Error> {
        self.body = serde_json::to_vec(value)
            .map_err(|e| Error::new("payload_not_json", format!("cannot encode JSON: {e}")))?;
        Ok(self.header("content-type", "application/json"))
    }

    /// Sends it and reads the whole response.
    pub fn send(self) -> Result<Response, Error> {
        backend::send(self)
    }
}

/// POSTs `value` as JSON to `url`.
pub fn post_json(url: &str, value: &impl Serialize) -> Result<Response, Error> {
    Request::new("POST", url).json(value)?.send()
}

/// Splits an absolute URL into scheme, authority and path-with-query.
pub(crate) fn split_url(url: &str) -> Result<(&str, &str, &str), Error> {
    let invalid = || {
        Error::new(
            "invalid_url",
            format!("{url:?} is not an absolute http(s) URL"),
        )
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    if scheme != "http" && scheme != "https" {
        return Err(invalid());
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(invalid());
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

#[cfg(target_arch = "wasm32")]
mod backend {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
    };
    use wasip2::io::streams::StreamError;

    use super::{Request, Response, split_url};
    use crate::Error;

    fn failed(what: &str) -> Error {
        Error::new("http_failed", format!("HTTP request failed: {what}"))
    }

    fn code_error(code: ErrorCode) -> Error {
        match code {
            ErrorCode::HttpRequestDenied => Error::new(
                "http_denied",
                "the host is not on this consumer's allowed_hosts",
            ),
            other => failed(&format!("{other:?}")),
        }
    }

    pub(super) fn send(request: Request) -> Result<Response, Error> {
        let (scheme, authority, path) = split_url(&request.url)?;
        let headers = Fields::new();
        for (name, value) in &request.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|e| failed(&format!("header {name:?}: {e:?}")))?;
        }
        let outgoing = OutgoingRequest::new(headers);
        let method = match request.method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_string()),
        };
        let scheme = if scheme == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        };
        outgoing
            .set_method(&method)
            .and_then(|()| outgoing.set_scheme(Some(&scheme)))
            .and_then(|()| outgoing.set_authority(Some(authority)))
            .and_then(|()| outgoing.set_path_with_query(Some(path)))
            .map_err(|()| failed("invalid request line"))?;
        let body = outgoing.body().map_err(|()| failed("no request body"))?;
        {
            let stream = body.write().map_err(|()| failed("no body stream"))?;
            for chunk in request.body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| failed(&format!("writing the body: {e:?}")))?;
            }
        }
        let future = outgoing_handler::handle(outgoing, None).map_err(code_error)?;
        OutgoingBody::finish(body, None).map_err(code_error)?;
        let incoming = loop {
            match future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(code))) => return Err(code_error(code)),
                Some(Err(())) => return Err(failed("response already taken")),
                None => future.subscribe().block(),
            }
        };
        let status = incoming.status();
        let body = incoming
            .consume()
            .map_err(|()| failed("no response body"))?;
        let mut bytes = Vec::new();
        {
            let stream = body.stream().map_err(|()| failed("no response stream"))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(e) => return Err(failed(&format!("reading the response: {e:?}"))),
                }
            }
        }
        IncomingBody::finish(body);
        Ok(Response {
            status,
            body: bytes,
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod backend {
    use super::{Request, Response, split_url};
    use crate::Error;
    use crate::testing::with_host;

    pub(super) fn send(request: Request) -> Result<Response, Error> {
        split_url(&request.url)?;
        with_host(|host| host.record_http(request))
    }
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/hook?x=1").unwrap(),
            ("http", "127.0.0.1:8080", "/hook?x=1")
        );
        assert_eq!(
            split_url("https://example.com").unwrap(),
            ("https", "example.com", "/")
        );
        assert!(split_url("ftp://example.com/").is_err());
        assert!(split_url("example.com/x").is_err());
        assert!(split_url("http:///x").is_err());
    }
}
