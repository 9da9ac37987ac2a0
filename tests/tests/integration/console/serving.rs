//! What the server itself adds for the console, over plain HTTP: the console's files at `/`
//! (or, without them, a page saying how to build them), the filter dry run, and per-topic
//! publish counters.

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchyard_client::PublishBatch;
use switchyard_tests::*;

#[tokio::test]
async fn without_a_built_console_the_root_says_how_to_build_it() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let root = server.raw(Method::GET, "/", None).await;
    assert_eq!(root.status, StatusCode::OK);
    assert!(root.text.contains("cargo xtask serve"), "{}", root.text);
    assert!(root.text.contains("--console-dir"), "{}", root.text);
    // Everything else keeps the API's JSON 404.
    server
        .raw(Method::GET, "/v1/nothing-here", None)
        .await
        .assert_error(404, "not_found");
    server
        .raw(Method::GET, "/index.html", None)
        .await
        .assert_error(404, "not_found");
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_built_console_is_served_at_the_root_with_its_content_types() -> anyhow::Result<()> {
    let server = console_server().await?;
    let http = reqwest::Client::new();
    let index = http.get(format!("{}/", server.url())).send().await?;
    assert_eq!(index.status(), StatusCode::OK);
    let html = index.text().await?;
    assert!(html.contains("switchyard-console.js"), "{html}");
    for (file, content_type) in [
        ("switchyard-console_bg.wasm", "application/wasm"),
        ("switchyard-console.js", "javascript"),
        ("style.css", "text/css"),
    ] {
        let response = http.get(format!("{}/{file}", server.url())).send().await?;
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        let got = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()?
            .to_string();
        assert!(got.contains(content_type), "{file}: {got}");
    }
    server
        .raw(Method::GET, "/v1/nothing-here", None)
        .await
        .assert_error(404, "not_found");
    server
        .raw(Method::GET, "/missing.js", None)
        .await
        .assert_error(404, "not_found");
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn filter_validation_answers_as_a_subscription_would_and_stores_nothing() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let valid = server
        .raw(
            Method::POST,
            "/v1/filters/validate",
            Some(r#"{"filter": {"payload": {"plan": [{"prefix": "pro"}]}}}"#),
        )
        .await;
    assert_eq!(
        (valid.status, valid.json.clone()),
        (StatusCode::OK, json!({"valid": true}))
    );
    let invalid = server
        .raw(
            Method::POST,
            "/v1/filters/validate",
            Some(r#"{"filter": {"attributes": {"kind": "signup"}}}"#),
        )
        .await;
    invalid.assert_error(400, "invalid_filter");
    assert!(
        invalid.text.contains("$.attributes.kind"),
        "{}",
        invalid.text
    );
    server
        .raw(
            Method::POST,
            "/v1/filters/validate",
            Some(r#"{"pattern": {}}"#),
        )
        .await
        .assert_error(400, "invalid_body");
    assert!(server.client.list_subscriptions().await?.is_empty());
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn topics_count_their_publishes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("clicks").await?;
    client.create_topic("quiet").await?;
    assert_eq!(client.get_topic("clicks").await?.published, 0);
    client.publish("clicks", &json_message(json!(1))).await?;
    let batch = PublishBatch {
        messages: (0..4).map(|n| json_message(json!(n))).collect(),
    };
    client.publish_batch("clicks", &batch).await?;
    // A subscription change rebuilds the topic's routes; the count stays.
    client.create_queue(&queue("sink")).await?;
    client.subscribe("clicks", "sink", None).await?;
    client.publish("clicks", &json_message(json!(6))).await?;
    let topics = client.list_topics().await?;
    let published: Vec<(&str, u64)> = topics
        .iter()
        .map(|t| (t.name.as_str(), t.published))
        .collect();
    assert_eq!(
        published,
        [
            ("clicks", 6),
            ("quiet", 0),
            (switchyard_client::ALARMS_TOPIC, 0)
        ]
    );
    server.shutdown().await;
    Ok(())
}
