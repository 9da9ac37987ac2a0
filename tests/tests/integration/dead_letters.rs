//! Dead-lettering: after `max_receive_count` deliveries, a message whose lease ends or that
//! is nacked moves to the queue's dead-letter queue, keeping its id, payload and history,
//! with the reason visible on receive, on peek and in `GET /v1/messages/{id}`.

use serde_json::json;
use switchyard_client::{CreateQueue, DeliveryState, Message, PatchQueue};
use switchyard_tests::*;

async fn queue_with_dead_letters(
    client: &switchyard_client::Client,
    name: &str,
    dlq: &str,
    max_receive_count: u32,
    visibility_timeout_ms: u64,
) -> anyhow::Result<()> {
    client.create_queue(&queue(dlq)).await?;
    let created = client
        .create_queue(&CreateQueue {
            name: name.into(),
            visibility_timeout_ms: Some(visibility_timeout_ms),
            max_receive_count: Some(max_receive_count),
            dead_letter_queue: Some(dlq.into()),
            ..CreateQueue::default()
        })
        .await?;
    assert_eq!(created.max_receive_count, Some(max_receive_count));
    assert_eq!(created.dead_letter_queue.as_deref(), Some(dlq));
    Ok(())
}

#[track_caller]
fn assert_dead_letter(message: &Message, source: &str, receive_count: u32) {
    let info = message
        .dead_letter
        .as_ref()
        .unwrap_or_else(|| panic!("{} has no dead_letter info: {message:?}", message.id));
    assert_eq!(info.source_queue, source);
    assert_eq!(info.receive_count, receive_count);
    assert!(!info.reason.trim().is_empty(), "the reason is empty");
    let first = info.first_received_at_ms.expect("it was received before");
    assert!(
        message.published_at_ms <= first,
        "first received before it was published"
    );
    assert!(
        first <= info.dead_lettered_at_ms,
        "dead-lettered before first received"
    );
}

#[tokio::test]
async fn expired_leases_move_a_message_to_the_dead_letter_queue_after_max_receives()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    queue_with_dead_letters(client, "jobs", "jobs-dlq", 2, 300).await?;
    let message = json_message(json!({"job": "poison"})).attribute("tenant", "acme");
    let id = client.send("jobs", &message).await?;

    // Two deliveries whose leases run out.
    for attempt in 1..=2 {
        let got = receive_exactly(client, "jobs", 1).await?.remove(0);
        assert_eq!((got.id.as_str(), got.receive_count), (id.as_str(), attempt));
    }
    // The second lease ends: the message goes to the DLQ, never a third time to "jobs".
    let dead = wait_for("the message to reach jobs-dlq", PATIENCE, async || {
        let again = client.receive("jobs", &receive_request(10, 0)).await?;
        assert!(
            again.is_empty(),
            "delivered beyond max_receive_count: {again:?}"
        );
        let dead = client
            .receive("jobs-dlq", &receive_request(10, 200))
            .await?;
        Ok((!dead.is_empty()).then_some(dead))
    })
    .await?;
    assert_eq!(dead.len(), 1);
    let dead = &dead[0];
    assert_eq!(dead.id, id, "the dead letter keeps its id");
    assert_eq!(payload(dead), json!({"job": "poison"}));
    assert_eq!(dead.attributes, message.attributes);
    assert_dead_letter(dead, "jobs", 2);

    let status = client.message_status(&id).await?;
    assert_eq!(
        status.deliveries.len(),
        1,
        "only the DLQ holds it: {status:?}"
    );
    let delivery = &status.deliveries[0];
    assert_eq!(delivery.queue, "jobs-dlq");
    assert_eq!(delivery.state, DeliveryState::InFlight);
    let info = delivery
        .dead_letter
        .as_ref()
        .expect("status shows the dead letter");
    assert_eq!(info, dead.dead_letter.as_ref().unwrap());

    let source = client.get_queue("jobs").await?.stats.expect("stats");
    assert_eq!((source.ready, source.in_flight, source.delayed), (0, 0, 0));
    let dlq = client.get_queue("jobs-dlq").await?.stats.expect("stats");
    assert_eq!((dlq.in_flight, dlq.dead_lettered), (1, 1));
    Ok(())
}

#[tokio::test]
async fn nacking_the_last_allowed_delivery_dead_letters_the_message() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    queue_with_dead_letters(client, "mail", "mail-dlq", 1, 30_000).await?;
    let id = client
        .send("mail", &json_message(json!({"to": "x@example.com"})))
        .await?;
    let got = receive_exactly(client, "mail", 1).await?.remove(0);
    let answer = client.nack("mail", vec![receipt(&got)], None).await?;
    assert_eq!(answer.nacked, 1);

    let peeked = wait_for(
        "the nacked message to reach mail-dlq",
        PATIENCE,
        async || {
            let peeked = client.peek("mail-dlq", 10, None).await?;
            Ok((!peeked.is_empty()).then_some(peeked))
        },
    )
    .await?;
    assert_eq!(peeked.len(), 1);
    assert_eq!(peeked[0].id, id);
    assert_eq!(peeked[0].state, Some(DeliveryState::Ready));
    assert_dead_letter(&peeked[0], "mail", 1);
    assert!(
        client.peek("mail", 10, None).await?.is_empty(),
        "still in the source queue"
    );

    let status = client.message_status(&id).await?;
    let delivery = &status.deliveries[0];
    assert_eq!(
        (delivery.queue.as_str(), delivery.state),
        ("mail-dlq", DeliveryState::Ready)
    );
    assert!(
        delivery
            .dead_letter
            .as_ref()
            .is_some_and(|d| !d.reason.is_empty())
    );

    // The dead letter is an ordinary message of the DLQ: receive and ack it.
    let dead = receive_exactly(client, "mail-dlq", 1).await?;
    assert_dead_letter(&dead[0], "mail", 1);
    ack_all(client, "mail-dlq", &dead).await?;
    let status = client.message_status(&id).await?;
    assert_eq!(
        states(&status),
        [("mail-dlq".to_string(), DeliveryState::Acked)]
    );
    Ok(())
}

#[tokio::test]
async fn messages_under_the_limit_stay_in_their_queue() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    queue_with_dead_letters(client, "tasks", "tasks-dlq", 3, 30_000).await?;
    let id = client.send("tasks", &json_message(json!(1))).await?;
    for attempt in 1..=2 {
        let got = receive_exactly(client, "tasks", 1).await?.remove(0);
        assert_eq!(got.receive_count, attempt);
        client.nack("tasks", vec![receipt(&got)], None).await?;
    }
    let third = receive_exactly(client, "tasks", 1).await?.remove(0);
    assert_eq!((third.id.as_str(), third.receive_count), (id.as_str(), 3));
    assert!(third.dead_letter.is_none());
    ack_all(client, "tasks", &[third]).await?;
    assert!(client.peek("tasks-dlq", 10, None).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_dead_letter_queue_set_by_patch_takes_effect() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("late-dlq")).await?;
    client.create_queue(&queue("orders")).await?;
    let patched = client
        .patch_queue(
            "orders",
            &PatchQueue {
                max_receive_count: Some(1),
                dead_letter_queue: Some(Some("late-dlq".into())),
                ..PatchQueue::default()
            },
        )
        .await?;
    assert_eq!(patched.dead_letter_queue.as_deref(), Some("late-dlq"));
    assert_eq!(patched.max_receive_count, Some(1));

    let id = client
        .send("orders", &json_message(json!("bad order")))
        .await?;
    let got = receive_exactly(client, "orders", 1).await?;
    client.nack("orders", vec![receipt(&got[0])], None).await?;
    let dead = receive_exactly(client, "late-dlq", 1).await?;
    assert_eq!(dead[0].id, id);
    assert_dead_letter(&dead[0], "orders", 1);
    Ok(())
}

/// Sends `count` messages to `name` and nacks each on its only allowed delivery, so they
/// all land in the dead-letter queue; returns their ids.
async fn dead_letter_messages(
    client: &switchyard_client::Client,
    name: &str,
    dlq: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for n in 0..count {
        ids.push(client.send(name, &json_message(json!({"n": n}))).await?);
    }
    let got = receive_exactly(client, name, count).await?;
    let receipts = got.iter().map(receipt).collect();
    client.nack(name, receipts, None).await?;
    wait_until(
        "the nacked messages to reach the dead-letter queue",
        PATIENCE,
        async || Ok(client.get_queue(dlq).await?.stats.unwrap_or_default().ready == count as u64),
    )
    .await?;
    Ok(ids)
}

#[tokio::test]
async fn redrive_moves_dead_letters_back_to_their_source_as_fresh_deliveries() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let client = &server.client;
    queue_with_dead_letters(client, "orders", "orders-dlq", 1, 30_000).await?;
    let ids = dead_letter_messages(client, "orders", "orders-dlq", 3).await?;

    let answer = client
        .redrive("orders-dlq", &switchyard_client::RedriveRequest::default())
        .await?;
    assert_eq!((answer.moved, answer.skipped), (3, 0));
    assert!(client.peek("orders-dlq", 10, None).await?.is_empty());

    let again = receive_exactly(client, "orders", 3).await?;
    let mut got: Vec<&str> = again.iter().map(|m| m.id.as_str()).collect();
    got.sort_unstable();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want, "the same messages, ids kept");
    for message in &again {
        assert_eq!(message.receive_count, 1, "a fresh delivery: {message:?}");
        assert!(
            message.dead_letter.is_none(),
            "no dead-letter record any more"
        );
    }
    Ok(())
}

#[tokio::test]
async fn redrive_to_a_destination_moves_at_most_the_limit() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    queue_with_dead_letters(client, "orders", "orders-dlq", 1, 30_000).await?;
    client.create_queue(&queue("orders-retry")).await?;
    dead_letter_messages(client, "orders", "orders-dlq", 3).await?;

    let request = switchyard_client::RedriveRequest {
        destination: Some("orders-retry".into()),
        max_messages: Some(2),
        max_per_second: None,
    };
    let answer = client.redrive("orders-dlq", &request).await?;
    assert_eq!(answer.moved, 2);
    let stats = |name: &'static str| async move {
        Ok::<_, anyhow::Error>(
            client
                .get_queue(name)
                .await?
                .stats
                .unwrap_or_default()
                .ready,
        )
    };
    assert_eq!(stats("orders-retry").await?, 2);
    assert_eq!(stats("orders-dlq").await?, 1);
    assert_eq!(stats("orders").await?, 0);

    let into_itself = switchyard_client::RedriveRequest {
        destination: Some("orders-dlq".into()),
        max_messages: None,
        max_per_second: None,
    };
    assert_api_error(
        client.redrive("orders-dlq", &into_itself).await,
        400,
        "invalid_setting",
    );
    let nowhere = switchyard_client::RedriveRequest {
        destination: Some("missing".into()),
        max_messages: None,
        max_per_second: None,
    };
    assert_api_error(
        client.redrive("orders-dlq", &nowhere).await,
        404,
        "queue_not_found",
    );
    assert_eq!(
        stats("orders-dlq").await?,
        1,
        "refused redrives change nothing"
    );
    Ok(())
}
