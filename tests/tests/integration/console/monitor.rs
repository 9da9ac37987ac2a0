//! The Monitor page: a queue's buckets fill as its messages get stuck, the drill-down lists
//! them with the reason they were dead-lettered, each opens its lookup, and redrive empties
//! the queue; meanwhile a firing alarm shows above every page until it resolves.

use serde_json::json;
use switchyard_client::{AlarmLevel, AlarmState, CreateAlarm, CreateQueue, ReceiveRequest};
use switchyard_tests::*;

#[tokio::test]
async fn the_monitor_drills_down_to_stuck_dead_letters_and_a_firing_alarm_shows_on_every_page()
-> anyhow::Result<()> {
    let server = console_server().await?;
    let client = &server.client;
    client
        .create_queue(&CreateQueue {
            name: "jobs-dlq".into(),
            monitor_thresholds_ms: Some(vec![1000, 3_600_000]),
            ..CreateQueue::default()
        })
        .await?;
    client
        .create_queue(&CreateQueue {
            name: "jobs".into(),
            dead_letter_queue: Some("jobs-dlq".into()),
            max_receive_count: Some(1),
            ..CreateQueue::default()
        })
        .await?;
    client
        .create_alarm(&CreateAlarm {
            name: "jobs-dead".into(),
            queue: Some("jobs-dlq".into()),
            consumer: None,
            metric: "dead_lettered".into(),
            threshold: 1.0,
            comparison: None,
            for_ms: None,
            level: AlarmLevel::Critical,
        })
        .await?;
    let mut ids = Vec::new();
    for n in 0..2 {
        ids.push(
            client
                .send("jobs", &json_message(json!({"job": n})))
                .await?,
        );
    }
    // Leased once and left to expire: with max_receive_count 1 they are dead-lettered.
    let leased = client
        .receive(
            "jobs",
            &ReceiveRequest {
                max_messages: Some(2),
                wait_ms: Some(1000),
                visibility_timeout_ms: Some(200),
            },
        )
        .await?;
    assert_eq!(leased.len(), 2);
    wait_until("both dead-lettered and past 1 s", PATIENCE, async || {
        let stuck = client.stuck_messages("jobs-dlq", None, None, None).await?;
        Ok(stuck.messages.len() == 2)
    })
    .await?;
    wait_until("the alarm to fire", PATIENCE, async || {
        Ok(client.get_alarm("jobs-dead").await?.state == AlarmState::Firing)
    })
    .await?;

    let browser = Browser::start().await?;
    browser.log_in(server.url(), ADMIN_TOKEN).await?;
    browser.open(&format!("{}/#/monitor", server.url())).await?;
    browser.wait_for_text("#firing-alarms", "jobs-dead").await?;
    browser
        .wait_for_text("#firing-alarms", "dead_lettered >= 1 on queue jobs-dlq")
        .await?;
    let row = "#monitor-queues tr[data-queue=jobs-dlq]";
    browser
        .wait_for_text(&format!("{row} td[data-col=waiting]"), "2")
        .await?;
    browser
        .wait_for_text(
            &format!("{row} td[data-col=waiting-over] .bucket.hot[data-threshold='1000']"),
            "2",
        )
        .await?;
    browser
        .wait_for_text(
            &format!("{row} td[data-col=waiting-over] .bucket[data-threshold='3600000']"),
            "0",
        )
        .await?;
    browser
        .wait_for_text(
            "#monitor-alarms tr[data-alarm=jobs-dead] td[data-col=state]",
            "firing",
        )
        .await?;
    browser.click(&format!("{row} a.drill")).await?;
    for id in &ids {
        browser
            .wait_for_text(
                &format!("#stuck-table tr[data-message='{id}']"),
                "max_receive_count 1",
            )
            .await?;
    }
    browser.screenshot_of("monitor", "#stuck-list").await?;
    browser.screenshot("monitor-top").await?;

    // Open the message: its lookup, with the alarm still above the page.
    browser
        .click(&format!("#stuck-table a[href='#/messages/{}']", ids[0]))
        .await?;
    browser.wait_for_text("main", "jobs-dlq").await?;
    browser.wait_for_text("#firing-alarms", "jobs-dead").await?;
    browser.screenshot("monitor-message").await?;

    // Redrive from the drill-down: the dead letters go back, the alarm resolves.
    browser
        .open(&format!("{}/#/monitor/jobs-dlq", server.url()))
        .await?;
    browser.click("#monitor-redrive").await?;
    browser
        .wait_for_text("#stuck-list .banner.ok", "Redrove 2")
        .await?;
    browser.wait_until_gone("#firing-alarms").await?;
    browser
        .wait_for_text(
            "#monitor-alarms tr[data-alarm=jobs-dead] td[data-col=state]",
            "ok",
        )
        .await?;
    let stats = client.get_queue("jobs").await?.stats.expect("stats");
    assert_eq!(stats.ready, 2);
    browser
        .wait_for_text("#stuck-list .empty", "Nothing is stuck")
        .await?;
    browser.close().await?;
    Ok(())
}
