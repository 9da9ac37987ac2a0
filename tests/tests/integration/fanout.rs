//! Fan-out and routing: a topic copies every message to every subscribed queue exactly
//! once; filters choose what a subscription takes; a direct send reaches one queue.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchyard_client::{DeliveryState, PublishBatch, PublishMessage};
use switchyard_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscribed_queue_receives_every_message_exactly_once() -> anyhow::Result<()> {
    const QUEUES: [&str; 3] = ["billing", "email", "analytics"];
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("orders").await?;
    for name in QUEUES {
        client.create_queue(&queue(name)).await?;
        client.subscribe("orders", name, None).await?;
    }

    // 100 single publishes, 8 in flight at a time, then 5 batches of 20.
    let mut expected: BTreeMap<String, Value> = stream::iter(0..100)
        .map(|n| async move {
            let body = json!({"n": n, "via": "single"});
            let id = client
                .publish("orders", &json_message(body.clone()))
                .await?;
            Ok::<_, anyhow::Error>((id, body))
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    for batch in 0..5 {
        let bodies: Vec<Value> = (0..20)
            .map(|i| json!({"n": 100 + batch * 20 + i, "via": "batch"}))
            .collect();
        let messages = PublishBatch {
            messages: bodies.iter().cloned().map(json_message).collect(),
        };
        let ids = client.publish_batch("orders", &messages).await?;
        assert_eq!(ids.len(), bodies.len(), "one id per batch message");
        expected.extend(ids.into_iter().zip(bodies));
    }
    assert_eq!(expected.len(), 200, "every publish got its own id");
    expected.keys().for_each(|id| assert_ulid(id));

    let expected = &expected;
    futures::future::try_join_all(QUEUES.map(|name| async move {
        let received = receive_exactly(client, name, expected.len()).await?;
        let ids = distinct_ids(&received);
        let want: HashSet<String> = expected.keys().cloned().collect();
        assert_eq!(ids, want, "{name} got a different set of messages");
        for message in &received {
            assert_eq!(
                message.receive_count, 1,
                "{name}: first delivery of {}",
                message.id
            );
            assert_eq!(message.topic.as_deref(), Some("orders"));
            assert_eq!(
                &payload(message),
                &expected[&message.id],
                "{name}: payload of {}",
                message.id
            );
        }
        ack_all(client, name, &received).await?;
        let more = drain(client, name).await?;
        assert!(
            more.is_empty(),
            "{name} delivered {} extra messages",
            more.len()
        );
        Ok::<_, anyhow::Error>(())
    }))
    .await?;
    Ok(())
}

#[tokio::test]
async fn acking_in_one_queue_leaves_the_other_queues_copy() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("signups").await?;
    for name in ["mail", "crm"] {
        client.create_queue(&queue(name)).await?;
        client.subscribe("signups", name, None).await?;
    }
    let id = client
        .publish("signups", &json_message(json!({"user": 7})))
        .await?;

    let status = client.message_status(&id).await?;
    let queues: BTreeSet<&str> = status.deliveries.iter().map(|d| d.queue.as_str()).collect();
    assert_eq!(queues, BTreeSet::from(["crm", "mail"]));
    assert_eq!(status.topic.as_deref(), Some("signups"));

    let mail = receive_exactly(client, "mail", 1).await?;
    assert_eq!(mail[0].id, id);
    ack_all(client, "mail", &mail).await?;

    let status = client.message_status(&id).await?;
    assert_eq!(
        states(&status),
        [
            ("crm".to_string(), DeliveryState::Ready),
            ("mail".to_string(), DeliveryState::Acked)
        ],
        "only crm still holds it: {status:?}"
    );
    let crm = receive_exactly(client, "crm", 1).await?;
    assert_eq!(crm[0].id, id);
    assert_eq!(payload(&crm[0]), json!({"user": 7}));
    ack_all(client, "crm", &crm).await?;
    let status = client.message_status(&id).await?;
    assert_eq!(
        states(&status),
        [
            ("crm".to_string(), DeliveryState::Acked),
            ("mail".to_string(), DeliveryState::Acked)
        ]
    );
    assert_eq!(status.topic, None, "the body is gone with the last copy");
    Ok(())
}

#[tokio::test]
async fn filters_route_only_matching_messages() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("signups").await?;
    for name in ["everything", "paid-plans", "new-users"] {
        client.create_queue(&queue(name)).await?;
    }
    client.subscribe("signups", "everything", None).await?;
    client
        .subscribe(
            "signups",
            "paid-plans",
            Some(json!({"payload": {"plan": ["pro", "team"]}})),
        )
        .await?;
    client
        .subscribe(
            "signups",
            "new-users",
            Some(json!({"attributes": {"kind": ["signup"]}})),
        )
        .await?;

    let publish = async |plan: &str, kind: &str| {
        let message = json_message(json!({"plan": plan})).attribute("kind", kind);
        client.publish("signups", &message).await
    };
    let pro_signup = publish("pro", "signup").await?;
    let free_signup = publish("free", "signup").await?;
    let team_upgrade = publish("team", "upgrade").await?;
    let free_upgrade = publish("free", "upgrade").await?;

    let ids = |messages: Vec<switchyard_client::Message>| -> BTreeSet<String> {
        messages.into_iter().map(|m| m.id).collect()
    };
    assert_eq!(
        ids(drain(client, "everything").await?),
        BTreeSet::from([
            pro_signup.clone(),
            free_signup.clone(),
            team_upgrade.clone(),
            free_upgrade
        ])
    );
    assert_eq!(
        ids(drain(client, "paid-plans").await?),
        BTreeSet::from([pro_signup.clone(), team_upgrade])
    );
    assert_eq!(
        ids(drain(client, "new-users").await?),
        BTreeSet::from([pro_signup, free_signup])
    );
    Ok(())
}

#[tokio::test]
async fn changing_a_subscription_applies_to_the_next_publish() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("events").await?;
    client.create_queue(&queue("audit")).await?;
    let sub = client
        .subscribe(
            "events",
            "audit",
            Some(json!({"attributes": {"kind": ["login"]}})),
        )
        .await?;
    assert_ulid(&sub.id);

    let logout = json_message(json!({"n": 1})).attribute("kind", "logout");
    client.publish("events", &logout).await?;
    assert!(
        drain(client, "audit").await?.is_empty(),
        "the filter lets logouts through"
    );

    let patched = client.patch_subscription(&sub.id, None).await?;
    assert_eq!(patched.filter, None);
    let id = client.publish("events", &logout).await?;
    let received = drain(client, "audit").await?;
    assert_eq!(received.iter().map(|m| &m.id).collect::<Vec<_>>(), [&id]);

    client.delete_subscription(&sub.id).await?;
    assert!(client.list_subscriptions().await?.is_empty());
    client.publish("events", &logout).await?;
    assert!(
        drain(client, "audit").await?.is_empty(),
        "a deleted subscription still routes"
    );
    Ok(())
}

#[tokio::test]
async fn direct_send_reaches_only_that_queue() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("t").await?;
    for name in ["a", "b"] {
        client.create_queue(&queue(name)).await?;
        client.subscribe("t", name, None).await?;
    }
    let id = client.send("a", &json_message(json!("direct"))).await?;
    assert_ulid(&id);
    let received = drain(client, "a").await?;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, id);
    assert_eq!(received[0].topic, None, "a direct send has no topic");
    assert!(drain(client, "b").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn binary_payload_attributes_and_key_round_trip() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("bytes")).await?;
    let bytes = [0u8, 159, 146, 150, 255, b'\n', 0];
    let message = PublishMessage::bytes(&bytes)
        .attribute("content-type", "application/octet-stream")
        .attribute("tenant", "acme")
        .key("acme");
    let id = client.send("bytes", &message).await?;
    let received = receive_exactly(client, "bytes", 1).await?;
    let got = &received[0];
    assert_eq!(got.id, id);
    assert!(
        got.payload.is_none(),
        "a binary payload comes back as base64"
    );
    assert_eq!(got.payload_bytes()?, bytes);
    assert_eq!(got.attributes, message.attributes);
    assert_eq!(got.key.as_deref(), Some("acme"));
    assert!(got.published_at_ms > 0);
    Ok(())
}

#[tokio::test]
async fn json_payload_is_kept_verbatim() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("raw").await?;
    client.create_queue(&queue("raw-q")).await?;
    client.subscribe("raw", "raw-q", None).await?;
    let text = r#"{"z":1,"a":[1.50,"x",null],"m":{"y":true,"b":1e3}}"#;
    let message = PublishMessage {
        payload: Some(RawValue::from_string(text.to_string())?),
        ..PublishMessage::default()
    };
    client.publish("raw", &message).await?;
    let received = receive_exactly(client, "raw-q", 1).await?;
    let got = received[0].payload.as_ref().expect("a JSON payload");
    assert_eq!(got.get(), text, "the payload's bytes changed on the way");
    Ok(())
}

#[tokio::test]
async fn a_repeated_dedup_id_returns_the_first_id_and_stores_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("payments").await?;
    client.create_queue(&queue("ledger")).await?;
    client.subscribe("payments", "ledger", None).await?;
    let first = json_message(json!({"amount": 10})).dedup_id("payment-42");
    let id = client.publish("payments", &first).await?;
    let retry = json_message(json!({"amount": 10})).dedup_id("payment-42");
    assert_eq!(
        client.publish("payments", &retry).await?,
        id,
        "the retry got a new id"
    );
    let other = client
        .publish(
            "payments",
            &json_message(json!({"amount": 11})).dedup_id("payment-43"),
        )
        .await?;
    assert_ne!(other, id);
    let received = drain(client, "ledger").await?;
    let mut ids: Vec<String> = received.into_iter().map(|m| m.id).collect();
    ids.sort();
    let mut want = vec![id, other];
    want.sort();
    assert_eq!(ids, want, "a deduplicated publish was stored again");
    Ok(())
}

#[tokio::test]
async fn filter_operators_route_through_the_api() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("orders").await?;
    for name in ["big-eu", "not-test"] {
        client.create_queue(&queue(name)).await?;
    }
    let big_eu = json!({
        "payload": {"total": [{"numeric": [">=", 100]}], "country": [{"prefix": "EU-"}]}
    });
    client.subscribe("orders", "big-eu", Some(big_eu)).await?;
    let not_test = json!({
        "$or": [
            {"attributes": {"env": [{"anything-but": ["test", "staging"]}]}},
            {"attributes": {"env": [{"exists": false}]}}
        ]
    });
    client
        .subscribe("orders", "not-test", Some(not_test))
        .await?;

    let publish = async |total: f64, country: &str, env: Option<&str>| {
        let mut message = json_message(json!({"total": total, "country": country}));
        if let Some(env) = env {
            message = message.attribute("env", env);
        }
        client.publish("orders", &message).await
    };
    let big_eu_prod = publish(250.0, "EU-DE", Some("prod")).await?;
    let small_eu_test = publish(20.0, "EU-FR", Some("test")).await?;
    let big_us_none = publish(1e3, "US-NY", None).await?;
    let exactly_100_eu_staging = publish(100.0, "EU-IT", Some("staging")).await?;
    let _ = small_eu_test;

    let ids = |messages: Vec<switchyard_client::Message>| -> BTreeSet<String> {
        messages.into_iter().map(|m| m.id).collect()
    };
    assert_eq!(
        ids(drain(client, "big-eu").await?),
        BTreeSet::from([big_eu_prod.clone(), exactly_100_eu_staging])
    );
    assert_eq!(
        ids(drain(client, "not-test").await?),
        BTreeSet::from([big_eu_prod, big_us_none])
    );

    let refused = client
        .subscribe(
            "orders",
            "big-eu",
            Some(json!({"payload": {"total": [{"numeric": [">"]}]}})),
        )
        .await;
    assert_api_error(refused, 400, "invalid_filter");
    Ok(())
}
