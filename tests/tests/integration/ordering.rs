//! Delivery order and retry schedules, queue settings changeable in place. `per_key`: one
//! message of a key in flight at a time, in publish order, while other keys (and a failing
//! key) do not wait for each other. `retry`: a failed delivery comes back after its step.
//! Decided by what the server answers and by message status, never by sleeps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::json;
use switchyard_client::{
    Client, CreateQueue, DeliveryState, Message, PatchQueue, QueueOrdering, RetrySchedule,
};
use switchyard_tests::*;

const KEYS: usize = 8;
const PER_KEY: usize = 25;

fn ordered(name: &str) -> CreateQueue {
    CreateQueue {
        name: name.into(),
        ordering: Some(QueueOrdering::PerKey),
        ..CreateQueue::default()
    }
}

fn keyed(key: &str, seq: usize) -> switchyard_client::PublishMessage {
    let mut message = json_message(json!({ "key": key, "seq": seq }));
    message.key = Some(key.into());
    message
}

fn seq_of(message: &Message) -> (String, usize) {
    let body: serde_json::Value =
        serde_json::from_str(message.payload.as_ref().expect("a JSON payload").get())
            .expect("JSON");
    (
        body["key"].as_str().expect("key").to_string(),
        body["seq"].as_u64().expect("seq") as usize,
    )
}

async fn state_of(client: &Client, id: &str) -> anyhow::Result<DeliveryState> {
    Ok(client.message_status(id).await?.deliveries[0].state)
}

/// Publishes `PER_KEY` messages for each of `KEYS` keys, interleaved, in batches.
async fn publish_interleaved(client: &Client, queue: &str) -> anyhow::Result<()> {
    let messages: Vec<_> = (0..PER_KEY)
        .flat_map(|seq| (0..KEYS).map(move |k| keyed(&format!("key-{k}"), seq)))
        .collect();
    for batch in messages.chunks(50) {
        let batch = switchyard_client::PublishBatch {
            messages: batch.to_vec(),
        };
        client.send_batch(queue, &batch).await?;
    }
    Ok(())
}

#[tokio::test]
async fn per_key_ordering_hands_out_one_message_of_a_key_at_a_time_in_publish_order()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client.clone();
    let queue = client.create_queue(&ordered("orders")).await?;
    assert_eq!(queue.ordering, QueueOrdering::PerKey);
    publish_interleaved(&client, "orders").await?;
    let stats = client.get_queue("orders").await?.stats.expect("stats");
    assert_eq!(
        (stats.ready, stats.behind_key),
        (KEYS as u64, (KEYS * (PER_KEY - 1)) as u64),
        "the first of each key is ready, the rest wait behind it"
    );

    // Held: the keys whose message a receiver holds, not yet acked.
    let held = Arc::new(Mutex::new(HashSet::<String>::new()));
    let next = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let mut receivers = Vec::new();
    for _ in 0..4 {
        let (client, held, next) = (client.clone(), held.clone(), next.clone());
        receivers.push(tokio::spawn(async move {
            let mut handled = 0;
            let mut idle = 0;
            while idle < 5 {
                let got = client.receive("orders", &receive_request(10, 300)).await?;
                if got.is_empty() {
                    idle += 1;
                    continue;
                }
                idle = 0;
                for message in &got {
                    let (key, seq) = seq_of(message);
                    assert_eq!(message.key.as_deref(), Some(key.as_str()));
                    assert!(
                        held.lock().unwrap().insert(key.clone()),
                        "two messages of {key} handed out at once (seq {seq})"
                    );
                    let mut next = next.lock().unwrap();
                    let expected = next.entry(key.clone()).or_insert(0);
                    assert_eq!(seq, *expected, "{key} out of publish order");
                    *expected += 1;
                }
                for message in &got {
                    held.lock().unwrap().remove(&seq_of(message).0);
                }
                let receipts: Vec<String> = got.iter().filter_map(|m| m.receipt.clone()).collect();
                handled += receipts.len();
                client.ack("orders", receipts).await?;
            }
            anyhow::Ok(handled)
        }));
    }
    let mut handled = 0;
    for receiver in receivers {
        handled += receiver.await??;
    }
    assert_eq!(handled, KEYS * PER_KEY, "every message exactly once");
    let next = next.lock().unwrap();
    assert!(next.values().all(|n| *n == PER_KEY), "{next:?}");
    Ok(())
}

#[tokio::test]
async fn a_failing_message_holds_back_its_key_only_until_it_is_dead_lettered() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("orders-dlq")).await?;
    client
        .create_queue(&CreateQueue {
            max_receive_count: Some(3),
            dead_letter_queue: Some("orders-dlq".into()),
            ..ordered("orders")
        })
        .await?;
    let poison = client.send("orders", &keyed("poison", 0)).await?;
    let after_poison = client.send("orders", &keyed("poison", 1)).await?;
    for seq in 0..5 {
        client.send("orders", &keyed("fine", seq)).await?;
    }
    assert_eq!(
        state_of(client, &after_poison).await?,
        DeliveryState::BehindKey
    );

    let mut fine = Vec::new();
    let mut poison_deliveries = 0;
    let mut deliveries_before_next = None;
    wait_until("every message handled", PATIENCE, async || {
        let got = client.receive("orders", &receive_request(10, 200)).await?;
        for message in got {
            let receipt = vec![message.receipt.clone().expect("a receipt")];
            let (key, seq) = seq_of(&message);
            if message.id == poison {
                poison_deliveries += 1;
                // While it fails, the message after it waits.
                assert_eq!(
                    state_of(client, &after_poison).await?,
                    DeliveryState::BehindKey
                );
                client.nack("orders", receipt, Some(0)).await?;
                continue;
            }
            if key == "poison" {
                assert_eq!(seq, 1);
                deliveries_before_next = Some(poison_deliveries);
            } else {
                fine.push(seq);
            }
            client.ack("orders", receipt).await?;
        }
        let stats = client.get_queue("orders").await?.stats.expect("stats");
        Ok(stats.ready + stats.in_flight + stats.delayed + stats.behind_key == 0)
    })
    .await?;
    assert_eq!(fine, [0, 1, 2, 3, 4], "the other key flowed, in order");
    assert_eq!(poison_deliveries, 3);
    assert_eq!(
        deliveries_before_next,
        Some(3),
        "the next message of the key came only after the failing one's last delivery"
    );
    wait_until(
        "the failing message in the dead-letter queue",
        PATIENCE,
        async || {
            let dlq = client.peek("orders-dlq", 10, None).await?;
            Ok(dlq.iter().any(|m| m.id == poison))
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn ordering_survives_a_restart_and_can_be_turned_off_in_place() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&ordered("orders")).await?;
    let first = client.send("orders", &keyed("k", 0)).await?;
    let second = client.send("orders", &keyed("k", 1)).await?;
    let held = client.receive("orders", &receive_request(10, 0)).await?;
    assert_eq!(held.iter().map(|m| &m.id).collect::<Vec<_>>(), [&first]);

    let server = server.restart().await?;
    let client = &server.client;
    assert_eq!(state_of(client, &first).await?, DeliveryState::InFlight);
    assert_eq!(state_of(client, &second).await?, DeliveryState::BehindKey);
    assert!(
        client
            .receive("orders", &receive_request(10, 0))
            .await?
            .is_empty()
    );

    let patched = client
        .patch_queue(
            "orders",
            &PatchQueue {
                ordering: Some(QueueOrdering::None),
                ..PatchQueue::default()
            },
        )
        .await?;
    assert_eq!(patched.stats.expect("stats").behind_key, 0);
    let got = client.receive("orders", &receive_request(10, 1000)).await?;
    assert_eq!(got.iter().map(|m| &m.id).collect::<Vec<_>>(), [&second]);
    Ok(())
}

/// Server time (ms) just before and just after `call`.
async fn bracket<T>(
    call: impl AsyncFnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(u64, T, u64)> {
    let before = now_ms();
    let value = call().await?;
    Ok((before, value, now_ms()))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

#[tokio::test]
async fn a_retry_schedule_sets_when_failed_deliveries_come_back() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let steps = [400, 1200];
    client
        .create_queue(&CreateQueue {
            name: "jobs".into(),
            visibility_timeout_ms: Some(300),
            retry: Some(RetrySchedule {
                backoff_ms: Some(steps.to_vec()),
                ..RetrySchedule::default()
            }),
            ..CreateQueue::default()
        })
        .await?;
    let id = client.send("jobs", &json_message(json!("again"))).await?;
    let visible_at = async || -> anyhow::Result<u64> {
        Ok(client.message_status(&id).await?.deliveries[0].visible_at_ms)
    };

    // A nack without a delay: the first step.
    let got = client.receive("jobs", &receive_request(1, 0)).await?;
    let receipt = vec![got[0].receipt.clone().expect("receipt")];
    let (before, _, after) =
        bracket(async || Ok(client.nack("jobs", receipt.clone(), None).await?)).await?;
    let at = visible_at().await?;
    assert!(
        (before + steps[0]..=after + steps[0]).contains(&at),
        "nacked between {before} and {after}, visible at {at}"
    );
    assert_eq!(state_of(client, &id).await?, DeliveryState::Delayed);

    // A lease that ends: the second step, from its end.
    let got = wait_for("the second delivery", PATIENCE, async || {
        let got = client.receive("jobs", &receive_request(1, 500)).await?;
        Ok((!got.is_empty()).then_some(got))
    })
    .await?;
    assert!(now_ms() >= at, "delivered again before its step ended");
    assert_eq!(got[0].receive_count, 2);
    let lease_end = visible_at().await?;
    let third = wait_for("the third delivery", PATIENCE, async || {
        let got = client.receive("jobs", &receive_request(1, 500)).await?;
        Ok((!got.is_empty()).then_some(got))
    })
    .await?;
    assert!(
        now_ms() >= lease_end + steps[1],
        "an expired lease came back before its step: lease ended at {lease_end}"
    );
    assert_eq!(third[0].receive_count, 3);

    // An explicit delay wins over the schedule.
    let receipt = vec![third[0].receipt.clone().expect("receipt")];
    let (before, _, after) =
        bracket(async || Ok(client.nack("jobs", receipt.clone(), Some(50)).await?)).await?;
    let at = visible_at().await?;
    assert!(
        (before + 50..=after + 50).contains(&at),
        "{before}..{after}: {at}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_retry_schedules_are_refused_and_change_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("jobs")).await?;
    let bodies: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
        ("empty", json!({"retry": {}})),
        (
            "both",
            json!({"retry": {"backoff_ms": [1], "initial_ms": 1}}),
        ),
        ("no steps", json!({"retry": {"backoff_ms": []}})),
        ("too long", json!({"retry": {"backoff_ms": [43_200_001]}})),
        ("jitter", json!({"retry": {"initial_ms": 10, "jitter": 2}})),
        (
            "multiplier",
            json!({"retry": {"initial_ms": 10, "multiplier": 0.5}}),
        ),
        ("unknown", json!({"retry": {"initial": 10}})),
        ("ordering", json!({"ordering": "by_magic"})),
    ]);
    for (what, body) in bodies {
        let response = server
            .raw(
                reqwest::Method::PATCH,
                "/v1/queues/jobs",
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(response.status.as_u16(), 400, "{what}: {}", response.text);
    }
    let queue = client.get_queue("jobs").await?;
    assert_eq!((queue.retry, queue.ordering), (None, QueueOrdering::None));

    let patched = client
        .patch_queue(
            "jobs",
            &PatchQueue {
                retry: Some(Some(RetrySchedule {
                    initial_ms: Some(100),
                    multiplier: Some(3.0),
                    max_ms: Some(10_000),
                    jitter: Some(0.1),
                    ..RetrySchedule::default()
                })),
                ..PatchQueue::default()
            },
        )
        .await?;
    assert_eq!(patched.retry.as_ref().and_then(|r| r.initial_ms), Some(100));
    let removed = client
        .patch_queue(
            "jobs",
            &PatchQueue {
                retry: Some(None),
                ..PatchQueue::default()
            },
        )
        .await?;
    assert_eq!(removed.retry, None);
    Ok(())
}
