//! Deploying plugins: checked before accepted, content-addressed versions, activation and
//! rollback, consumers' settings validated.

use switchyard_client::{ConsumerState, PatchConsumer};
use switchyard_tests::*;

use super::{consume, deploy, wire};

#[tokio::test]
async fn garbage_core_modules_and_components_of_another_world_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let cases: [(&[u8], &str); 3] = [
        (b"definitely not wasm", "not_wasm"),
        (b"\0asm\x01\0\0\0", "not_a_component"),
        // A valid, empty component: it exports no handler.
        (b"\0asm\x0d\0\x01\0", "wrong_world"),
    ];
    for (bytes, code) in cases {
        let refused = client.deploy_plugin("bad", bytes.to_vec(), true).await;
        assert_api_error(refused, 400, code);
    }
    let wrong_type = client
        .call_bytes::<serde_json::Value>(
            switchyard_client::Method::POST,
            "/v1/plugins/bad/versions",
            "text/plain",
            b"x".to_vec(),
        )
        .await;
    assert_api_error(wrong_type, 415, "unsupported_media_type");
    assert!(
        client.list_plugins().await?.is_empty(),
        "nothing was stored"
    );
    assert_still_serving(client).await
}

#[tokio::test]
async fn versions_are_content_addressed_and_activation_rolls_back() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let first = deploy(client, "p", "ack-all").await?;
    assert!(
        first.starts_with("sha256:") && first.len() == 7 + 64,
        "{first}"
    );
    let again = client
        .deploy_plugin("p", plugin_wasm("ack-all")?, true)
        .await?;
    assert!(!again.created, "the same bytes are the same version");
    assert_eq!(again.version, first);
    let second = client
        .deploy_plugin("p", plugin_wasm("signup-analytics")?, false)
        .await?;
    assert!(second.created && !second.active);
    let plugin = client.get_plugin("p").await?;
    assert_eq!(plugin.versions.len(), 2);
    assert_eq!(plugin.active_version.as_deref(), Some(first.as_str()));

    let activated = client.activate_plugin("p", &second.version[7..19]).await?;
    assert_eq!(
        activated.active_version.as_deref(),
        Some(second.version.as_str())
    );
    let rolled_back = client.activate_plugin("p", &first).await?;
    assert_eq!(rolled_back.active_version.as_deref(), Some(first.as_str()));
    assert_api_error(
        client.activate_plugin("p", "sha256:ffff").await,
        404,
        "version_not_found",
    );
    assert_api_error(
        client.activate_plugin("nope", &first).await,
        404,
        "plugin_not_found",
    );

    // Survives a restart.
    let server = server.restart().await?;
    let plugin = server.client.get_plugin("p").await?;
    assert_eq!(plugin.active_version.as_deref(), Some(first.as_str()));
    assert_eq!(plugin.versions.len(), 2);
    Ok(())
}

#[tokio::test]
async fn hot_swap_sends_new_batches_to_the_new_version() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    wire(client, "events", "work", None).await?;
    let counting = deploy(client, "p", "signup-analytics").await?;
    consume(client, "c", "work", "p", |_| {}).await?;
    client
        .publish(
            "events",
            &json_message(serde_json::json!({})).attribute("kind", "a"),
        )
        .await?;
    wait_until("the first version counted", PATIENCE, async || {
        Ok(client.plugin_kv("p", "count:a").await.is_ok())
    })
    .await?;
    let plain = client
        .deploy_plugin("p", plugin_wasm("ack-all")?, true)
        .await?;
    assert!(plain.active && plain.version != counting);
    for _ in 0..3 {
        client
            .publish(
                "events",
                &json_message(serde_json::json!({})).attribute("kind", "a"),
            )
            .await?;
    }
    super::wait_consumer(client, "c", "4 acks", |c| c.stats.acked == 4).await?;
    let count = client.plugin_kv("p", "count:a").await?;
    assert_eq!(
        count.value.as_deref(),
        Some("1"),
        "the new version does not count"
    );
    Ok(())
}

/// A change to an otherwise valid consumer request.
type Edit = Box<dyn Fn(&mut switchyard_client::CreateConsumer)>;

#[tokio::test]
async fn consumer_settings_are_validated_and_pause_stops_leasing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    wire(client, "events", "work", None).await?;
    deploy(client, "p", "ack-all").await?;
    let refusals: Vec<(Edit, u16, &str)> = vec![
        (
            Box::new(|c| c.queue = "missing".into()),
            404,
            "queue_not_found",
        ),
        (
            Box::new(|c| c.plugin = "missing".into()),
            404,
            "plugin_not_found",
        ),
        (
            Box::new(|c| c.concurrency = Some(0)),
            400,
            "invalid_setting",
        ),
        (Box::new(|c| c.timeout_ms = Some(0)), 400, "invalid_setting"),
        (
            Box::new(|c| c.allowed_hosts = vec!["http://x".into()]),
            400,
            "invalid_setting",
        ),
        (
            Box::new(|c| c.name = "bad name".into()),
            400,
            "invalid_name",
        ),
    ];
    for (adjust, status, code) in refusals {
        assert_api_error(
            consume(client, "c", "work", "p", adjust).await,
            status,
            code,
        );
    }
    assert!(client.list_consumers().await?.is_empty());

    consume(client, "c", "work", "p", |_| {}).await?;
    assert_api_error(
        consume(client, "c", "work", "p", |_| {}).await,
        409,
        "consumer_exists",
    );
    let paused = client.pause_consumer("c").await?;
    assert_eq!(paused.state, ConsumerState::Paused);
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    client
        .publish("events", &json_message(serde_json::json!({})))
        .await?;
    tokio::time::sleep(super::SETTLE).await;
    let stats = client.get_queue("work").await?.stats.expect("stats");
    assert_eq!(
        (stats.ready, stats.in_flight),
        (1, 0),
        "a paused consumer leases nothing"
    );
    client.resume_consumer("c").await?;
    super::wait_consumer(client, "c", "the ack after resume", |c| c.stats.acked == 1).await?;

    let patched = client
        .patch_consumer(
            "c",
            &PatchConsumer {
                concurrency: Some(3),
                ..PatchConsumer::default()
            },
        )
        .await?;
    assert_eq!(patched.concurrency, 3);
    client.delete_consumer("c").await?;
    assert_api_error(client.get_consumer("c").await, 404, "consumer_not_found");
    Ok(())
}
