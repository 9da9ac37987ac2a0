//! Weighted fairness: receives take turns between groups of messages (a key, or an
//! attribute's value), so a group with a deep backlog does not delay a small one, and
//! weights set each group's share. Decided by what receives hand out, one receiver at a
//! time, so the shares are exact where a turn order makes them so.

use std::collections::BTreeMap;

use serde_json::json;
use switchyard_client::{Client, CreateQueue, Fairness, PatchQueue, PublishBatch};
use switchyard_tests::*;

fn fair_queue(name: &str, by: &str, weights: &[(&str, u32)]) -> CreateQueue {
    CreateQueue {
        name: name.into(),
        fairness: Some(Fairness {
            by: by.into(),
            weights: weights.iter().map(|(g, w)| (g.to_string(), *w)).collect(),
            default_weight: 1,
        }),
        ..CreateQueue::default()
    }
}

/// Sends `count` messages of `tenant` (as attribute `tenant`) to `queue`, in batches.
async fn send_for(client: &Client, queue: &str, tenant: &str, count: usize) -> anyhow::Result<()> {
    let messages: Vec<_> = (0..count)
        .map(|n| {
            let mut message = json_message(json!({ "n": n }));
            message.attributes.insert("tenant".into(), tenant.into());
            message
        })
        .collect();
    for batch in messages.chunks(500) {
        let batch = PublishBatch {
            messages: batch.to_vec(),
        };
        client.send_batch(queue, &batch).await?;
    }
    Ok(())
}

/// Receives (and acks) `count` messages, ten at a time; answers each one's tenant, in
/// the order they were handed out.
async fn serve(client: &Client, queue: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let mut tenants = Vec::new();
    while tenants.len() < count {
        let got = client.receive(queue, &receive_request(10, 1000)).await?;
        anyhow::ensure!(!got.is_empty(), "{queue} ran dry after {}", tenants.len());
        tenants.extend(got.iter().map(|m| m.attributes["tenant"].clone()));
        let receipts = got.into_iter().filter_map(|m| m.receipt).collect();
        client.ack(queue, receipts).await?;
    }
    Ok(tenants)
}

fn counts(tenants: &[String]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for tenant in tenants {
        *counts.entry(tenant.as_str()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_flooding_tenant_does_not_delay_a_small_one() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client
        .create_queue(&fair_queue("fair", "attribute:tenant", &[]))
        .await?;
    client.create_queue(&queue("plain")).await?;
    for name in ["fair", "plain"] {
        send_for(client, name, "big", 3000).await?;
        send_for(client, name, "small", 10).await?;
    }
    let fair = serve(client, "fair", 20).await?;
    assert_eq!(
        counts(&fair).get("small"),
        Some(&10),
        "every small message within the first 20: {fair:?}"
    );
    let plain = serve(client, "plain", 20).await?;
    assert_eq!(
        counts(&plain).get("small"),
        None,
        "without fairness, oldest first"
    );
    Ok(())
}

#[tokio::test]
async fn weights_set_each_groups_share_of_the_receives() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client
        .create_queue(&fair_queue("even", "attribute:tenant", &[]))
        .await?;
    client
        .create_queue(&fair_queue("weighted", "attribute:tenant", &[("a", 3)]))
        .await?;
    for name in ["even", "weighted"] {
        send_for(client, name, "a", 400).await?;
        send_for(client, name, "b", 400).await?;
    }
    let share = |tenants: &[String]| counts(tenants).get("a").copied().unwrap_or(0);
    let even = serve(client, "even", 200).await?;
    assert!(
        (95..=105).contains(&share(&even)),
        "1:1 gave a {} of 200",
        share(&even)
    );
    let weighted = serve(client, "weighted", 200).await?;
    assert!(
        (145..=155).contains(&share(&weighted)),
        "3:1 gave a {} of 200",
        share(&weighted)
    );

    // Changed in place: the even queue's remaining 300 + 300 now share 1:4.
    client
        .patch_queue(
            "even",
            &PatchQueue {
                fairness: Some(Some(Fairness {
                    by: "attribute:tenant".into(),
                    weights: BTreeMap::from([("b".to_string(), 4)]),
                    default_weight: 1,
                })),
                ..PatchQueue::default()
            },
        )
        .await?;
    let changed = serve(client, "even", 100).await?;
    assert!(
        (15..=25).contains(&share(&changed)),
        "1:4 gave a {}",
        share(&changed)
    );
    Ok(())
}

#[tokio::test]
async fn fairness_by_key_survives_a_restart() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&fair_queue("keys", "key", &[])).await?;
    let keyed = |key: &str, n: usize| {
        let mut message = json_message(json!({ "n": n }));
        message.key = Some(key.into());
        message.attributes.insert("tenant".into(), key.into());
        message
    };
    let mut messages: Vec<_> = (0..500).map(|n| keyed("big", n)).collect();
    messages.extend((0..5).map(|n| keyed("small", n)));
    client
        .send_batch("keys", &PublishBatch { messages })
        .await?;
    let server = server.restart().await?;
    let client = &server.client;
    let queue = client.get_queue("keys").await?;
    assert_eq!(queue.fairness.map(|f| f.by).as_deref(), Some("key"));
    let first = serve(client, "keys", 10).await?;
    assert_eq!(counts(&first).get("small"), Some(&5), "{first:?}");
    Ok(())
}

#[tokio::test]
async fn bad_fairness_settings_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for body in [
        json!({"name": "q", "fairness": {"by": "tenant"}}),
        json!({"name": "q", "fairness": {"by": "attribute:"}}),
        json!({"name": "q", "fairness": {"by": "key", "weights": {"a": 0}}}),
        json!({"name": "q", "fairness": {"by": "key", "default_weight": 5000}}),
        json!({"name": "q", "fairness": {"by": "key", "weight": {"a": 1}}}),
    ] {
        let response = server
            .raw(reqwest::Method::POST, "/v1/queues", Some(&body.to_string()))
            .await;
        assert_eq!(response.status.as_u16(), 400, "{body}: {}", response.text);
    }
    assert!(
        server.client.list_queues().await?.is_empty(),
        "nothing was created"
    );
    Ok(())
}
