//! A lean HTTP/1.1 load client for `switchyard bench`: one keep-alive connection per worker,
//! the request bytes built once, and just enough response parsing to read the status and
//! skip the body. It costs the shared machine far less CPU than a general-purpose client,
//! so the figures measure the server rather than the load generator.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request, repeated on one connection.
pub(super) struct Http1Sender {
    addr: String,
    request: Arc<[u8]>,
    expected_status: u16,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl Http1Sender {
    /// A sender of `POST path` with a JSON `body` to the server at `base_url`
    /// (`http://host:port`), with the `Authorization` header value given.
    pub(super) fn post_json(
        base_url: &str,
        authorization: Option<&str>,
        path: &str,
        body: &[u8],
        expected_status: u16,
    ) -> Result<Self, String> {
        let authority = base_url
            .strip_prefix("http://")
            .ok_or_else(|| format!("the bench speaks plain http only, not {base_url}"))?
            .trim_end_matches('/');
        let addr = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let authorization = authorization
            .map(|value| format!("Authorization: {value}\r\n"))
            .unwrap_or_default();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        Ok(Self::new(addr, request.into(), expected_status))
    }

    fn new(addr: String, request: Arc<[u8]>, expected_status: u16) -> Self {
        Self {
            addr,
            request,
            expected_status,
            stream: None,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// A sender of the same request on a connection of its own.
    pub(super) fn fresh(&self) -> Self {
        Self::new(
            self.addr.clone(),
            self.request.clone(),
            self.expected_status,
        )
    }

    /// Sends the request once and reads the whole response; a connection that fails is
    /// dropped and the next call opens a new one.
    pub(super) async fn exchange_once(&mut self) -> Result<(), String> {
        let result = self.exchange().await.and_then(|(status, body)| {
            if status == self.expected_status {
                Ok(())
            } else {
                Err(format!("{status}: {body}"))
            }
        });
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    /// Sends the request once and returns the answer's status, whatever it is.
    pub(super) async fn status_once(&mut self) -> Result<u16, String> {
        let result = self.exchange().await.map(|(status, _)| status);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self) -> Result<(u16, String), String> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream
            .write_all(&self.request)
            .await
            .map_err(|e| format!("sending: {e}"))?;
        self.buffer.clear();
        let (status, header_end, body_len) = loop {
            if let Some(head) = parse_head(&self.buffer)? {
                break head;
            }
            read_more(stream, &mut self.buffer).await?;
        };
        while self.buffer.len() < header_end + body_len {
            read_more(stream, &mut self.buffer).await?;
        }
        let body = if status == self.expected_status {
            String::new()
        } else {
            String::from_utf8_lossy(&self.buffer[header_end..header_end + body_len]).into_owned()
        };
        Ok((status, body))
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let read = stream
        .read(&mut chunk)
        .await
        .map_err(|e| format!("receiving: {e}"))?;
    if read == 0 {
        return Err("the server closed the connection".into());
    }
    buffer.extend_from_slice(&chunk[..read]);
    Ok(())
}

/// Status, end of the head and body length once the head is complete. The server always
/// answers with a `content-length` (no chunked bodies on these routes).
fn parse_head(buffer: &[u8]) -> Result<Option<(u16, usize, usize)>, String> {
    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buffer[..end]).map_err(|_| "response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {head:?}"))?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse::<usize>())
        .transpose()
        .map_err(|_| "bad content-length".to_string())?
        .unwrap_or(0);
    Ok(Some((status, end + 4, length)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_once_complete() {
        assert_eq!(
            parse_head(b"HTTP/1.1 201 Created\r\ncontent-le").unwrap(),
            None
        );
        let response = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\":1}\n";
        assert_eq!(parse_head(response).unwrap(), Some((201, 75, 9)));
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn only_plain_http_is_spoken() {
        assert!(Http1Sender::post_json("https://x", None, "/", b"{}", 201).is_err());
        let sender =
            Http1Sender::post_json("http://127.0.0.1:7700/", None, "/v1/x", b"{}", 201).unwrap();
        assert_eq!(sender.addr, "127.0.0.1:7700");
        assert!(
            sender
                .request
                .starts_with(b"POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:7700\r\n")
        );
        assert!(sender.request.ends_with(b"\r\n\r\n{}"));
    }
}
