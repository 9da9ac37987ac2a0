//! Request bodies: oversized payloads (413), malformed JSON, wrong types and unknown
//! fields (400 invalid_body), bad payload fields (400 invalid_payload), bad batches.

use reqwest::Method;
use serde_json::json;
use switchyard_client::PublishBatch;
use switchyard_tests::*;

use super::{World, all_refused, oversized, unchanged, world};

#[tokio::test]
async fn oversized_payload_is_413_payload_too_large() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.max_message_bytes = 1024).await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let code = "payload_too_large";
    assert_api_error(client.publish("orders", &oversized(1025)).await, 413, code);
    assert_api_error(client.send("work", &oversized(1025)).await, 413, code);
    let long_json = json_message(json!("y".repeat(2000)));
    assert_api_error(client.publish("orders", &long_json).await, 413, code);
    // One oversized message refuses the whole batch.
    let batch = PublishBatch {
        messages: vec![
            json_message(json!(1)),
            oversized(5000),
            json_message(json!(3)),
        ],
    };
    assert_api_error(client.publish_batch("orders", &batch).await, 413, code);
    unchanged(client, &before).await?;

    // Exactly at the limit is fine.
    let id = client.send("work-dlq", &oversized(1024)).await?;
    let got = receive_exactly(client, "work-dlq", 1).await?;
    assert_eq!(
        (got[0].id.as_str(), got[0].payload_bytes()?.len()),
        (id.as_str(), 1024)
    );
    Ok(())
}

#[tokio::test]
async fn default_payload_limit_is_one_mib() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let one_mib = 1 << 20;
    assert_api_error(
        client.send("work", &oversized(one_mib + 1)).await,
        413,
        "payload_too_large",
    );
    unchanged(client, &before).await?;
    client.send("work-dlq", &oversized(one_mib)).await?;
    let got = receive_exactly(client, "work-dlq", 1).await?;
    assert_eq!(got[0].payload_bytes()?.len(), one_mib);
    Ok(())
}

#[tokio::test]
async fn malformed_json_is_400_invalid_body() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let endpoints = [
        (Method::POST, "/v1/topics"),
        (Method::POST, "/v1/queues"),
        (Method::PATCH, "/v1/queues/work"),
        (Method::POST, "/v1/subscriptions"),
        (Method::POST, "/v1/topics/orders/messages"),
        (Method::POST, "/v1/topics/orders/batch"),
        (Method::POST, "/v1/queues/work/messages"),
        (Method::POST, "/v1/queues/work/receive"),
        (Method::POST, "/v1/queues/work/ack"),
        (Method::POST, "/v1/queues/work/nack"),
        (Method::POST, "/v1/queues/work/extend"),
    ];
    let bodies = [
        "{",
        "not json",
        r#"{"name": "x",}"#,
        r#"{"payload": 1"#,
        "\u{0}",
    ];
    let mut requests = Vec::new();
    for (method, path) in &endpoints {
        for body in bodies {
            requests.push((method.clone(), *path, body.to_string()));
        }
    }
    requests.push((Method::POST, "/v1/topics", String::new()));
    requests.push((Method::POST, "/v1/queues", String::new()));
    all_refused(&server, requests, 400, "invalid_body").await;

    // Many bad requests at once do not hurt the server either.
    let url = server.url().to_string();
    let flood = (0..200).map(|n| {
        let url = url.clone();
        async move {
            raw_request(
                &url,
                Method::POST,
                "/v1/topics/orders/messages",
                Some(&"{".repeat(n)),
            )
            .await
        }
    });
    for answer in futures::future::join_all(flood).await {
        assert_eq!(answer.status.as_u16(), 400, "{}", answer.text);
    }
    unchanged(client, &before).await
}

#[tokio::test]
async fn wrong_types_are_400_invalid_body() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let World { held, .. } = world(client).await?;
    let before = snapshot(client).await?;
    let r = receipt(&held);
    let cases = [
        (Method::POST, "/v1/topics", json!({"name": 5})),
        (Method::POST, "/v1/topics", json!(["orders2"])),
        (Method::POST, "/v1/topics", json!({})),
        (
            Method::POST,
            "/v1/queues",
            json!({"name": "q2", "visibility_timeout_ms": "30s"}),
        ),
        (
            Method::POST,
            "/v1/queues",
            json!({"name": "q2", "visibility_timeout_ms": -1}),
        ),
        (
            Method::POST,
            "/v1/queues",
            json!({"name": "q2", "max_receive_count": 2.5}),
        ),
        (
            Method::PATCH,
            "/v1/queues/work",
            json!({"delay_ms": "soon"}),
        ),
        (
            Method::POST,
            "/v1/subscriptions",
            json!({"topic": "orders"}),
        ),
        (
            Method::POST,
            "/v1/topics/orders/messages",
            json!({"payload": 1, "attributes": {"k": 1}}),
        ),
        (
            Method::POST,
            "/v1/topics/orders/messages",
            json!({"payload": 1, "attributes": ["k"]}),
        ),
        (
            Method::POST,
            "/v1/topics/orders/messages",
            json!({"payload": 1, "delay_ms": -5}),
        ),
        (
            Method::POST,
            "/v1/topics/orders/messages",
            json!({"payload_base64": 12}),
        ),
        (
            Method::POST,
            "/v1/topics/orders/batch",
            json!({"messages": {"payload": 1}}),
        ),
        (
            Method::POST,
            "/v1/topics/orders/batch",
            json!([{"payload": 1}]),
        ),
        (
            Method::POST,
            "/v1/queues/work/receive",
            json!({"max_messages": "ten"}),
        ),
        (Method::POST, "/v1/queues/work/ack", json!({"receipts": r})),
        // A JSON array where an object belongs (serde would read it as a tuple).
        (Method::POST, "/v1/queues", json!(["q3"])),
        (Method::POST, "/v1/queues/work/receive", json!([1])),
        (Method::POST, "/v1/queues/work/ack", json!([[r]])),
        (Method::POST, "/v1/queues/work/ack", json!({})),
        (
            Method::POST,
            "/v1/queues/work/nack",
            json!({"receipts": [r], "delay_ms": "1s"}),
        ),
        (
            Method::POST,
            "/v1/queues/work/extend",
            json!({"receipt": r}),
        ),
        (
            Method::POST,
            "/v1/queues/work/extend",
            json!({"receipt": [r], "visibility_timeout_ms": 1}),
        ),
    ];
    let requests = cases
        .into_iter()
        .map(|(method, path, body)| (method, path, body.to_string()));
    all_refused(&server, requests, 400, "invalid_body").await;
    unchanged(client, &before).await
}

#[tokio::test]
async fn unknown_fields_are_400_invalid_body() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let World { held, subscription } = world(client).await?;
    let before = snapshot(client).await?;
    let r = receipt(&held);
    let sub_path = format!("/v1/subscriptions/{subscription}");
    let cases = [
        (
            Method::POST,
            "/v1/topics",
            json!({"name": "t2", "colour": "red"}),
        ),
        // A typo that would silently give the default lease.
        (
            Method::POST,
            "/v1/queues",
            json!({"name": "q2", "visiblity_timeout_ms": 100}),
        ),
        (
            Method::PATCH,
            "/v1/queues/work",
            json!({"visibility_timeout": 100}),
        ),
        (
            Method::POST,
            "/v1/subscriptions",
            json!({"topic": "orders", "queue": "work-dlq", "filtr": {}}),
        ),
        (
            Method::PATCH,
            sub_path.as_str(),
            json!({"filter": null, "topic": "x"}),
        ),
        (
            Method::POST,
            "/v1/topics/orders/messages",
            json!({"payload": 1, "atributes": {}}),
        ),
        (
            Method::POST,
            "/v1/queues/work/messages",
            json!({"payload": 1, "delay": 5}),
        ),
        (
            Method::POST,
            "/v1/topics/orders/batch",
            json!({"messages": [{"payload": 1}], "extra": 1}),
        ),
        (
            Method::POST,
            "/v1/topics/orders/batch",
            json!({"messages": [{"payload": 1, "x": 1}]}),
        ),
        (
            Method::POST,
            "/v1/queues/work/receive",
            json!({"max_mesages": 5}),
        ),
        // Each of these would otherwise act on the held message.
        (
            Method::POST,
            "/v1/queues/work/ack",
            json!({"receipts": [r], "x": 1}),
        ),
        (
            Method::POST,
            "/v1/queues/work/nack",
            json!({"receipts": [r], "delay": 5}),
        ),
        (
            Method::POST,
            "/v1/queues/work/extend",
            json!({"receipt": r, "visibility_timeout_ms": 1, "x": 1}),
        ),
    ];
    let requests = cases
        .into_iter()
        .map(|(method, path, body)| (method, path, body.to_string()));
    all_refused(&server, requests, 400, "invalid_body").await;
    unchanged(client, &before).await
}

#[tokio::test]
async fn invalid_payloads_are_400_invalid_payload() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let bodies = [
        json!({"payload": {"a": 1}, "payload_base64": "aGk="}),
        json!({"attributes": {"k": "v"}}),
        json!({}),
        json!({"payload_base64": "!!! not base64 !!!"}),
        json!({"payload_base64": "aGk"}),
    ];
    let mut requests = Vec::new();
    for body in &bodies {
        requests.push((Method::POST, "/v1/topics/orders/messages", body.to_string()));
        requests.push((Method::POST, "/v1/queues/work/messages", body.to_string()));
        // One bad message refuses the whole batch.
        let batch = json!({"messages": [{"payload": 1}, body, {"payload": 3}]});
        requests.push((Method::POST, "/v1/topics/orders/batch", batch.to_string()));
    }
    all_refused(&server, requests, 400, "invalid_payload").await;
    unchanged(client, &before).await
}

#[tokio::test]
async fn empty_and_oversized_batches_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.max_batch_messages = 5).await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let empty = PublishBatch { messages: vec![] };
    assert_api_error(
        client.publish_batch("orders", &empty).await,
        400,
        "empty_batch",
    );
    let six = PublishBatch {
        messages: (0..6).map(|n| json_message(json!(n))).collect(),
    };
    assert_api_error(
        client.publish_batch("orders", &six).await,
        400,
        "batch_too_large",
    );
    unchanged(client, &before).await?;
    let five = PublishBatch {
        messages: (0..5).map(|n| json_message(json!(n))).collect(),
    };
    assert_eq!(client.publish_batch("orders", &five).await?.len(), 5);
    Ok(())
}
