//! Alarms: a condition on a queue's or a consumer's metric fires once it held for `for_ms`
//! and resolves when it stops; each transition is an ordinary message on the topic
//! `switchyard.alarms` (attribute `level`), received here through a subscription to a
//! queue, as a team routing its alerts would. Definitions survive a restart, bad ones are
//! refused, and the topic cannot be deleted.

use serde_json::json;
use switchyard_client::{
    ALARMS_TOPIC, Alarm, AlarmEvent, AlarmLevel, AlarmState, Client, CreateAlarm, CreateConsumer,
    CreateQueue, Message, Transition,
};
use switchyard_tests::*;

fn alarm(name: &str, queue: &str, metric: &str, threshold: f64, level: AlarmLevel) -> CreateAlarm {
    CreateAlarm {
        name: name.into(),
        queue: Some(queue.into()),
        consumer: None,
        metric: metric.into(),
        threshold,
        comparison: None,
        for_ms: None,
        level,
    }
}

/// A queue `name` subscribed to `switchyard.alarms` through `filter`.
async fn pager(client: &Client, name: &str, filter: serde_json::Value) -> anyhow::Result<()> {
    client.create_queue(&queue(name)).await?;
    client.subscribe(ALARMS_TOPIC, name, Some(filter)).await?;
    Ok(())
}

/// Waits for the next alarm message on `queue`, acks it, and returns it with its event.
async fn next_event(client: &Client, queue: &str) -> anyhow::Result<(Message, AlarmEvent)> {
    let message = wait_for(
        &format!("an alarm message on {queue}"),
        PATIENCE,
        async || {
            let mut got = client.receive(queue, &receive_request(1, 1000)).await?;
            Ok(got.pop())
        },
    )
    .await?;
    client.ack(queue, vec![receipt(&message)]).await?;
    let event: AlarmEvent = serde_json::from_value(payload(&message))?;
    Ok((message, event))
}

async fn wait_alarm(
    client: &Client,
    name: &str,
    what: &str,
    done: impl Fn(&Alarm) -> bool,
) -> anyhow::Result<Alarm> {
    wait_for(what, PATIENCE, async || {
        let alarm = client.get_alarm(name).await?;
        Ok(done(&alarm).then_some(alarm))
    })
    .await
}

#[tokio::test]
async fn a_depth_alarm_fires_when_messages_pile_up_and_resolves_when_they_are_acked()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("work")).await?;
    pager(
        client,
        "pager",
        json!({"attributes": {"level": ["critical"]}}),
    )
    .await?;
    pager(
        client,
        "inbox",
        json!({"attributes": {"level": ["warning"]}}),
    )
    .await?;
    let created = client
        .create_alarm(&alarm(
            "backlog",
            "work",
            "depth",
            3.0,
            AlarmLevel::Critical,
        ))
        .await?;
    assert_eq!(created.state, AlarmState::Ok);
    assert_eq!(created.comparison.as_str(), ">=");
    assert_eq!(created.for_ms, 0);
    assert!(created.last_transition.is_none());
    let slow = CreateAlarm {
        for_ms: Some(1500),
        ..alarm("any-work", "work", "depth", 1.0, AlarmLevel::Warning)
    };
    client.create_alarm(&slow).await?;

    let sent_at = now_ms();
    for n in 0..3 {
        client.send("work", &json_message(json!(n))).await?;
    }
    let (message, event) = next_event(client, "pager").await?;
    assert_eq!(
        message.attributes.get("level").map(String::as_str),
        Some("critical")
    );
    assert_eq!(
        (event.alarm.as_str(), event.level, event.state),
        ("backlog", AlarmLevel::Critical, Transition::Firing)
    );
    assert_eq!(
        (event.metric.as_str(), event.value, event.threshold),
        ("depth", Some(3.0), 3.0)
    );
    assert_eq!(
        (event.queue.as_deref(), event.consumer.as_deref()),
        (Some("work"), None)
    );
    assert!(event.at_ms >= sent_at);
    let raw = payload(&message);
    for field in [
        "alarm",
        "level",
        "state",
        "metric",
        "value",
        "threshold",
        "queue",
        "at_ms",
    ] {
        assert!(raw.get(field).is_some(), "{field} missing from {raw}");
    }
    let firing = client.get_alarm("backlog").await?;
    assert_eq!(firing.state, AlarmState::Firing);
    let transition = firing.last_transition.expect("a transition");
    assert_eq!(transition.state, Transition::Firing);
    assert_eq!(transition.message_id.as_deref(), Some(message.id.as_str()));

    // The warning alarm waits out its for_ms: its condition cannot have held before the
    // first send, so it cannot have fired sooner than 1.5 s after it.
    let (_, warning) = next_event(client, "inbox").await?;
    assert_eq!(
        (warning.alarm.as_str(), warning.state),
        ("any-work", Transition::Firing)
    );
    assert!(
        warning.at_ms >= sent_at + 1500,
        "fired at {} though the first message was sent at {sent_at}",
        warning.at_ms
    );

    let received = receive_exactly(client, "work", 3).await?;
    client
        .ack("work", received.iter().map(receipt).collect())
        .await?;
    let (_, resolved) = next_event(client, "pager").await?;
    assert_eq!(
        (resolved.alarm.as_str(), resolved.state, resolved.value),
        ("backlog", Transition::Resolved, Some(0.0))
    );
    let (_, resolved) = next_event(client, "inbox").await?;
    assert_eq!(
        (resolved.alarm.as_str(), resolved.state),
        ("any-work", Transition::Resolved)
    );
    let alarms = client.list_alarms().await?;
    assert_eq!(alarms.len(), 2);
    for alarm in alarms {
        assert_eq!(alarm.state, AlarmState::Ok, "{alarm:?}");
        let last = alarm.last_transition.expect("it fired and resolved");
        assert_eq!(last.state, Transition::Resolved);
    }
    Ok(())
}

#[tokio::test]
async fn a_fault_rate_alarm_fires_on_a_faulty_consumer_and_resolves_as_it_recovers()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("risky-dlq")).await?;
    client
        .create_queue(&CreateQueue {
            name: "risky".into(),
            dead_letter_queue: Some("risky-dlq".into()),
            max_receive_count: Some(1),
            ..CreateQueue::default()
        })
        .await?;
    client
        .deploy_plugin("faulty", plugin_wasm("faulty")?, true)
        .await?;
    client
        .create_consumer(&CreateConsumer {
            name: "risky-worker".into(),
            queue: "risky".into(),
            plugin: "faulty".into(),
            batch: Some(switchyard_client::BatchSettings {
                max_messages: Some(1),
                ..Default::default()
            }),
            ..CreateConsumer::default()
        })
        .await?;
    pager(client, "pager", json!({"attributes": {"alarm": ["flaky"]}})).await?;
    let flaky = CreateAlarm {
        name: "flaky".into(),
        queue: None,
        consumer: Some("risky-worker".into()),
        metric: "fault_rate".into(),
        threshold: 0.5,
        comparison: None,
        for_ms: None,
        level: AlarmLevel::Warning,
    };
    client.create_alarm(&flaky).await?;
    wait_alarm(client, "flaky", "a first evaluation", |a| {
        a.evaluated_at_ms.is_some()
    })
    .await?;

    for _ in 0..2 {
        client
            .send("risky", &json_message(json!({"mode": "panic"})))
            .await?;
    }
    let (message, event) = next_event(client, "pager").await?;
    assert_eq!(
        message.attributes.get("level").map(String::as_str),
        Some("warning")
    );
    assert_eq!(
        (
            event.state,
            event.consumer.as_deref(),
            event.queue.as_deref()
        ),
        (Transition::Firing, Some("risky-worker"), None)
    );
    assert!(event.value.is_some_and(|v| v >= 0.5), "{event:?}");

    // Healthy invocations bring the share of faults of the last minute under a half.
    for _ in 0..6 {
        client
            .send("risky", &json_message(json!({"mode": "ok"})))
            .await?;
    }
    let (_, event) = next_event(client, "pager").await?;
    assert_eq!(event.state, Transition::Resolved);
    assert!(event.value.is_some_and(|v| v < 0.5), "{event:?}");
    let consumer = client.get_consumer("risky-worker").await?;
    assert_eq!(consumer.stats.faults.get("panic"), Some(&2));
    Ok(())
}

#[tokio::test]
async fn alarms_and_their_state_survive_a_restart_and_their_topic_cannot_be_deleted()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let topics = client.list_topics().await?;
    assert!(topics.iter().any(|t| t.name == ALARMS_TOPIC), "{topics:?}");
    let answer = server
        .raw(
            reqwest::Method::DELETE,
            "/v1/topics/switchyard.alarms",
            None,
        )
        .await;
    answer.assert_error(409, "topic_protected");
    client.get_topic(ALARMS_TOPIC).await?;

    client.create_queue(&queue("work")).await?;
    pager(client, "pager", json!({"attributes": {"alarm": ["busy"]}})).await?;
    client
        .create_alarm(&alarm("busy", "work", "depth", 1.0, AlarmLevel::Critical))
        .await?;
    client.send("work", &json_message(json!("x"))).await?;
    let (_, event) = next_event(client, "pager").await?;
    assert_eq!(event.state, Transition::Firing);
    let before = client.get_alarm("busy").await?;

    let server = server.restart().await?;
    let client = &server.client;
    let restarted_at = now_ms();
    let after = wait_alarm(client, "busy", "an evaluation after the restart", |a| {
        a.evaluated_at_ms.is_some_and(|at| at >= restarted_at)
    })
    .await?;
    assert_eq!(after.state, AlarmState::Firing);
    assert_eq!(after.last_transition, before.last_transition);
    assert_eq!(
        client.peek("pager", 10, None).await?.len(),
        0,
        "a firing alarm does not fire again after a restart"
    );
    server
        .raw(
            reqwest::Method::DELETE,
            "/v1/topics/switchyard.alarms",
            None,
        )
        .await
        .assert_error(409, "topic_protected");

    client.purge("work").await?;
    let (_, event) = next_event(client, "pager").await?;
    assert_eq!(event.state, Transition::Resolved);
    client.delete_alarm("busy").await?;
    assert_api_error(client.get_alarm("busy").await, 404, "alarm_not_found");
    let server = server.restart().await?;
    assert!(server.client.list_alarms().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn bad_alarm_definitions_are_refused_and_change_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("work")).await?;
    client
        .create_alarm(&alarm(
            "kept",
            "work",
            "oldest_age_ms",
            60_000.0,
            AlarmLevel::Warning,
        ))
        .await?;
    let before = client.list_alarms().await?;
    let good = json!({"name": "new", "queue": "work", "metric": "depth", "threshold": 5,
        "level": "warning"});
    let with = |changes: serde_json::Value| {
        let mut body = good.clone();
        for (key, value) in changes.as_object().expect("an object") {
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        body.to_string()
    };
    let cases = [
        (with(json!({"metric": "cpu"})), 400, "invalid_alarm"),
        (
            with(json!({"metric": "stuck_over_ms:0"})),
            400,
            "invalid_alarm",
        ),
        (
            with(json!({"metric": "stuck_over_ms:2000000000"})),
            400,
            "invalid_alarm",
        ),
        (with(json!({"metric": "fault_rate"})), 400, "invalid_alarm"),
        (with(json!({"consumer": "worker"})), 400, "invalid_alarm"),
        (with(json!({"queue": null})), 400, "invalid_alarm"),
        (
            with(json!({"queue": null, "consumer": "nobody"})),
            404,
            "consumer_not_found",
        ),
        (with(json!({"queue": "nowhere"})), 404, "queue_not_found"),
        (
            with(json!({"for_ms": 100_000_000_000u64})),
            400,
            "invalid_alarm",
        ),
        (with(json!({"name": "has space"})), 400, "invalid_name"),
        (with(json!({"name": "kept"})), 409, "alarm_exists"),
        (with(json!({"level": "loud"})), 400, "invalid_body"),
        (with(json!({"comparison": "~"})), 400, "invalid_body"),
        (with(json!({"threshold": null})), 400, "invalid_body"),
        (with(json!({"colour": "red"})), 400, "invalid_body"),
        (with(json!({"threshold": "high"})), 400, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let answer = server
            .raw(reqwest::Method::POST, "/v1/alarms", Some(&body))
            .await;
        assert_eq!(
            (answer.status.as_u16(), answer.error_code()),
            (status, Some(code)),
            "{body}: {}",
            answer.text
        );
    }
    server
        .raw(reqwest::Method::DELETE, "/v1/alarms/missing", None)
        .await
        .assert_error(404, "alarm_not_found");
    server
        .raw(reqwest::Method::GET, "/v1/alarms/missing", None)
        .await
        .assert_error(404, "alarm_not_found");
    let after = client.list_alarms().await?;
    let names = |alarms: &[Alarm]| alarms.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&after), names(&before));
    assert_eq!(names(&after), ["kept"]);
    Ok(())
}

#[tokio::test]
async fn alarms_are_managed_with_manage_and_read_with_read_on_their_queue() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("mail")).await?;
    client.create_queue(&queue("billing")).await?;
    client
        .create_alarm(&alarm(
            "billing-backlog",
            "billing",
            "depth",
            100.0,
            AlarmLevel::Critical,
        ))
        .await?;
    let created = client
        .create_token(&switchyard_client::CreateToken {
            name: "mail-team".into(),
            scopes: vec!["manage:queue:mail".into(), "read:queue:mail".into()],
            expires_at_ms: None,
            publish_rate: None,
            aws_keys: false,
        })
        .await?;
    let team = Client::new(server.url()).with_token(&created.token);
    team.create_alarm(&alarm(
        "mail-backlog",
        "mail",
        "depth",
        100.0,
        AlarmLevel::Warning,
    ))
    .await?;
    assert_api_error(
        team.create_alarm(&alarm(
            "sneaky",
            "billing",
            "depth",
            1.0,
            AlarmLevel::Warning,
        ))
        .await,
        403,
        "forbidden",
    );
    let visible: Vec<String> = team
        .list_alarms()
        .await?
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(visible, ["mail-backlog"]);
    assert_api_error(team.get_alarm("billing-backlog").await, 403, "forbidden");
    assert_api_error(team.delete_alarm("billing-backlog").await, 403, "forbidden");
    let patch = switchyard_client::PatchAlarm {
        threshold: Some(1.0),
        ..Default::default()
    };
    assert_api_error(
        team.patch_alarm("billing-backlog", &patch).await,
        403,
        "forbidden",
    );
    assert_eq!(client.get_alarm("billing-backlog").await?.threshold, 100.0);
    team.delete_alarm("mail-backlog").await?;
    let left: Vec<String> = client
        .list_alarms()
        .await?
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(left, ["billing-backlog"]);
    Ok(())
}

#[tokio::test]
async fn an_alarm_reaches_a_chat_webhook_through_a_subscription_and_the_example_plugin()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let chat = HttpSink::start(Vec::new()).await?;
    client.create_queue(&queue("work")).await?;
    pager(
        client,
        "chat",
        json!({"attributes": {"level": ["critical"]}}),
    )
    .await?;
    client
        .deploy_plugin("alarm-webhook", plugin_wasm("alarm-webhook")?, true)
        .await?;
    client
        .create_consumer(&CreateConsumer {
            name: "chat-notifier".into(),
            queue: "chat".into(),
            plugin: "alarm-webhook".into(),
            secrets: [("webhook".to_string(), chat.url("/hooks/T0/secret"))].into(),
            allowed_hosts: vec![chat.origin()],
            ..CreateConsumer::default()
        })
        .await?;
    client
        .create_alarm(&alarm(
            "backlog",
            "work",
            "depth",
            2.0,
            AlarmLevel::Critical,
        ))
        .await?;
    for n in 0..2 {
        client.send("work", &json_message(json!(n))).await?;
    }
    let posts = |count: usize| {
        let chat = chat.clone();
        async move {
            wait_for(
                &format!("{count} posts to the chat"),
                PATIENCE,
                async || {
                    let requests = chat.requests();
                    Ok((requests.len() >= count).then_some(requests))
                },
            )
            .await
        }
    };
    let requests = posts(1).await?;
    let first = &requests[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/hooks/T0/secret")
    );
    assert!(
        first
            .headers
            .iter()
            .any(|(name, _)| name == "idempotency-key"),
        "{:?}",
        first.headers
    );
    let body: serde_json::Value = serde_json::from_slice(&first.body)?;
    assert_eq!(
        body,
        json!({"text": "FIRING [critical] backlog: depth is 2 (threshold 2) on queue work"})
    );
    client.purge("work").await?;
    let requests = posts(2).await?;
    let body: serde_json::Value = serde_json::from_slice(&requests[1].body)?;
    assert_eq!(
        body,
        json!({"text": "RESOLVED [critical] backlog: depth is 0 (threshold 2) on queue work"})
    );
    let notifier = client.get_consumer("chat-notifier").await?;
    assert_eq!(notifier.stats.acked, 2);
    Ok(())
}

#[tokio::test]
async fn age_stuck_and_dead_letter_metrics_fire_on_their_queues() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("mail-dlq")).await?;
    client
        .create_queue(&CreateQueue {
            name: "mail".into(),
            dead_letter_queue: Some("mail-dlq".into()),
            max_receive_count: Some(1),
            ..CreateQueue::default()
        })
        .await?;
    pager(
        client,
        "pager",
        json!({"attributes": {"state": ["firing"]}}),
    )
    .await?;
    for (name, queue, metric, threshold) in [
        ("old", "mail", "oldest_age_ms", 1000.0),
        ("stuck", "mail", "stuck_over_ms:1000", 2.0),
        ("dead", "mail-dlq", "dead_lettered", 1.0),
        ("dying", "mail-dlq", "dead_letters_per_minute", 2.0),
    ] {
        client
            .create_alarm(&alarm(name, queue, metric, threshold, AlarmLevel::Warning))
            .await?;
    }
    for n in 0..2 {
        client.send("mail", &json_message(json!(n))).await?;
    }
    // Both wait past a second: the age and stuck alarms fire, and nothing else yet.
    let mut fired = Vec::new();
    for _ in 0..2 {
        let (_, event) = next_event(client, "pager").await?;
        fired.push((event.alarm, event.value));
    }
    fired.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(fired[0].0, "old");
    assert!(fired[0].1.is_some_and(|age| age >= 1000.0), "{fired:?}");
    assert_eq!(fired[1], ("stuck".to_string(), Some(2.0)));
    for name in ["dead", "dying"] {
        assert_eq!(
            client.get_alarm(name).await?.state,
            AlarmState::Ok,
            "{name}"
        );
    }

    // Leased once and left to expire: both are dead-lettered into mail-dlq.
    let leased = client
        .receive(
            "mail",
            &switchyard_client::ReceiveRequest {
                max_messages: Some(2),
                wait_ms: Some(0),
                visibility_timeout_ms: Some(100),
            },
        )
        .await?;
    assert_eq!(leased.len(), 2);
    let mut fired = Vec::new();
    for _ in 0..2 {
        let (_, event) = next_event(client, "pager").await?;
        assert_eq!(event.queue.as_deref(), Some("mail-dlq"));
        fired.push((event.alarm, event.value));
    }
    fired.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        fired,
        [
            ("dead".to_string(), Some(2.0)),
            ("dying".to_string(), Some(2.0))
        ]
    );
    for name in ["old", "stuck"] {
        let resolved = wait_alarm(client, name, "mail emptied to resolve it", |a| {
            a.state == AlarmState::Ok
        })
        .await?;
        assert_eq!(
            resolved.last_transition.map(|t| t.state),
            Some(Transition::Resolved)
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_changed_threshold_resolves_a_firing_alarm_and_bad_changes_are_refused()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("work")).await?;
    pager(client, "pager", json!({"attributes": {"alarm": ["busy"]}})).await?;
    client
        .create_alarm(&alarm("busy", "work", "depth", 1.0, AlarmLevel::Warning))
        .await?;
    client.send("work", &json_message(json!("x"))).await?;
    let (_, event) = next_event(client, "pager").await?;
    assert_eq!(
        (event.state, event.level),
        (Transition::Firing, AlarmLevel::Warning)
    );

    for (body, status, code) in [
        (r#"{"for_ms": 100000000000}"#, 400, "invalid_alarm"),
        (r#"{"metric": "fault_rate"}"#, 400, "invalid_body"),
        (r#"{"level": "loud"}"#, 400, "invalid_body"),
    ] {
        server
            .raw(reqwest::Method::PATCH, "/v1/alarms/busy", Some(body))
            .await
            .assert_error(status, code);
    }
    server
        .raw(reqwest::Method::PATCH, "/v1/alarms/missing", Some("{}"))
        .await
        .assert_error(404, "alarm_not_found");
    let unchanged = client.get_alarm("busy").await?;
    assert_eq!((unchanged.threshold, unchanged.for_ms), (1.0, 0));

    let patch = switchyard_client::PatchAlarm {
        threshold: Some(5.0),
        level: Some(AlarmLevel::Critical),
        ..Default::default()
    };
    let patched = client.patch_alarm("busy", &patch).await?;
    assert_eq!(
        (patched.threshold, patched.level, patched.metric.as_str()),
        (5.0, AlarmLevel::Critical, "depth")
    );
    let (message, event) = next_event(client, "pager").await?;
    assert_eq!(
        (event.state, event.threshold, event.value),
        (Transition::Resolved, 5.0, Some(1.0))
    );
    assert_eq!(
        message.attributes.get("level").map(String::as_str),
        Some("critical")
    );
    let server = server.restart().await?;
    let kept = server.client.get_alarm("busy").await?;
    assert_eq!((kept.threshold, kept.level), (5.0, AlarmLevel::Critical));
    Ok(())
}
