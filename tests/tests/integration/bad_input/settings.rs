//! Settings out of range or inconsistent (invalid_setting), a missing dead-letter queue,
//! invalid subscription filters.

use serde_json::json;
use switchyard_client::{CreateQueue, PatchQueue, ReceiveRequest};
use switchyard_tests::*;

use super::{World, unchanged, world};

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
