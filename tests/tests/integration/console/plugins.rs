//! The Plugins page in Chromium: a file that is not a component refused in words, versions
//! uploaded from the file picker, a consumer wired through the form, a version activated and
//! rolled back with a click, a faulting plugin's error shown against its consumer and in its
//! log, the consumer edited, paused and shown in the wiring, and a version deleted.

use serde_json::json;
use switchyard_tests::*;

#[tokio::test]
async fn plugins_page_uploads_activates_rolls_back_and_shows_consumer_errors() -> anyhow::Result<()>
{
    let server = console_server().await?;
    let client = &server.client;
    client.create_queue(&queue("work")).await?;
    let browser = Browser::start().await?;
    browser.log_in(server.url(), ADMIN_TOKEN).await?;
    browser.open(&format!("{}/#/plugins", server.url())).await?;
    browser.wait_for_text(".empty", "No plugins yet").await?;

    // Not WebAssembly: refused in words, nothing stored.
    let scratch = tempfile::tempdir()?;
    let notes = scratch.path().join("notes.wasm");
    std::fs::write(&notes, "these are notes, not a component")?;
    browser
        .fill("#upload-plugin input[name=plugin-name]", "worker")
        .await?;
    browser
        .choose_file("#upload-plugin input[name=plugin-file]", &notes)
        .await?;
    browser.click("#upload-plugin button[type=submit]").await?;
    browser
        .wait_for_text("#upload-plugin .form-error", "not WebAssembly")
        .await?;
    assert!(
        client.list_plugins().await?.is_empty(),
        "nothing was stored"
    );

    // The first version becomes active; the second is uploaded without activating it.
    browser
        .choose_file(
            "#upload-plugin input[name=plugin-file]",
            &plugin_wasm_path("ack-all")?,
        )
        .await?;
    browser.click("#upload-plugin button[type=submit]").await?;
    browser
        .wait_for_text(".banner.ok", "it is the active version")
        .await?;
    let first = client.get_plugin("worker").await?;
    let first_version = first
        .active_version
        .clone()
        .expect("the first upload is active");
    browser
        .wait_for_text(
            ".plugin-card[data-plugin=worker] .active-version",
            &first_version["sha256:".len().."sha256:".len() + 12],
        )
        .await?;
    browser.click("#upload-plugin input[name=activate]").await?;
    browser
        .choose_file(
            "#upload-plugin input[name=plugin-file]",
            &plugin_wasm_path("faulty")?,
        )
        .await?;
    browser.click("#upload-plugin button[type=submit]").await?;
    browser
        .wait_for_text(".banner.ok", "activate it when you are ready")
        .await?;
    let plugin = client.get_plugin("worker").await?;
    assert_eq!(plugin.versions.len(), 2, "{plugin:?}");
    assert_eq!(plugin.active_version.as_ref(), Some(&first_version));
    let second_version = plugin.versions[1].version.clone();

    // A consumer wired through the form runs the active version.
    browser
        .fill("#new-consumer input[name=consumer-name]", "runner")
        .await?;
    browser
        .select("#new-consumer select[name=consumer-queue]", "work")
        .await?;
    browser
        .select("#new-consumer select[name=consumer-plugin]", "worker")
        .await?;
    browser
        .fill("#new-consumer input[name=batch-size]", "5")
        .await?;
    browser.click("#new-consumer button[type=submit]").await?;
    browser
        .wait_for_text("#consumers tr[data-consumer=runner]", "running")
        .await?;
    let consumer = client.get_consumer("runner").await?;
    assert_eq!(
        (
            consumer.queue.as_str(),
            consumer.plugin.as_str(),
            consumer.batch.max_messages
        ),
        ("work", "worker", 5)
    );
    client
        .send("work", &json_message(json!({"mode": "panic"})))
        .await?;
    wait_until("ack-all to ack the message", PATIENCE, async || {
        Ok(client.get_consumer("runner").await?.stats.acked == 1)
    })
    .await?;
    browser
        .wait_for_text("#consumers tr[data-consumer=runner] td.acked", "1")
        .await?;

    // Activate the second version (which panics on this message) with a click.
    let second_row =
        format!(".plugin-card[data-plugin=worker] tr[data-version=\"{second_version}\"] button");
    browser.click(&second_row).await?;
    browser
        .wait_for_text(".banner.ok", "now runs version")
        .await?;
    assert_eq!(
        client.get_plugin("worker").await?.active_version,
        Some(second_version.clone())
    );
    client
        .send("work", &json_message(json!({"mode": "panic"})))
        .await?;
    browser
        .wait_for_text(
            "#consumers tr[data-consumer=runner] .last-error-cell",
            "panic",
        )
        .await?;
    browser
        .wait_for_text(
            ".plugin-card[data-plugin=worker] .last-error",
            "asked to panic",
        )
        .await?;
    browser.screenshot("plugins").await?;
    // The consumer's log shows the fault as it happened.
    browser
        .click("#consumers tr[data-consumer=runner] .row-actions button:nth-child(3)")
        .await?;
    browser
        .wait_for_text("#consumer-logs", "asked to panic")
        .await?;
    browser
        .screenshot_of("plugins-consumers", "#consumers")
        .await?;

    // Roll back to the first version: the same kind of message is acked again.
    let first_row =
        format!(".plugin-card[data-plugin=worker] tr[data-version=\"{first_version}\"] button");
    browser
        .wait_for_text(&first_row, "roll back to this")
        .await?;
    browser.click(&first_row).await?;
    wait_until("the rollback", PATIENCE, async || {
        Ok(client.get_plugin("worker").await?.active_version.as_ref() == Some(&first_version))
    })
    .await?;
    client
        .send("work", &json_message(json!({"mode": "panic"})))
        .await?;
    wait_until("the first version to ack again", PATIENCE, async || {
        Ok(client.get_consumer("runner").await?.stats.acked == 2)
    })
    .await?;

    // Edit the consumer in place.
    browser
        .click("#consumers tr[data-consumer=runner] .row-actions button:nth-child(2)")
        .await?;
    browser
        .fill("#consumer-settings input[name=batch-size]", "20")
        .await?;
    browser
        .fill("#consumer-settings input[name=concurrency]", "2")
        .await?;
    browser
        .fill("#consumer-settings input[name=batch-bytes]", "4096")
        .await?;
    browser
        .fill("#consumer-settings input[name=batch-wait]", "3600000")
        .await?;
    browser
        .click("#consumer-settings button[type=submit]")
        .await?;
    browser
        .wait_for_text(".banner.ok", "Consumer runner saved")
        .await?;
    let consumer = client.get_consumer("runner").await?;
    assert_eq!(
        (
            consumer.batch.max_messages,
            consumer.batch.max_bytes,
            consumer.batch.max_wait_ms,
            consumer.concurrency,
            consumer.plugin.as_str()
        ),
        (20, 4096, 3_600_000, 2, "worker")
    );

    // The Wiring picture names the consumer under its queue.
    browser.open(&format!("{}/#/wiring", server.url())).await?;
    browser
        .wait_for_text(
            "[data-queue=work] [data-consumer=runner]",
            "runner runs worker",
        )
        .await?;

    // Pause from the page.
    browser.open(&format!("{}/#/plugins", server.url())).await?;
    browser
        .click("#consumers tr[data-consumer=runner] .row-actions button:first-child")
        .await?;
    browser
        .wait_for_text("#consumers tr[data-consumer=runner]", "paused")
        .await?;
    browser.close().await
}

#[tokio::test]
async fn plugins_page_deletes_a_version_that_is_not_active() -> anyhow::Result<()> {
    let server = console_server().await?;
    let client = &server.client;
    let active = client
        .deploy_plugin("worker", plugin_wasm("ack-all")?, true)
        .await?
        .version;
    let other = client
        .deploy_plugin("worker", plugin_wasm("faulty")?, false)
        .await?
        .version;
    let browser = Browser::start().await?;
    browser.log_in(server.url(), ADMIN_TOKEN).await?;
    browser.open(&format!("{}/#/plugins", server.url())).await?;
    browser
        .click(&format!(
            ".plugin-card[data-plugin=worker] tr[data-version=\"{other}\"] button.danger"
        ))
        .await?;
    browser
        .wait_for_text(".banner.ok", "Deleted version")
        .await?;
    let versions: Vec<String> = client
        .get_plugin("worker")
        .await?
        .versions
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [active]);
    browser.close().await
}
