//! The web console in a real headless Chromium (Debian's `chromium` + `chromium-driver`):
//! wiring through the forms, a filter refused as it is typed, the overview following
//! publishes, a draft filter previewed on the archive, dead letters with their reasons,
//! redrive, purge and message lookup; the Plugins page in `plugins`; logging in, scopes and
//! the Tokens and Audit pages in `access`. Each test logs in first (by the login link) and
//! saves a screenshot of the pages it visits under `<target>/console-screenshots/`.

mod access;
mod monitor;
mod plugins;
mod serving;

use serde_json::json;
use switchyard_client::{CreateQueue, Message};
use switchyard_tests::*;

#[tokio::test]
async fn wiring_creates_topic_queues_and_a_filtered_subscription_and_refuses_bad_filters()
-> anyhow::Result<()> {
    let server = console_server().await?;
    let client = &server.client;
    let browser = Browser::start().await?;
    browser.log_in(server.url(), ADMIN_TOKEN).await?;
    browser.open(&format!("{}/#/wiring", server.url())).await?;
    browser
        .wait_for_text(".empty", "Nothing is wired yet")
        .await?;

    browser
        .fill("#new-topic input[name=topic-name]", "signups")
        .await?;
    browser.click("#new-topic button[type=submit]").await?;
    browser.element(".flow[data-topic=signups]").await?;
    browser
        .fill("#new-queue input[name=queue-name]", "mail-dlq")
        .await?;
    browser.click("#new-queue button[type=submit]").await?;
    browser.element(".loose [data-queue=mail-dlq]").await?;
    browser
        .fill("#new-queue input[name=queue-name]", "mail")
        .await?;
    browser
        .fill("#new-queue input[name=max-receives]", "3")
        .await?;
    browser
        .select("#new-queue select[name=dead-letter-queue]", "mail-dlq")
        .await?;
    browser.click("#new-queue button[type=submit]").await?;
    browser.element(".loose [data-queue=mail]").await?;
    let mail = client.get_queue("mail").await?;
    assert_eq!(
        (mail.max_receive_count, mail.dead_letter_queue.as_deref()),
        (Some(3), Some("mail-dlq"))
    );

    // A name the API refuses: its words appear in the form.
    browser
        .fill("#new-topic input[name=topic-name]", "no spaces")
        .await?;
    browser.click("#new-topic button[type=submit]").await?;
    browser
        .wait_for_text("#new-topic .form-error", "Invalid topic name")
        .await?;

    browser
        .select("#new-subscription select[name=sub-topic]", "signups")
        .await?;
    browser
        .select("#new-subscription select[name=sub-queue]", "mail")
        .await?;
    browser
        .fill("#new-filter", r#"{"attributes": {"kind": "#)
        .await?;
    browser
        .wait_for_text("#new-subscription .verdict", "Not valid JSON yet")
        .await?;
    // JSON, but not a pattern: the server's reason, with the JSON path, as you type.
    browser
        .fill("#new-filter", r#"{"attributes": {"kind": "signup"}}"#)
        .await?;
    let verdict = browser
        .wait_for_text(
            "#new-subscription .verdict.invalid",
            "The filter is not valid",
        )
        .await?;
    assert!(
        verdict.contains("kind"),
        "the error names the field: {verdict}"
    );
    browser.screenshot("wiring-invalid-filter").await?;
    browser
        .click("#new-subscription button[type=submit]")
        .await?;
    browser
        .wait_for_text("#new-subscription .form-error", "not valid")
        .await?;
    assert!(
        client.list_subscriptions().await?.is_empty(),
        "nothing was created"
    );

    let filter = json!({"attributes": {"kind": ["signup"]}});
    browser.fill("#new-filter", &filter.to_string()).await?;
    browser
        .wait_for_text("#new-subscription .verdict.valid", "Valid filter")
        .await?;
    browser
        .click("#new-subscription button[type=submit]")
        .await?;
    browser
        .wait_for_text(".flow[data-topic=signups] .lane", "signup")
        .await?;
    let subscriptions = client.list_subscriptions().await?;
    assert_eq!(subscriptions.len(), 1, "{subscriptions:?}");
    assert_eq!(
        (
            subscriptions[0].topic.as_str(),
            subscriptions[0].queue.as_str()
        ),
        ("signups", "mail")
    );
    assert_eq!(subscriptions[0].filter, Some(filter));

    // The filter works: only the matching publish reaches the queue.
    client
        .publish(
            "signups",
            &json_message(json!({"n": 1})).attribute("kind", "signup"),
        )
        .await?;
    client
        .publish(
            "signups",
            &json_message(json!({"n": 2})).attribute("kind", "other"),
        )
        .await?;
    assert_eq!(client.peek("mail", 10, None).await?.len(), 1);
    browser.screenshot("wiring").await?;
    browser.close().await
}

#[tokio::test]
async fn overview_follows_queue_depth_and_topic_publishes_live() -> anyhow::Result<()> {
    let server = console_server().await?;
    let client = &server.client;
    client.create_topic("orders").await?;
    client.create_queue(&queue("billing")).await?;
    client.create_queue(&queue("shipping")).await?;
    client.subscribe("orders", "billing", None).await?;
    client.subscribe("orders", "shipping", None).await?;
    let browser = Browser::start().await?;
    browser.log_in(server.url(), ADMIN_TOKEN).await?;
    browser.open(&format!("{}/#/", server.url())).await?;
    let ready = "tr[data-queue=billing] td[data-col=ready]";
    browser.wait_for_text(ready, "0").await?;

    for round in 1..=3u64 {
        let batch: Vec<_> = (0..round * 2)
            .map(|n| json_message(json!({"order": n})))
            .collect();
        client
            .publish_batch(
                "orders",
                &switchyard_client::PublishBatch { messages: batch },
            )
            .await?;
        let total = (1..=round).map(|r| r * 2).sum::<u64>().to_string();
        browser.wait_for_text(ready, &total).await?;
        browser
            .wait_for_text("tr[data-topic=orders] td[data-col=published]", &total)
            .await?;
    }
    browser.wait_for_text("#total-depth", "24").await?;
    browser.screenshot("overview").await?;
    browser.close().await
}

#[tokio::test]
async fn overview_charts_start_from_what_the_server_sampled_before_the_page_opened()
-> anyhow::Result<()> {
    let assets = console_assets()?.to_path_buf();
    let server = TestServer::start_with(|config| {
        config.console_dir = Some(assets);
        config.history_interval_ms = 100;
    })
    .await?;
    let client = &server.client;
    client.create_queue(&queue("backlog")).await?;
    for n in 0..3 {
        client
            .send("backlog", &json_message(json!({ "n": n })))
            .await?;
    }
    let sampled = wait_for("three samples of the backlog", PATIENCE, async || {
        let history = client.history().await?;
        let with: Vec<u64> = history
            .samples
            .iter()
            .filter(|s| s.queues.get("backlog").is_some_and(|q| q.ready == 3))
            .map(|s| s.at_ms)
            .collect();
        Ok((with.len() >= 3).then(|| with[0]))
    })
    .await?;
    let browser = Browser::start().await?;
    browser.log_in(server.url(), ADMIN_TOKEN).await?;
    let opened_at = now_ms();
    browser.open(&format!("{}/#/", server.url())).await?;
    browser.wait_for_text("#total-depth", "3").await?;
    let from: u64 = browser
        .element("#waiting-chart")
        .await?
        .attr("data-from-ms")
        .await?
        .unwrap_or_default()
        .parse()?;
    assert!(
        from > 0 && from <= sampled && from < opened_at,
        "the chart starts at {from}, the server's samples at {sampled}, the page opened at {opened_at}"
    );
    browser.close().await
}

/// A message that is dead-lettered from `jobs` into `jobs-dlq` after one expired lease.
async fn dead_letter(client: &switchyard_client::Client) -> anyhow::Result<Message> {
    client.create_queue(&queue("jobs-dlq")).await?;
    client
        .create_queue(&CreateQueue {
            name: "jobs".into(),
            visibility_timeout_ms: Some(200),
            max_receive_count: Some(1),
            dead_letter_queue: Some("jobs-dlq".into()),
            ..CreateQueue::default()
        })
        .await?;
    let poison =
        json_message(json!({"job": "resize", "image": "cat.png"})).attribute("tenant", "acme");
    let id = client.send("jobs", &poison).await?;
    receive_exactly(client, "jobs", 1).await?;
    wait_for("the message to reach jobs-dlq", PATIENCE, async || {
        assert!(
            client
                .receive("jobs", &receive_request(1, 0))
                .await?
                .is_empty()
        );
        let dead = client.peek("jobs-dlq", 10, None).await?;
        Ok(dead.into_iter().find(|m| m.id == id))
    })
    .await
}

#[tokio::test]
async fn queue_page_shows_dead_letters_with_reasons_redrives_and_purges() -> anyhow::Result<()> {
    let server = console_server().await?;
    let client = &server.client;
    let dead = dead_letter(client).await?;
    let reason = dead.dead_letter.clone().expect("a dead letter").reason;
    for n in 0..2 {
        client
            .send(
                "jobs",
                &json_message(json!({"job": "thumbnail", "n": n})).key("acme"),
            )
            .await?;
    }
    let browser = Browser::start().await?;
    browser.log_in(server.url(), ADMIN_TOKEN).await?;
    let base = server.url();

    browser.open(&format!("{base}/#/queues")).await?;
    browser.wait_for_text(".queue-cards", "jobs-dlq").await?;
    browser.screenshot("queues").await?;

    browser.open(&format!("{base}/#/queues/jobs-dlq")).await?;
    let row = format!("#dead-letters tr[data-message=\"{}\"]", dead.id);
    let shown = browser.wait_for_text(&row, &reason).await?;
    assert!(shown.contains("jobs"), "the source queue is shown: {shown}");
    browser
        .wait_for_text("#queue-stats", "Dead-lettered")
        .await?;
    browser.screenshot("queue-dead-letters").await?;

    // Message lookup, from a pasted id.
    browser.open(&format!("{base}/#/messages")).await?;
    browser
        .fill("#message-lookup input[name=message-id]", &dead.id)
        .await?;
    browser.click("#message-lookup button[type=submit]").await?;
    let delivery = browser
        .wait_for_text(
            "#deliveries tr[data-queue=jobs-dlq]",
            "dead-lettered from jobs",
        )
        .await?;
    assert!(delivery.contains(&reason), "{delivery}");
    browser.screenshot("message").await?;
    browser
        .fill("#message-lookup input[name=message-id]", "not-an-id")
        .await?;
    browser.click("#message-lookup button[type=submit]").await?;
    browser
        .wait_for_text(".banner.error", "That is not a message id")
        .await?;

    browser.open(&format!("{base}/#/queues/jobs-dlq")).await?;
    browser.element(&row).await?;
    browser.click("#redrive").await?;
    browser
        .wait_for_text(".banner.ok", "Moved 1 messages back")
        .await?;
    let back = client.peek("jobs", 10, None).await?;
    assert!(
        back.iter().any(|m| m.id == dead.id),
        "redriven into jobs: {back:?}"
    );
    assert!(client.peek("jobs-dlq", 10, None).await?.is_empty());

    browser.open(&format!("{base}/#/queues/jobs")).await?;
    browser.wait_for_text("#messages", "thumbnail").await?;
    browser.screenshot("queue").await?;
    browser.click("#purge").await?;
    browser.click("#purge-confirm").await?;
    browser
        .wait_for_text(".banner.ok", "Purged 3 messages")
        .await?;
    assert!(client.peek("jobs", 10, None).await?.is_empty());
    browser
        .wait_for_text(".empty", "This queue is empty")
        .await?;

    // Settings edited in place: only what changed is sent.
    browser.click("#edit-settings").await?;
    browser
        .fill("#queue-settings input[name=visibility]", "45")
        .await?;
    browser
        .fill("#queue-settings input[name=max-receives]", "7")
        .await?;
    browser
        .select("#queue-settings select[name=ordering]", "per key")
        .await?;
    browser
        .fill("#queue-settings input[name=retry]", "1, 10, 60")
        .await?;
    browser
        .fill("#queue-settings input[name=fair-by]", "attribute:tenant")
        .await?;
    browser
        .fill("#queue-settings input[name=weights]", "acme=3")
        .await?;
    browser.click("#queue-settings button[type=submit]").await?;
    browser
        .wait_for_text(".banner.ok", "Settings saved")
        .await?;
    let jobs = client.get_queue("jobs").await?;
    assert_eq!(
        (
            jobs.visibility_timeout_ms,
            jobs.max_receive_count,
            jobs.dead_letter_queue.as_deref()
        ),
        (45_000, Some(7), Some("jobs-dlq"))
    );
    assert_eq!(jobs.ordering, switchyard_client::QueueOrdering::PerKey);
    assert_eq!(
        jobs.retry.and_then(|retry| retry.backoff_ms),
        Some(vec![1000, 10_000, 60_000])
    );
    let fairness = jobs.fairness.expect("fairness set");
    assert_eq!(fairness.by, "attribute:tenant");
    assert_eq!(fairness.weights.get("acme"), Some(&3));
    browser.wait_for_text(".facts", "45 s").await?;
    browser.wait_for_text(".facts", "per key").await?;
    browser
        .wait_for_text(".facts", "turns by attribute:tenant (acme ×3)")
        .await?;
    browser.wait_for_text(".facts", "1 s, 10 s, 1 min").await?;
    browser.screenshot("queue-settings").await?;
    browser.close().await
}

#[tokio::test]
async fn filter_editor_previews_a_draft_on_the_topics_archive() -> anyhow::Result<()> {
    let server = console_server().await?;
    let client = &server.client;
    client.create_queue(&queue("pro-signups")).await?;
    let browser = Browser::start().await?;
    browser.log_in(server.url(), ADMIN_TOKEN).await?;
    browser.open(&format!("{}/#/wiring", server.url())).await?;
    browser
        .fill("#new-topic input[name=topic-name]", "signups")
        .await?;
    browser
        .click("#new-topic input[name=topic-archive]")
        .await?;
    browser.click("#new-topic button[type=submit]").await?;
    browser.element(".flow[data-topic=signups]").await?;
    let topic = client.get_topic("signups").await?;
    assert!(
        topic.archive.is_some(),
        "created with an archive: {topic:?}"
    );

    for plan in ["pro", "free", "pro-plus", "free"] {
        client
            .publish("signups", &json_message(json!({"plan": plan})))
            .await?;
    }
    browser
        .select("#new-subscription select[name=sub-topic]", "signups")
        .await?;
    browser
        .fill(
            "#new-filter",
            r#"{"payload": {"plan": [{"prefix": "pro"}]}}"#,
        )
        .await?;
    let preview = browser
        .wait_for_text("#new-subscription .preview", "Matches 2 of the last 4")
        .await?;
    assert!(preview.contains(r#""plan":"pro-plus""#), "{preview}");
    assert!(!preview.contains("free"), "{preview}");
    browser
        .screenshot_of("wiring-filter-preview", "#new-subscription .preview")
        .await?;
    browser.close().await
}
