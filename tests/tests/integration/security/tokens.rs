//! Tokens: shown once and stored only as a hash, revoked and expired at once, the first
//! admin token from the environment or a private file, publish quotas, and the audit log.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_client::{CreateToken, PublishBatch, PublishRate};
use switchyard_tests::*;

use super::scoped;
use crate::SERVER_BIN;

#[tokio::test]
async fn a_token_is_shown_once_listed_without_its_secret_and_revoked_at_once() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let (client, secret) = scoped(&server, &["read:*:*"]).await?;
    assert!(secret.len() >= 40, "a long random secret: {secret}");
    let me = client.whoami().await?;
    assert_eq!(me.scopes, ["read:*:*"]);
    assert!(me.auth);
    let listed = server.raw(reqwest::Method::GET, "/v1/tokens", None).await;
    assert_eq!(listed.status, 200);
    assert!(!listed.text.contains(&secret), "a listing shows a secret");
    let tokens = server.client.list_tokens().await?;
    assert_eq!(tokens.len(), 2, "the admin and the new one");
    assert_eq!(tokens[0].created_by, "bootstrap");
    server.client.revoke_token(&me.id).await?;
    assert_api_error(client.whoami().await, 401, "unauthenticated");
    assert_api_error(client.list_queues().await, 401, "unauthenticated");
    assert_api_error(
        server.client.revoke_token(&me.id).await,
        404,
        "token_not_found",
    );
    // Nothing of the secret reached the data directory.
    let restarted = server.restart().await?;
    let client = switchyard_client::Client::new(restarted.url()).with_token(&secret);
    assert_api_error(client.whoami().await, 401, "unauthenticated");
    for entry in std::fs::read_dir(restarted.data_dir())? {
        let bytes = std::fs::read(entry?.path())?;
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is stored in the data directory"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_expired_token_is_refused_from_its_expiry_on() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let expires_at_ms = now_ms() + 1500;
    let created = server
        .client
        .create_token(&CreateToken {
            name: "short-lived".into(),
            scopes: vec!["read:*:*".into()],
            expires_at_ms: Some(expires_at_ms),
            ..Default::default()
        })
        .await?;
    let client = switchyard_client::Client::new(server.url()).with_token(&created.token);
    client.whoami().await?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let asked_at = now_ms();
        match client.whoami().await {
            Ok(_) => assert!(
                asked_at < expires_at_ms + 1000,
                "still accepted after expiry"
            ),
            Err(error) => {
                assert_eq!(error.code(), Some("unauthenticated"), "{error}");
                assert!(now_ms() >= expires_at_ms, "refused before its expiry");
                break;
            }
        }
        assert!(Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let past = CreateToken {
        name: "late".into(),
        scopes: vec!["read:*:*".into()],
        expires_at_ms: Some(1),
        ..Default::default()
    };
    assert_api_error(
        server.client.create_token(&past).await,
        400,
        "invalid_token",
    );
    Ok(())
}

#[tokio::test]
async fn bad_token_requests_are_refused_and_create_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for body in [
        json!({"name": "x", "scopes": []}),
        json!({"name": "x", "scopes": ["write:topic:x"]}),
        json!({"name": "x", "scopes": ["publish:table:x"]}),
        json!({"name": "x", "scopes": ["publish:topic:a b"]}),
        json!({"name": "", "scopes": ["read:*:*"]}),
        json!({"name": "x", "scopes": ["read:*:*"], "publish_rate": {"per_second": 0}}),
    ] {
        let answer = server
            .raw(reqwest::Method::POST, "/v1/tokens", Some(&body.to_string()))
            .await;
        answer.assert_error(400, "invalid_token");
    }
    let answer = server
        .raw(
            reqwest::Method::POST,
            "/v1/tokens",
            Some(r#"{"name":"x","scopes":["read:*:*"],"admin":true}"#),
        )
        .await;
    answer.assert_error(400, "invalid_body");
    assert_eq!(server.client.list_tokens().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_fresh_data_directory_gets_its_admin_token_from_a_private_file() -> anyhow::Result<()> {
    let (_dir, data) = temp_data_dir()?;
    let server = ChildServer::spawn_generating_token(SERVER_BIN, &data).await?;
    let file = data.join("admin-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&file)?.permissions().mode() & 0o777,
            0o600
        );
    }
    let token = std::fs::read_to_string(&file)?.trim().to_string();
    let me = server.client.whoami().await?;
    assert_eq!(
        (me.name.as_str(), me.scopes.as_slice()),
        ("admin", ["admin:*:*".to_string()].as_slice())
    );
    let link = format!("console login link: {}/#token={token}", server.url());
    // The harness reads the child's output in the background: wait for the line.
    let printed = wait_until("the login link", PATIENCE, async || {
        Ok(server.output().contains(&link))
    })
    .await;
    assert!(printed.is_ok(), "no login link in:\n{}", server.output());
    // The harness's own admin token was not given: it is not a token here.
    assert_api_error(
        admin_client(server.url()).whoami().await,
        401,
        "unauthenticated",
    );
    server.kill_9().await?;
    // A restart finds the token and makes no other; the link is printed only once.
    let again = ChildServer::spawn_generating_token(SERVER_BIN, &data).await?;
    assert_eq!(std::fs::read_to_string(&file)?.trim(), token);
    again.client.whoami().await?;
    assert!(!again.output().contains("#token="), "{}", again.output());
    assert_eq!(again.client.list_tokens().await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn the_first_admin_token_can_come_from_the_environment() -> anyhow::Result<()> {
    let (_dir, data) = temp_data_dir()?;
    let server = ChildServer::spawn(SERVER_BIN, &data).await?;
    assert_eq!(server.client.whoami().await?.name, "admin");
    assert!(
        !data.join("admin-token").exists(),
        "no file when the token was given"
    );
    Ok(())
}

#[tokio::test]
async fn a_publish_quota_refuses_with_429_and_stores_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.client.create_topic("t").await?;
    server.client.create_queue(&queue("q")).await?;
    server.client.subscribe("t", "q", None).await?;
    let created = server
        .client
        .create_token(&CreateToken {
            name: "limited".into(),
            scopes: vec!["publish:topic:t".into()],
            publish_rate: Some(PublishRate {
                per_second: 1,
                burst: Some(3),
            }),
            ..Default::default()
        })
        .await?;
    let url = server.url().to_string();
    let mut passed = 0;
    let mut refused = None;
    for n in 0..10 {
        let body = json!({"payload": n}).to_string();
        let raw = Raw {
            body: Some(&body),
            token: Some(&created.token),
            ..Raw::default()
        };
        let answer =
            raw_request_with(&url, reqwest::Method::POST, "/v1/topics/t/messages", raw).await;
        match answer.status.as_u16() {
            201 => passed += 1,
            429 => {
                answer.assert_error(429, "rate_limited");
                refused = Some(answer);
                break;
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert!(refused.is_some(), "never rate limited");
    assert!(
        (3..=4).contains(&passed),
        "{passed} passed a burst of 3 at 1/s"
    );
    let stats = server.client.get_queue("q").await?.stats.expect("stats");
    assert_eq!(stats.ready, passed, "only what passed is stored");
    // A batch counts every message; the admin (no quota) is not limited.
    let batch = PublishBatch {
        messages: (0..50).map(|n| json_message(json!(n))).collect(),
    };
    server.client.publish_batch("t", &batch).await?;
    Ok(())
}

#[tokio::test]
async fn a_rate_limited_answer_says_when_to_retry() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.client.create_queue(&queue("q")).await?;
    let created = server
        .client
        .create_token(&CreateToken {
            name: "slow".into(),
            scopes: vec!["publish:queue:q".into()],
            publish_rate: Some(PublishRate {
                per_second: 1,
                burst: Some(1),
            }),
            ..Default::default()
        })
        .await?;
    let client = switchyard_client::Client::new(server.url()).with_token(&created.token);
    client.send("q", &json_message(json!(1))).await?;
    let response = client
        .request(
            reqwest::Method::POST,
            &format!("{}/v1/queues/q/messages", server.url()),
        )
        .json(&json!({"payload": 2}))
        .send()
        .await?;
    assert_eq!(response.status(), 429);
    let retry: u64 = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()?
        .parse()?;
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        server
            .client
            .get_queue("q")
            .await?
            .stats
            .expect("stats")
            .ready,
        1
    );
    Ok(())
}

#[tokio::test]
async fn changes_are_audited_with_who_what_and_how_it_went() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.client.create_queue(&queue("audited")).await?;
    let (reader, _) = scoped(&server, &["read:*:*"]).await?;
    assert_api_error(
        reader.create_queue(&queue("sneaky")).await,
        403,
        "forbidden",
    );
    assert_api_error(
        server.client.create_queue(&queue("audited")).await,
        409,
        "queue_exists",
    );
    server.client.purge("audited").await?;
    // Reads and data-plane calls are not changes.
    server.client.list_queues().await?;
    let entries = server.client.audit(None, None).await?;
    let lines: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {} [{}] {} {}",
                e.token,
                e.method,
                e.path,
                e.targets.join(" "),
                e.status,
                e.error.clone().unwrap_or_default()
            )
        })
        .collect();
    let expected = [
        "admin POST /v1/queues [queue:audited] 201 ",
        "admin POST /v1/tokens [token:",
        "scoped read:*:* POST /v1/queues [] 403 forbidden",
        "admin POST /v1/queues [queue:audited] 409 queue_exists",
        "admin POST /v1/queues/audited/purge [queue:audited] 200 ",
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, expected) in lines.iter().zip(expected) {
        assert!(line.starts_with(expected), "{line} is not {expected}");
    }
    assert!(entries.windows(2).all(|w| w[0].seq < w[1].seq));
    let after = server.client.audit(Some(entries[2].seq), None).await?;
    assert_eq!(after.len(), 2);
    assert_api_error(reader.audit(None, None).await, 403, "forbidden");
    Ok(())
}

#[tokio::test]
async fn without_auth_on_loopback_every_request_acts_as_an_admin() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.insecure_no_auth = true).await?;
    let anonymous = switchyard_client::Client::new(server.url());
    let me = anonymous.whoami().await?;
    assert!(!me.auth, "whoami says auth is off");
    anonymous.create_topic("open").await?;
    // The edge still refuses what a browser could be tricked into sending.
    let raw = Raw {
        body: Some(r#"{"name":"planted"}"#),
        token: None,
        content_type: "text/plain",
        ..Raw::default()
    };
    raw_request_with(server.url(), reqwest::Method::POST, "/v1/topics", raw)
        .await
        .assert_error(415, "unsupported_media_type");
    // `open` and the server's own `switchyard.alarms`.
    assert_eq!(anonymous.list_topics().await?.len(), 2);
    Ok(())
}
