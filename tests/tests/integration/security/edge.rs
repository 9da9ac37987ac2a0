//! The HTTP edge: JSON only as `application/json`, no cross-site requests, no foreign Host
//! names, half-sent requests disconnected, load shed with 503 while `/healthz` answers, one
//! error shape for every refusal, and the browser security headers.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use switchyard_client::ReceiveRequest;
use switchyard_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_body_that_is_not_sent_as_json_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let before = snapshot(&server.client).await?;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ] {
        let raw = Raw {
            body: Some(r#"{"name":"planted"}"#),
            content_type,
            ..Raw::default()
        };
        let answer = raw_request_with(server.url(), Method::POST, "/v1/topics", raw).await;
        answer.assert_error(415, "unsupported_media_type");
    }
    let raw = Raw {
        body: Some(r#"{"name":"fine"}"#),
        content_type: "application/json; charset=utf-8",
        ..Raw::default()
    };
    assert_eq!(
        raw_request_with(server.url(), Method::POST, "/v1/topics", raw)
            .await
            .status,
        201
    );
    server.client.delete_topic("fine").await?;
    assert_eq!(snapshot(&server.client).await?, before);
    Ok(())
}

#[tokio::test]
async fn a_request_from_another_origin_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| {
        config.allowed_origins = vec!["https://ops.example.com".into()];
    })
    .await?;
    server.client.create_queue(&queue("q")).await?;
    server.client.send("q", &json_message(json!(1))).await?;
    let before = snapshot(&server.client).await?;
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        for (method, path, body) in [
            (Method::POST, "/v1/topics", Some(r#"{"name":"planted"}"#)),
            (Method::POST, "/v1/queues/q/purge", None),
            (Method::DELETE, "/v1/queues/q", None),
        ] {
            let raw = Raw {
                body,
                headers: &[("origin", origin)],
                ..Raw::default()
            };
            let answer = raw_request_with(server.url(), method, path, raw).await;
            answer.assert_error(403, "origin_not_allowed");
        }
    }
    assert_eq!(snapshot(&server.client).await?, before);
    // The server's own origin (the console's) and a configured one are let in.
    let own = server.url().to_string();
    for origin in [own.as_str(), "https://ops.example.com"] {
        let raw = Raw {
            headers: &[("origin", origin)],
            ..Raw::default()
        };
        let answer = raw_request_with(server.url(), Method::GET, "/v1/queues", raw).await;
        assert_eq!(answer.status, 200, "{origin}: {}", answer.text);
    }
    Ok(())
}

/// Sends raw bytes on a fresh connection and reads until the server closes it or `limit`.
async fn exchange(addr: &str, request: &[u8], limit: Duration) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    anyhow::ensure!(
        read.is_ok(),
        "the server kept the connection open for {limit:?}"
    );
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_host_the_server_does_not_go_by_is_refused() -> anyhow::Result<()> {
    let server =
        TestServer::start_with(|config| config.public_hosts = vec!["bus.example.com".into()])
            .await?;
    let addr = server.url().trim_start_matches("http://").to_string();
    let request = |host: &str| {
        format!(
            "GET /v1/queues HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n"
        )
    };
    for host in [
        "evil.example",
        "evil.example:7700",
        "127.0.0.1.evil.example",
    ] {
        let answer = exchange(&addr, request(host).as_bytes(), PATIENCE).await?;
        assert!(answer.starts_with("HTTP/1.1 403"), "{host}: {answer}");
        assert!(answer.contains("host_not_allowed"), "{host}: {answer}");
    }
    for host in [addr.as_str(), "localhost", "bus.example.com:443"] {
        let answer = exchange(&addr, request(host).as_bytes(), PATIENCE).await?;
        assert!(answer.starts_with("HTTP/1.1 200"), "{host}: {answer}");
    }
    Ok(())
}

#[tokio::test]
async fn a_half_sent_request_is_disconnected_after_the_header_timeout() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.header_timeout_ms = 300).await?;
    let addr = server.url().trim_start_matches("http://").to_string();
    let started = Instant::now();
    let answer = exchange(
        &addr,
        b"POST /v1/topics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le",
        PATIENCE,
    )
    .await?;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "closed before the timeout"
    );
    assert!(!answer.contains("201"), "{answer}");
    // A connection that never sends a byte goes the same way, and the server still serves.
    exchange(&addr, b"", PATIENCE).await?;
    assert_still_serving(&server.client).await?;
    Ok(())
}

#[tokio::test]
async fn past_the_concurrency_limit_requests_are_shed_while_healthz_answers() -> anyhow::Result<()>
{
    let server = TestServer::start_with(|config| config.max_concurrent_requests = 2).await?;
    server.client.create_queue(&queue("idle")).await?;
    let polls: Vec<_> = (0..2)
        .map(|_| {
            let client = server.client.clone();
            tokio::spawn(async move {
                let request = ReceiveRequest {
                    wait_ms: Some(3000),
                    ..ReceiveRequest::default()
                };
                client.receive("idle", &request).await
            })
        })
        .collect();
    // Once both long polls hold their slots, the next request is shed.
    let shed = wait_for("a request to be shed", PATIENCE, async || {
        let answer = server.raw(Method::GET, "/v1/queues", None).await;
        Ok((answer.status == 503).then_some(answer))
    })
    .await?;
    shed.assert_error(503, "overloaded");
    let health = reqwest::get(format!("{}/healthz", server.url())).await?;
    assert_eq!(health.status(), 200, "healthz is never shed");
    for poll in polls {
        assert!(poll.await?.is_ok(), "the long polls finish");
    }
    assert_still_serving(&server.client).await?;
    Ok(())
}

#[tokio::test]
async fn every_refusal_has_the_error_shape_and_pages_carry_security_headers() -> anyhow::Result<()>
{
    let server = TestServer::start_with(|config| {
        config.max_message_bytes = 1024;
        config.max_request_bytes = 2048;
    })
    .await?;
    let answer = server.raw(Method::PUT, "/v1/topics", None).await;
    answer.assert_error(405, "method_not_allowed");
    let answer = server
        .raw(Method::DELETE, "/v1/queues/q/receive", None)
        .await;
    answer.assert_error(405, "method_not_allowed");
    // Over the body limit: the larger of max_request_bytes and a base64 message plus 64 KiB.
    let big = json!({"name": "x".repeat(128 << 10)}).to_string();
    let answer = server.raw(Method::POST, "/v1/topics", Some(&big)).await;
    answer.assert_error(413, "request_too_large");
    let answer = server.raw(Method::GET, "/nothing-here", None).await;
    answer.assert_error(404, "not_found");
    let response = reqwest::get(format!("{}/", server.url())).await?;
    let headers = response.headers();
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name}"
        );
    }
    let policy = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    Ok(())
}

#[tokio::test]
async fn past_the_connection_cap_a_connection_waits_until_one_closes() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.max_connections = 2).await?;
    let addr = server.url().trim_start_matches("http://").to_string();
    // Two connections that send nothing hold both slots.
    let first = TcpStream::connect(&addr).await?;
    let _second = TcpStream::connect(&addr).await?;
    let mut third = TcpStream::connect(&addr).await?;
    third
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut answer = Vec::new();
    let early =
        tokio::time::timeout(Duration::from_millis(200), third.read_to_end(&mut answer)).await;
    assert!(
        early.is_err(),
        "answered past the cap: {}",
        String::from_utf8_lossy(&answer)
    );
    drop(first);
    tokio::time::timeout(PATIENCE, third.read_to_end(&mut answer)).await??;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    Ok(())
}
