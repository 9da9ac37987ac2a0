//! Bad input: every refused request answers a 4xx with a stable code and a message, changes
//! nothing a client can see (a snapshot before equals a snapshot after), and leaves the
//! server serving.

use reqwest::Method;
use serde_json::json;
use switchyard_client::{
    Client, CreateQueue, DeliveryState, Message, PatchQueue, PublishBatch, PublishMessage,
    ReceiveRequest,
};
use switchyard_tests::*;

/// A small world to try bad input against: topic `orders` → queue `work` (dead letters to
/// `work-dlq`), two messages, one of them leased for a minute (`held`).
struct World {
    held: Message,
    subscription: String,
}

async fn world(client: &Client) -> anyhow::Result<World> {
    client.create_topic("orders").await?;
    client.create_queue(&queue("work-dlq")).await?;
    client
        .create_queue(&CreateQueue {
            name: "work".into(),
            visibility_timeout_ms: Some(60_000),
            max_receive_count: Some(3),
            dead_letter_queue: Some("work-dlq".into()),
            ..CreateQueue::default()
        })
        .await?;
    let subscription = client.subscribe("orders", "work", None).await?.id;
    client
        .publish("orders", &json_message(json!({"n": 1})))
        .await?;
    client
        .publish("orders", &json_message(json!({"n": 2})))
        .await?;
    let held = receive_exactly(client, "work", 1).await?.remove(0);
    Ok(World { held, subscription })
}

/// Sends a raw request; says how the answer differs from the expected refusal, if it does.
async fn check_refused(
    server: &TestServer,
    method: Method,
    path: &str,
    body: &str,
    status: u16,
    code: &str,
) -> Option<String> {
    let answer = server.raw(method.clone(), path, Some(body)).await;
    let message = answer
        .json
        .pointer("/error/message")
        .and_then(|m| m.as_str());
    let as_expected = (answer.status.as_u16(), answer.error_code()) == (status, Some(code))
        && message.is_some_and(|m| !m.trim().is_empty());
    (!as_expected).then(|| {
        format!(
            "{method} {path} {body}\n    expected {status} {code}, answered {} {}",
            answer.status, answer.text
        )
    })
}

/// Sends every request of a table and asserts each is refused with `status` and `code`,
/// listing all the ones that were not.
async fn all_refused<'a>(
    server: &TestServer,
    requests: impl IntoIterator<Item = (Method, &'a str, String)>,
    status: u16,
    code: &str,
) {
    let mut wrong = Vec::new();
    for (method, path, body) in requests {
        wrong.extend(check_refused(server, method, path, &body, status, code).await);
    }
    assert!(
        wrong.is_empty(),
        "{} requests not refused as {status} {code}:\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
}

/// Checks that nothing changed and that the server still works.
async fn unchanged(client: &Client, before: &Snapshot) -> anyhow::Result<()> {
    let after = snapshot(client).await?;
    assert_eq!(&after, before, "refused input changed the state");
    assert_still_serving(client).await
}

fn oversized(bytes: usize) -> PublishMessage {
    PublishMessage::bytes(&vec![b'x'; bytes])
}

#[tokio::test]
async fn unknown_topic_is_404_topic_not_found() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let message = json_message(json!(1));
    assert_api_error(client.get_topic("nope").await, 404, "topic_not_found");
    assert_api_error(client.delete_topic("nope").await, 404, "topic_not_found");
    assert_api_error(
        client.publish("nope", &message).await,
        404,
        "topic_not_found",
    );
    let batch = PublishBatch {
        messages: vec![message],
    };
    assert_api_error(
        client.publish_batch("nope", &batch).await,
        404,
        "topic_not_found",
    );
    assert_api_error(
        client.subscribe("nope", "work", None).await,
        404,
        "topic_not_found",
    );
    unchanged(client, &before).await
}

#[tokio::test]
async fn unknown_queue_is_404_queue_not_found() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let World { held, .. } = world(client).await?;
    let before = snapshot(client).await?;
    let receipts = vec![receipt(&held)];
    let code = "queue_not_found";
    assert_api_error(client.get_queue("nope").await, 404, code);
    assert_api_error(client.delete_queue("nope").await, 404, code);
    assert_api_error(
        client.patch_queue("nope", &PatchQueue::default()).await,
        404,
        code,
    );
    assert_api_error(
        client.send("nope", &json_message(json!(1))).await,
        404,
        code,
    );
    assert_api_error(
        client.receive("nope", &receive_request(1, 0)).await,
        404,
        code,
    );
    assert_api_error(client.ack("nope", receipts.clone()).await, 404, code);
    assert_api_error(client.nack("nope", receipts.clone(), None).await, 404, code);
    assert_api_error(client.extend("nope", &receipts[0], 1000).await, 404, code);
    assert_api_error(client.peek("nope", 10, None).await, 404, code);
    assert_api_error(client.purge("nope").await, 404, code);
    assert_api_error(client.subscribe("orders", "nope", None).await, 404, code);
    unchanged(client, &before).await
}

#[tokio::test]
async fn unknown_subscription_and_message_are_404() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let missing = ulid::Ulid::new().to_string();
    let code = "subscription_not_found";
    assert_api_error(client.delete_subscription(&missing).await, 404, code);
    assert_api_error(client.patch_subscription(&missing, None).await, 404, code);
    assert_api_error(
        client.message_status(&missing).await,
        404,
        "message_not_found",
    );
    unchanged(client, &before).await
}

#[tokio::test]
async fn invalid_names_are_400_invalid_name() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let too_long = "x".repeat(129);
    let names = [
        "",
        "has space",
        "slash/inside",
        "ünïcode",
        "semi;colon",
        "star*",
        "tab\there",
        "new\nline",
        too_long.as_str(),
    ];
    for name in names {
        assert_api_error(client.create_topic(name).await, 400, "invalid_name");
        assert_api_error(client.create_queue(&queue(name)).await, 400, "invalid_name");
    }
    unchanged(client, &before).await
}

#[tokio::test]
async fn existing_names_are_409() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    assert_api_error(client.create_topic("orders").await, 409, "topic_exists");
    assert_api_error(
        client.create_queue(&queue("work")).await,
        409,
        "queue_exists",
    );
    let other_settings = CreateQueue {
        name: "work".into(),
        visibility_timeout_ms: Some(1),
        ..CreateQueue::default()
    };
    assert_api_error(
        client.create_queue(&other_settings).await,
        409,
        "queue_exists",
    );
    assert_api_error(
        client.subscribe("orders", "work", None).await,
        409,
        "subscription_exists",
    );
    unchanged(client, &before).await
}

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

#[tokio::test]
async fn invalid_receipts_are_400_invalid_receipt() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let World { held, .. } = world(client).await?;
    let before = snapshot(client).await?;
    let code = "invalid_receipt";
    for garbage in [
        "garbage",
        "",
        "AAAAAAAAAAAAAAAAAAAAAAAAAA",
        &"z".repeat(5000),
    ] {
        assert_api_error(client.ack("work", vec![garbage.into()]).await, 400, code);
        assert_api_error(
            client.nack("work", vec![garbage.into()], None).await,
            400,
            code,
        );
        assert_api_error(client.extend("work", garbage, 1000).await, 400, code);
    }
    // A real receipt, presented to another queue.
    let r = receipt(&held);
    assert_api_error(client.ack("work-dlq", vec![r.clone()]).await, 400, code);
    assert_api_error(
        client.nack("work-dlq", vec![r.clone()], None).await,
        400,
        code,
    );
    assert_api_error(client.extend("work-dlq", &r, 1000).await, 400, code);
    unchanged(client, &before).await?;
    // The held message is untouched: its receipt still acks it.
    ack_all(client, "work", &[held]).await
}

#[tokio::test]
async fn expired_receipts_are_400_receipt_expired() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    client
        .create_queue(&CreateQueue {
            name: "short".into(),
            visibility_timeout_ms: Some(300),
            ..CreateQueue::default()
        })
        .await?;
    let id = client.send("short", &json_message(json!("brief"))).await?;
    let first = receive_exactly(client, "short", 1).await?.remove(0);
    wait_until("the 300 ms lease to end", PATIENCE, async || {
        Ok(client.message_status(&id).await?.deliveries[0].state != DeliveryState::InFlight)
    })
    .await?;

    let before = snapshot(client).await?;
    let stale = receipt(&first);
    let code = "receipt_expired";
    assert_api_error(client.ack("short", vec![stale.clone()]).await, 400, code);
    assert_api_error(
        client.nack("short", vec![stale.clone()], None).await,
        400,
        code,
    );
    assert_api_error(client.extend("short", &stale, 60_000).await, 400, code);
    unchanged(client, &before).await?;

    // Redelivered: the old receipt stays expired, the new one works.
    let second = receive_exactly(client, "short", 1).await?.remove(0);
    assert_eq!((second.id.as_str(), second.receive_count), (id.as_str(), 2));
    assert_api_error(client.ack("short", vec![stale]).await, 400, code);
    ack_all(client, "short", &[second]).await
}

#[tokio::test]
async fn mixed_ack_acks_the_live_receipts_and_lists_the_others() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("mixed")).await?;
    client.send("mixed", &json_message(json!("a"))).await?;
    client.send("mixed", &json_message(json!("b"))).await?;
    let short = ReceiveRequest {
        max_messages: Some(1),
        wait_ms: Some(1000),
        visibility_timeout_ms: Some(300),
    };
    let expired = client.receive("mixed", &short).await?.remove(0);
    let live = receive_exactly(client, "mixed", 1).await?.remove(0); // 30 s lease
    wait_until("the 300 ms lease to end", PATIENCE, async || {
        Ok(
            client.message_status(&expired.id).await?.deliveries[0].state
                != DeliveryState::InFlight,
        )
    })
    .await?;

    let answer = client
        .ack("mixed", vec![receipt(&expired), receipt(&live)])
        .await?;
    assert_eq!(answer.acked, 1);
    assert_eq!(answer.failed.len(), 1, "{:?}", answer.failed);
    assert_eq!(answer.failed[0].receipt, receipt(&expired));
    assert_eq!(answer.failed[0].code, "receipt_expired");
    assert!(!answer.failed[0].message.is_empty());
    assert_api_error(
        client.message_status(&live.id).await,
        404,
        "message_not_found",
    );
    let again = receive_exactly(client, "mixed", 1).await?;
    assert_eq!(
        (again[0].id.as_str(), again[0].receive_count),
        (expired.id.as_str(), 2)
    );
    Ok(())
}

#[tokio::test]
async fn visibility_timeouts_outside_0_to_12_hours_are_400_invalid_setting() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let World { held, .. } = world(client).await?;
    let lease_end = client.message_status(&held.id).await?.deliveries[0].visible_at_ms;
    let before = snapshot(client).await?;
    let code = "invalid_setting";
    for too_long in [43_200_001, u64::MAX] {
        let create = CreateQueue {
            name: "q2".into(),
            visibility_timeout_ms: Some(too_long),
            ..CreateQueue::default()
        };
        assert_api_error(client.create_queue(&create).await, 400, code);
        let patch = PatchQueue {
            visibility_timeout_ms: Some(too_long),
            ..PatchQueue::default()
        };
        assert_api_error(client.patch_queue("work", &patch).await, 400, code);
        let receive = ReceiveRequest {
            max_messages: Some(10),
            wait_ms: Some(0),
            visibility_timeout_ms: Some(too_long),
        };
        assert_api_error(client.receive("work", &receive).await, 400, code);
        assert_api_error(
            client.extend("work", &receipt(&held), too_long).await,
            400,
            code,
        );
    }
    unchanged(client, &before).await?;
    let status = client.message_status(&held.id).await?;
    assert_eq!(
        status.deliveries[0].visible_at_ms, lease_end,
        "a refused extend moved the lease"
    );
    Ok(())
}

#[tokio::test]
async fn missing_dead_letter_queue_is_400_dead_letter_queue_not_found() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let code = "dead_letter_queue_not_found";
    let create = CreateQueue {
        name: "q2".into(),
        max_receive_count: Some(2),
        dead_letter_queue: Some("missing".into()),
        ..CreateQueue::default()
    };
    assert_api_error(client.create_queue(&create).await, 400, code);
    let patch = PatchQueue {
        dead_letter_queue: Some(Some("missing".into())),
        ..PatchQueue::default()
    };
    assert_api_error(client.patch_queue("work", &patch).await, 400, code);
    unchanged(client, &before).await
}

#[tokio::test]
async fn invalid_filters_are_400_invalid_filter() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let World { subscription, .. } = world(client).await?;
    let before = snapshot(client).await?;
    let filters = [
        json!({"attributes": {"kind": "signup"}}),
        json!({"attributes": {"kind": [{"no-such-operator": 1}]}}),
        json!({"payload": {"plan": [{"no-such-operator": ["pro"]}]}}),
        json!("signup"),
        json!(["signup"]),
        json!(42),
    ];
    for filter in filters {
        let created = client
            .subscribe("orders", "work-dlq", Some(filter.clone()))
            .await;
        assert_api_error(created, 400, "invalid_filter");
        let patched = client.patch_subscription(&subscription, Some(filter)).await;
        assert_api_error(patched, 400, "invalid_filter");
    }
    unchanged(client, &before).await
}

#[tokio::test]
async fn out_of_range_receive_and_delay_settings_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let World { held, .. } = world(client).await?;
    let before = snapshot(client).await?;
    let code = "invalid_setting";
    for request in [
        ReceiveRequest {
            max_messages: Some(0),
            ..ReceiveRequest::default()
        },
        ReceiveRequest {
            max_messages: Some(1001),
            ..ReceiveRequest::default()
        },
        ReceiveRequest {
            wait_ms: Some(20_001),
            ..ReceiveRequest::default()
        },
        ReceiveRequest {
            wait_ms: Some(u64::MAX),
            ..ReceiveRequest::default()
        },
    ] {
        assert_api_error(client.receive("work", &request).await, 400, code);
    }
    let fifteen_minutes = 900_000;
    let late = json_message(json!(1)).delay_ms(fifteen_minutes + 1);
    assert_api_error(client.publish("orders", &late).await, 400, code);
    assert_api_error(client.send("work", &late).await, 400, code);
    let create = CreateQueue {
        name: "q2".into(),
        delay_ms: Some(fifteen_minutes + 1),
        ..CreateQueue::default()
    };
    assert_api_error(client.create_queue(&create).await, 400, code);
    let nack = client
        .nack("work", vec![receipt(&held)], Some(43_200_001))
        .await;
    assert_api_error(nack, 400, code);
    unchanged(client, &before).await
}

#[tokio::test]
async fn inconsistent_queue_settings_are_400_invalid_setting() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    let before = snapshot(client).await?;
    let code = "invalid_setting";
    let base = || CreateQueue {
        name: "q2".into(),
        ..CreateQueue::default()
    };
    let cases = [
        CreateQueue {
            max_receive_count: Some(0),
            dead_letter_queue: Some("work-dlq".into()),
            ..base()
        },
        CreateQueue {
            max_receive_count: Some(3),
            ..base()
        }, // nowhere to move messages
        CreateQueue {
            dead_letter_queue: Some("q2".into()),
            ..base()
        }, // its own DLQ
        CreateQueue {
            retention_ms: Some(0),
            ..base()
        },
        CreateQueue {
            retention_ms: Some(15 * 24 * 3_600_000),
            ..base()
        },
    ];
    for create in cases {
        let answer = client.create_queue(&create).await;
        if create.dead_letter_queue.as_deref() == Some("q2") {
            // Refused either way: q2 does not exist yet.
            let code = answer
                .as_ref()
                .err()
                .and_then(|e| e.code())
                .map(str::to_string);
            assert!(
                matches!(
                    code.as_deref(),
                    Some("invalid_setting" | "dead_letter_queue_not_found")
                ),
                "{create:?}: {answer:?}"
            );
        } else {
            assert_api_error(answer, 400, code);
        }
    }
    let own = PatchQueue {
        dead_letter_queue: Some(Some("work".into())),
        ..PatchQueue::default()
    };
    assert_api_error(client.patch_queue("work", &own).await, 400, code);
    let zero = PatchQueue {
        max_receive_count: Some(0),
        ..PatchQueue::default()
    };
    assert_api_error(client.patch_queue("work", &zero).await, 400, code);
    unchanged(client, &before).await
}
