//! Draft-filter preview: counts and examples from the newest archived messages, changing
//! nothing; bad patterns name their JSON path.

use serde_json::json;
use switchyard_client::PreviewRequest;
use switchyard_tests::*;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_tests_the_newest_archived_messages_and_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    archived_topic(client, "events").await?;
    client.create_queue(&queue("subscriber")).await?;
    client.subscribe("events", "subscriber", None).await?;
    publish_numbers(client, "events", 0..30).await?;
    let before = snapshot(client).await?;

    let evens = PreviewRequest {
        filter: json!({"attributes": {"kind": ["even"]}}),
        limit: None,
    };
    let preview = client.preview_filter("events", &evens).await?;
    assert_eq!((preview.scanned, preview.matched), (30, 15));
    let shown: Vec<u64> = preview
        .examples
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(e.payload.as_ref().unwrap().get())
                    .unwrap()["n"]
                    .as_u64()
                    .unwrap()
        })
        .collect();
    assert_eq!(
        shown,
        vec![28, 26, 24, 22, 20],
        "the newest five matches, newest first"
    );
    assert_eq!(preview.examples[0].position, 28);

    let newest = PreviewRequest {
        filter: json!({"payload": {"n": [{"numeric": ["<", 28]}]}}),
        limit: Some(5),
    };
    let preview = client.preview_filter("events", &newest).await?;
    assert_eq!((preview.scanned, preview.matched), (5, 3));

    assert_eq!(
        snapshot(client).await?,
        before,
        "a preview changed something"
    );
    assert!(client.list_replays().await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_previews_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    archived_topic(client, "events").await?;
    client.create_topic("plain").await?;
    publish_numbers(client, "events", 0..3).await?;
    let before = snapshot(client).await?;
    let preview = |topic: &'static str, body: &'static str| {
        let path = format!("/v1/topics/{topic}/preview");
        let server = &server;
        async move { server.raw(reqwest::Method::POST, &path, Some(body)).await }
    };
    let bad = preview("events", r#"{"filter":{"payload":{"n":[{"prefix":5}]}}}"#).await;
    bad.assert_error(400, "invalid_filter");
    assert!(bad.text.contains("$.payload.n[0]"), "{}", bad.text);
    preview("events", r#"{"filter":{"key":["k"]},"limit":0}"#)
        .await
        .assert_error(400, "invalid_setting");
    preview("events", r#"{"filter":{"key":["k"]},"limit":10001}"#)
        .await
        .assert_error(400, "invalid_setting");
    preview("plain", r#"{"filter":{"key":["k"]}}"#)
        .await
        .assert_error(409, "archive_not_enabled");
    preview("missing", r#"{"filter":{"key":["k"]}}"#)
        .await
        .assert_error(404, "topic_not_found");
    preview("events", r#"{"limit":5}"#)
        .await
        .assert_error(400, "invalid_body");
    assert_eq!(snapshot(client).await?, before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_reads_at_most_64_mib_of_payloads() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    archived_topic(client, "big").await?;
    let payload = vec![b'x'; 1_000_000];
    for _ in 0..70 {
        let message = switchyard_client::PublishMessage::bytes(&payload);
        client.publish("big", &message).await?;
    }
    let everything = PreviewRequest {
        filter: json!({"key": [{"exists": false}]}),
        limit: Some(10_000),
    };
    let preview = client.preview_filter("big", &everything).await?;
    // 68 payloads of 10^6 bytes are the first to reach 64 MiB (67.1 of them).
    assert_eq!((preview.scanned, preview.matched), (68, 68), "{preview:?}");
    assert!(preview.byte_limit_reached);
    assert_eq!(preview.examples.len(), 5);
    let few = PreviewRequest {
        filter: json!({"key": [{"exists": false}]}),
        limit: Some(10),
    };
    let preview = client.preview_filter("big", &few).await?;
    assert_eq!(preview.scanned, 10);
    assert!(!preview.byte_limit_reached);
    Ok(())
}
