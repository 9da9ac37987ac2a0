//! Receipts are authenticated, and consumer secrets are write-only.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::json;
use switchyard_client::{CreateConsumer, PatchConsumer, ReceiveRequest};
use switchyard_tests::*;

#[tokio::test]
async fn a_forged_or_altered_receipt_is_refused_and_settles_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("q")).await?;
    client.send("q", &json_message(json!(1))).await?;
    let held = receive_exactly(client, "q", 1).await?.remove(0);
    let receipt = held.receipt.clone().expect("a receipt");
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes = engine.decode(&receipt)?;
    let mut forged = Vec::new();
    // The lease alone, as an untagged receipt would name it.
    forged.push(engine.encode(&bytes[..28]));
    // Another lease number, tag kept.
    let mut other_lease = bytes.clone();
    other_lease[27] ^= 1;
    forged.push(engine.encode(&other_lease));
    // The tag changed.
    let mut other_tag = bytes.clone();
    *other_tag.last_mut().expect("a tag") ^= 0x80;
    forged.push(engine.encode(&other_tag));
    for text in forged {
        assert_api_error(
            client.ack("q", vec![text.clone()]).await,
            400,
            "invalid_receipt",
        );
        assert_api_error(
            client.nack("q", vec![text.clone()], None).await,
            400,
            "invalid_receipt",
        );
        assert_api_error(
            client.extend("q", &text, 60_000).await,
            400,
            "invalid_receipt",
        );
    }
    let stats = client.get_queue("q").await?.stats.expect("stats");
    assert_eq!(
        (stats.ready, stats.in_flight),
        (0, 1),
        "still leased, not settled"
    );
    assert_eq!(client.ack("q", vec![receipt]).await?.acked, 1);
    Ok(())
}

#[tokio::test]
async fn receipts_stay_valid_across_a_restart() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.client.create_queue(&queue("q")).await?;
    server.client.send("q", &json_message(json!(1))).await?;
    let request = ReceiveRequest {
        visibility_timeout_ms: Some(600_000),
        ..ReceiveRequest::default()
    };
    let held = server.client.receive("q", &request).await?.remove(0);
    let server = server.restart().await?;
    let acked = server
        .client
        .ack("q", vec![held.receipt.expect("a receipt")])
        .await?;
    assert_eq!(
        acked.acked, 1,
        "the server's receipt key is kept with its data"
    );
    Ok(())
}

#[tokio::test]
async fn a_consumers_secrets_reach_its_plugin_and_no_answer() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let sink = HttpSink::start(vec![]).await?;
    client.create_topic("signups").await?;
    client.create_queue(&queue("mailing")).await?;
    client.subscribe("signups", "mailing", None).await?;
    client
        .deploy_plugin("mailing-list", plugin_wasm("mailing-list")?, true)
        .await?;
    // The endpoint, path and all, is the secret: the plugin can only call it by reading it.
    let secret = sink.url("/hook-9f3c2a7e51d04b8c");
    let created = client
        .create_consumer(&CreateConsumer {
            name: "mailing".into(),
            queue: "mailing".into(),
            plugin: "mailing-list".into(),
            secrets: BTreeMap::from([("endpoint".into(), secret.clone())]),
            allowed_hosts: vec![sink.origin()],
            ..CreateConsumer::default()
        })
        .await?;
    assert_eq!(created.secret_names, ["endpoint"]);
    client
        .publish(
            "signups",
            &json_message(json!({"email": "ada@example.com"})).attribute("kind", "signup"),
        )
        .await?;
    wait_until(
        "the plugin to call the secret endpoint",
        PATIENCE,
        async || Ok(!sink.requests().is_empty()),
    )
    .await?;
    assert_eq!(sink.requests()[0].path, "/hook-9f3c2a7e51d04b8c");
    let hidden = "hook-9f3c2a7e51d04b8c";
    for path in [
        "/v1/consumers",
        "/v1/consumers/mailing",
        "/v1/consumers/mailing/logs",
        "/v1/audit?limit=1000",
        "/metrics",
    ] {
        let answer = server.raw(reqwest::Method::GET, path, None).await;
        assert!(answer.status.is_success(), "{path}: {}", answer.text);
        assert!(
            !answer.text.contains(hidden),
            "{path} shows the secret: {}",
            answer.text
        );
    }
    // A name is a config value or a secret, not both; the refusal does not echo the value.
    let both = PatchConsumer {
        config: Some(BTreeMap::from([("endpoint".into(), "x".into())])),
        ..PatchConsumer::default()
    };
    let message = assert_api_error(
        client.patch_consumer("mailing", &both).await,
        400,
        "invalid_setting",
    );
    assert!(!message.contains(hidden), "{message}");
    // Replacing the secrets drops the old ones.
    let cleared = PatchConsumer {
        secrets: Some(BTreeMap::new()),
        ..PatchConsumer::default()
    };
    assert!(
        client
            .patch_consumer("mailing", &cleared)
            .await?
            .secret_names
            .is_empty()
    );
    Ok(())
}
