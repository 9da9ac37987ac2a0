//! Deploying plugins: checked before accepted, content-addressed versions, activation and
//! rollback, consumers' settings validated.

use switchyard_client::{Client, ConsumerState, PatchConsumer};
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
            Box::new(|c| c.allowed_hosts = vec!["x".into()]),
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

/// `wasm` with a custom section holding `n` appended: the same component, another digest.
fn variant(wasm: &[u8], n: u32) -> Vec<u8> {
    // Section id 0 (custom), its size, then the name `v` (length-prefixed) and `n`.
    let mut out = wasm.to_vec();
    out.extend_from_slice(&[0, 6, 1, b'v']);
    out.extend_from_slice(&n.to_le_bytes());
    out
}

/// Plugin `p` with `ack-all` active and `signup-analytics` uploaded but not active: their
/// digests.
async fn active_and_other(client: &Client) -> anyhow::Result<(String, String)> {
    let active = deploy(client, "p", "ack-all").await?;
    let other = client
        .deploy_plugin("p", plugin_wasm("signup-analytics")?, false)
        .await?;
    Ok((active, other.version))
}

/// The digests of a plugin's versions, oldest first.
async fn versions_of(client: &Client, plugin: &str) -> anyhow::Result<Vec<String>> {
    let plugin = client.get_plugin(plugin).await?;
    Ok(plugin.versions.into_iter().map(|v| v.version).collect())
}

#[tokio::test]
async fn a_deleted_version_leaves_the_listing_and_cannot_be_activated() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let (active, other) = active_and_other(client).await?;
    client.delete_plugin_version("p", &other[7..19]).await?;
    assert_eq!(versions_of(client, "p").await?, [active.as_str()]);
    assert_api_error(
        client.activate_plugin("p", &other).await,
        404,
        "version_not_found",
    );
    assert_api_error(
        client.delete_plugin_version("p", &other).await,
        404,
        "version_not_found",
    );
    assert_api_error(
        client.delete_plugin_version("nope", &active).await,
        404,
        "plugin_not_found",
    );
    // Uploaded again, it is a new version.
    let again = client
        .deploy_plugin("p", plugin_wasm("signup-analytics")?, false)
        .await?;
    assert!(again.created && again.version == other);
    Ok(())
}

#[tokio::test]
async fn deleting_the_active_version_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    wire(client, "events", "work", None).await?;
    let (active, _) = active_and_other(client).await?;
    let before = client.get_plugin("p").await?;
    let message = assert_api_error(
        client.delete_plugin_version("p", &active).await,
        409,
        "version_active",
    );
    assert!(message.contains("activate another"), "{message}");
    assert_eq!(client.get_plugin("p").await?, before);
    // Its binary is still there: after a restart the version compiles from storage and runs.
    let server = server.restart().await?;
    let client = &server.client;
    consume(client, "c", "work", "p", |_| {}).await?;
    client
        .publish("events", &json_message(serde_json::json!({})))
        .await?;
    super::wait_consumer(client, "c", "an ack", |c| c.stats.acked == 1).await?;
    Ok(())
}

#[tokio::test]
async fn a_deleted_version_stays_deleted_after_a_restart() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (active, other) = active_and_other(&server.client).await?;
    server.client.delete_plugin_version("p", &other).await?;
    let server = server.restart().await?;
    let client = &server.client;
    assert_eq!(versions_of(client, "p").await?, [active.as_str()]);
    let plugin = client.get_plugin("p").await?;
    assert_eq!(plugin.active_version.as_deref(), Some(active.as_str()));
    assert_api_error(
        client.activate_plugin("p", &other).await,
        404,
        "version_not_found",
    );
    Ok(())
}

#[tokio::test]
async fn a_binary_shared_by_two_plugins_stays_for_the_other() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let shared = deploy(client, "a", "ack-all").await?;
    deploy(client, "a", "signup-analytics").await?;
    deploy(client, "b", "signup-analytics").await?;
    client
        .deploy_plugin("b", plugin_wasm("ack-all")?, false)
        .await?;
    client.delete_plugin_version("a", &shared).await?;
    // A restart forgets every compiled version: activating it compiles it from storage.
    let server = server.restart().await?;
    let client = &server.client;
    let b = client.activate_plugin("b", &shared).await?;
    assert_eq!(b.active_version.as_deref(), Some(shared.as_str()));
    assert_api_error(
        client.activate_plugin("a", &shared).await,
        404,
        "version_not_found",
    );
    Ok(())
}

/// A component of one core module defining `functions` empty functions (and exporting
/// nothing: were it compiled, it would be refused as of the wrong world).
fn component_with_functions(functions: u32) -> Vec<u8> {
    use wasm_encoder::{CodeSection, Function, FunctionSection, Module, TypeSection};
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let (mut declared, mut code) = (FunctionSection::new(), CodeSection::new());
    let mut body = Function::new([]);
    body.instructions().end();
    for _ in 0..functions {
        declared.function(0);
        code.function(&body);
    }
    let mut module = Module::new();
    module.section(&types).section(&declared).section(&code);
    let mut component = wasm_encoder::Component::new();
    component.section(&wasm_encoder::ModuleSection(&module));
    component.finish()
}

#[tokio::test]
async fn a_component_over_the_function_cap_is_refused_before_compiling() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let max = switchyard::dispatcher::Cap::Functions.max() as u32;
    let refused = client
        .deploy_plugin("big", component_with_functions(max + 1), true)
        .await;
    let message = assert_api_error(refused, 400, "too_many_functions");
    assert!(message.contains(&format!("{}", max + 1)), "{message}");
    assert!(
        client.list_plugins().await?.is_empty(),
        "nothing was stored"
    );
    // Under the cap it is compiled (and refused for what it exports).
    let compiled = client
        .deploy_plugin("big", component_with_functions(1_000), true)
        .await;
    assert_api_error(compiled, 400, "wrong_world");
    assert_still_serving(client).await
}

#[tokio::test]
async fn concurrent_uploads_all_land() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let wasm = plugin_wasm("ack-all")?;
    let uploads = (0..4).map(|n| client.deploy_plugin("p", variant(&wasm, n), false));
    let deployed = futures::future::try_join_all(uploads).await?;
    assert!(deployed.iter().all(|d| d.created));
    let plugin = client.get_plugin("p").await?;
    assert_eq!(plugin.versions.len(), 4, "every upload is a version");
    Ok(())
}
