//! The task monitor: per queue, messages that have waited or been in flight longer than
//! each threshold (`monitor_thresholds_ms`, here of a second or two), the oldest of each, the
//! list of stuck messages with their last failure, and per consumer the invocations running
//! that long. Decided by bounded polling: ages only grow, so a count over a threshold must
//! come, and a message younger than an hour can never count against an hour.

use serde_json::json;
use switchyard_client::{
    AgeBuckets, Client, CreateConsumer, CreateQueue, DeliveryState, MonitorReport, PatchQueue,
    QueueMonitor,
};
use switchyard_tests::*;

const HOUR_MS: u64 = 60 * 60 * 1000;

async fn queue_monitor(client: &Client, queue: &str) -> anyhow::Result<QueueMonitor> {
    let report = client.monitor().await?;
    report
        .queues
        .into_iter()
        .find(|q| q.queue == queue)
        .ok_or_else(|| anyhow::anyhow!("queue {queue} is not in the monitor"))
}

fn counts(buckets: &AgeBuckets) -> Vec<u64> {
    buckets.over.iter().map(|b| b.count).collect()
}

async fn thresholds_queue(client: &Client, name: &str, thresholds: Vec<u64>) -> anyhow::Result<()> {
    client
        .create_queue(&CreateQueue {
            name: name.into(),
            monitor_thresholds_ms: Some(thresholds),
            ..CreateQueue::default()
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn waiting_and_in_flight_messages_fill_the_buckets_of_their_age() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    thresholds_queue(client, "jobs", vec![1000, 2000]).await?;
    thresholds_queue(client, "calm", vec![HOUR_MS]).await?;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(client.send("jobs", &json_message(json!(n))).await?);
    }
    client.send("calm", &json_message(json!("young"))).await?;
    let leased = client
        .receive(
            "jobs",
            &switchyard_client::ReceiveRequest {
                max_messages: Some(1),
                wait_ms: Some(0),
                visibility_timeout_ms: Some(10 * 60_000),
            },
        )
        .await?;
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].id, ids[0], "the oldest goes first");

    // Every message passes both thresholds in time: the buckets must show it.
    let monitor = wait_for("all of jobs past 2 s", PATIENCE, async || {
        let monitor = queue_monitor(client, "jobs").await?;
        Ok(
            (counts(&monitor.waiting) == [2, 2] && counts(&monitor.in_flight) == [1, 1])
                .then_some(monitor),
        )
    })
    .await?;
    assert_eq!(monitor.thresholds_ms, [1000, 2000]);
    assert_eq!((monitor.waiting.total, monitor.in_flight.total), (2, 1));
    assert!(monitor.complete);
    assert!(monitor.waiting.oldest_age_ms.is_some_and(|age| age >= 2000));
    assert_eq!(monitor.waiting.oldest_id.as_deref(), Some(ids[1].as_str()));
    assert_eq!(
        monitor.in_flight.oldest_id.as_deref(),
        Some(ids[0].as_str())
    );
    let thresholds: Vec<u64> = monitor
        .waiting
        .over
        .iter()
        .map(|b| b.threshold_ms)
        .collect();
    assert_eq!(thresholds, [1000, 2000]);

    // A message younger than an hour never counts against an hour, though it is there.
    let calm = queue_monitor(client, "calm").await?;
    assert_eq!(counts(&calm.waiting), [0]);
    assert_eq!(calm.waiting.total, 1);
    assert!(calm.waiting.oldest_age_ms.is_some());
    assert_eq!(calm.in_flight.total, 0);
    assert_eq!(calm.in_flight.oldest_age_ms, None);

    // The drill-down lists the stuck ones, oldest id first, with their state.
    let stuck = client.stuck_messages("jobs", None, None, None).await?;
    assert_eq!(stuck.over_ms, 1000, "the smallest threshold by default");
    assert!(stuck.complete);
    let listed: Vec<(&str, DeliveryState, u32)> = stuck
        .messages
        .iter()
        .map(|m| (m.id.as_str(), m.state, m.receive_count))
        .collect();
    assert_eq!(
        listed,
        [
            (ids[0].as_str(), DeliveryState::InFlight, 1),
            (ids[1].as_str(), DeliveryState::Ready, 0),
            (ids[2].as_str(), DeliveryState::Ready, 0),
        ]
    );
    assert!(stuck.messages.iter().all(|m| m.age_ms >= 1000));
    let page = client.stuck_messages("jobs", None, Some(2), None).await?;
    assert_eq!(page.messages.len(), 2);
    let next = page.next_after.expect("a next page");
    let rest = client
        .stuck_messages("jobs", None, None, Some(&next))
        .await?;
    assert_eq!(rest.messages.len(), 1);
    assert_eq!(rest.messages[0].id, ids[2]);
    let none = client
        .stuck_messages("jobs", Some(HOUR_MS), None, None)
        .await?;
    assert!(none.messages.is_empty());

    // Settled messages leave the buckets.
    client.ack("jobs", vec![receipt(&leased[0])]).await?;
    client.purge("jobs").await?;
    let emptied = queue_monitor(client, "jobs").await?;
    assert_eq!(counts(&emptied.waiting), [0, 0]);
    assert_eq!(counts(&emptied.in_flight), [0, 0]);
    assert_eq!((emptied.waiting.total, emptied.in_flight.total), (0, 0));
    Ok(())
}

#[tokio::test]
async fn monitor_thresholds_are_checked_changed_and_kept_across_a_restart() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let created = client.create_queue(&queue("plain")).await?;
    assert_eq!(created.monitor_thresholds_ms, [300_000, 600_000, 2_700_000]);
    for bad in [
        json!([]),
        json!([2000, 1000]),
        json!([1000, 1000]),
        json!([0]),
        json!([14 * 24 * HOUR_MS + 1]),
        json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
    ] {
        let body = json!({"name": "odd", "monitor_thresholds_ms": bad}).to_string();
        server
            .raw(reqwest::Method::POST, "/v1/queues", Some(&body))
            .await
            .assert_error(400, "invalid_setting");
        let body = json!({"monitor_thresholds_ms": bad}).to_string();
        let answer = server
            .raw(reqwest::Method::PATCH, "/v1/queues/plain", Some(&body))
            .await;
        answer.assert_error(400, "invalid_setting");
        assert!(
            answer.text.contains("monitor_thresholds_ms"),
            "{}",
            answer.text
        );
    }
    assert_api_error(client.get_queue("odd").await, 404, "queue_not_found");
    assert_eq!(
        client.get_queue("plain").await?.monitor_thresholds_ms,
        [300_000, 600_000, 2_700_000]
    );
    let patch = PatchQueue {
        monitor_thresholds_ms: Some(Some(vec![1000, 60_000])),
        ..PatchQueue::default()
    };
    let patched = client.patch_queue("plain", &patch).await?;
    assert_eq!(patched.monitor_thresholds_ms, [1000, 60_000]);
    let server = server.restart().await?;
    let client = &server.client;
    assert_eq!(
        client.get_queue("plain").await?.monitor_thresholds_ms,
        [1000, 60_000]
    );
    assert_eq!(
        queue_monitor(client, "plain").await?.thresholds_ms,
        [1000, 60_000]
    );
    let back = server
        .raw(
            reqwest::Method::PATCH,
            "/v1/queues/plain",
            Some(r#"{"monitor_thresholds_ms":null}"#),
        )
        .await;
    assert_eq!(back.status.as_u16(), 200, "{}", back.text);
    assert_eq!(
        client.get_queue("plain").await?.monitor_thresholds_ms,
        [300_000, 600_000, 2_700_000]
    );
    server
        .raw(reqwest::Method::GET, "/v1/monitor/nowhere", None)
        .await
        .assert_error(404, "queue_not_found");
    server
        .raw(reqwest::Method::GET, "/v1/monitor/plain?limit=0", None)
        .await
        .assert_error(400, "invalid_setting");
    server
        .raw(reqwest::Method::GET, "/v1/monitor/plain?after=nope", None)
        .await
        .assert_error(400, "invalid_message_id");
    server
        .raw(reqwest::Method::GET, "/v1/monitor/plain?colour=red", None)
        .await
        .assert_error(400, "invalid_body");
    Ok(())
}

async fn faulty_consumer(
    client: &Client,
    queue_name: &str,
    thresholds: Vec<u64>,
) -> anyhow::Result<()> {
    thresholds_queue(client, queue_name, thresholds).await?;
    let wasm = plugin_wasm("faulty")?;
    client.deploy_plugin("faulty", wasm, true).await?;
    client
        .create_consumer(&CreateConsumer {
            name: format!("{queue_name}-worker"),
            queue: queue_name.into(),
            plugin: "faulty".into(),
            timeout_ms: Some(60_000),
            ..CreateConsumer::default()
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn an_invocation_running_past_a_threshold_shows_under_its_consumer() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    faulty_consumer(client, "slow", vec![1000]).await?;
    client
        .send("slow", &json_message(json!({"mode": "sleep", "ms": 4000})))
        .await?;
    let report = wait_for("an invocation past 1 s", PATIENCE, async || {
        let report: MonitorReport = client.monitor().await?;
        let consumer = report
            .consumers
            .iter()
            .find(|c| c.consumer == "slow-worker")
            .expect("the consumer is in the monitor");
        Ok((counts(&consumer.running) == [1]).then_some(report))
    })
    .await?;
    let running = &report.consumers[0];
    assert_eq!(
        (running.queue.as_str(), running.plugin.as_str()),
        ("slow", "faulty")
    );
    assert_eq!(running.thresholds_ms, [1000]);
    assert_eq!(running.running.total, 1);
    assert_eq!(running.invocations.len(), 1);
    assert_eq!(running.invocations[0].messages, 1);
    assert!(running.invocations[0].age_ms >= 1000);
    // Its message is in flight meanwhile, by the queue's side of the same report.
    let queue = report
        .queues
        .iter()
        .find(|q| q.queue == "slow")
        .expect("slow");
    assert_eq!(queue.in_flight.total, 1);
    // Once the invocation ends it leaves the monitor and its message is acked.
    wait_until("the invocation to end", PATIENCE, async || {
        let report = client.monitor().await?;
        let consumer = &report.consumers[0];
        let queue = report
            .queues
            .iter()
            .find(|q| q.queue == "slow")
            .expect("slow");
        Ok(consumer.running.total == 0 && queue.in_flight.total + queue.waiting.total == 0)
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_stuck_message_shows_the_fault_of_its_last_delivery() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    faulty_consumer(client, "crashy", vec![1000]).await?;
    let id = client
        .send("crashy", &json_message(json!({"mode": "panic"})))
        .await?;
    let stuck = wait_for("the panicking message to be stuck", PATIENCE, async || {
        let stuck = client.stuck_messages("crashy", None, None, None).await?;
        Ok(stuck
            .messages
            .into_iter()
            .find(|m| m.id == id && m.last_error.is_some()))
    })
    .await?;
    let error = stuck.last_error.expect("a last error");
    assert!(error.contains("panic"), "{error}");
    assert!(error.contains("crashy-worker"), "{error}");
    assert!(stuck.receive_count >= 1);
    Ok(())
}

#[tokio::test]
async fn the_monitor_shows_only_what_the_token_may_read() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("mine")).await?;
    client.create_queue(&queue("theirs")).await?;
    let created = client
        .create_token(&switchyard_client::CreateToken {
            name: "watcher".into(),
            scopes: vec!["read:queue:mine".into()],
            expires_at_ms: None,
            publish_rate: None,
            aws_keys: false,
        })
        .await?;
    let watcher = Client::new(server.url()).with_token(&created.token);
    let report = watcher.monitor().await?;
    let names: Vec<&str> = report.queues.iter().map(|q| q.queue.as_str()).collect();
    assert_eq!(names, ["mine"]);
    assert!(report.consumers.is_empty());
    watcher.stuck_messages("mine", None, None, None).await?;
    assert_api_error(
        watcher.stuck_messages("theirs", None, None, None).await,
        403,
        "forbidden",
    );
    Ok(())
}
