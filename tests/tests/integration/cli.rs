//! The CLI: the real binary, as a server (`serve`) and as a client of one (`topic`, `queue`,
//! `sub`, `publish`, `receive`, `ack`, ... with `--url` and `--json`).

use std::process::Output;

use anyhow::Context;
use serde_json::{Value, json};
use switchyard_client::DeliveryState;
use switchyard_tests::*;
use tokio::process::Command;

use crate::SERVER_BIN;

/// Runs the binary with `--url URL` and `args` as the harness's admin (`SWITCHYARD_TOKEN`),
/// bounded in time.
async fn run(url: &str, args: &[&str]) -> anyhow::Result<Output> {
    run_as(url, Some(ADMIN_TOKEN), args).await
}

/// Runs the binary with `--url URL` and `args`, sending `token` if given, bounded in time.
async fn run_as(url: &str, token: Option<&str>, args: &[&str]) -> anyhow::Result<Output> {
    // Out of any directory that might hold a ./switchyard-data/admin-token.
    run_in(&std::env::temp_dir(), url, token, args).await
}

/// Runs the binary in `dir` with `--url URL` and `args`, sending `token` if given.
async fn run_in(
    dir: &std::path::Path,
    url: &str,
    token: Option<&str>,
    args: &[&str],
) -> anyhow::Result<Output> {
    let mut command = Command::new(SERVER_BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHYARD_") {
            command.env_remove(name);
        }
    }
    if let Some(token) = token {
        command.env("SWITCHYARD_TOKEN", token);
    }
    command.current_dir(dir);
    command.arg("--url").arg(url).args(args).kill_on_drop(true);
    tokio::time::timeout(PATIENCE, command.output())
        .await
        .with_context(|| format!("switchyard {args:?} did not finish"))?
        .with_context(|| format!("running switchyard {args:?}"))
}

/// Runs a subcommand that must succeed and print JSON; returns that JSON.
async fn run_json(url: &str, args: &[&str]) -> anyhow::Result<Value> {
    let mut all = args.to_vec();
    all.push("--json");
    let output = run(url, &all).await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(
        output.status.success(),
        "switchyard {all:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim())
        .with_context(|| format!("switchyard {all:?} printed no JSON: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_creates_publishes_receives_and_acks_against_a_served_binary() -> anyhow::Result<()> {
    let (_dir, data) = temp_data_dir()?;
    let child = ChildServer::spawn(SERVER_BIN, &data).await?;
    let url = child.url();
    assert!(data.exists(), "serve creates its data directory");

    let topic = run_json(url, &["topic", "create", "signups"]).await?;
    assert_eq!(topic["name"], "signups");
    let queue = run_json(
        url,
        &[
            "queue",
            "create",
            "mail",
            "--visibility-timeout-ms",
            "60000",
        ],
    )
    .await?;
    assert_eq!(
        (
            queue["name"].clone(),
            queue["visibility_timeout_ms"].clone()
        ),
        (json!("mail"), json!(60000))
    );
    let sub = run_json(url, &["sub", "create", "signups", "mail"]).await?;
    let sub_id = sub["id"].as_str().context("subscription id")?;
    assert_ulid(sub_id);

    let published = run_json(
        url,
        &[
            "publish",
            "signups",
            r#"{"email":"a@example.com"}"#,
            "--attr",
            "kind=signup",
        ],
    )
    .await?;
    let id = published["id"]
        .as_str()
        .context("published id")?
        .to_string();
    assert_ulid(&id);

    let received = run_json(
        url,
        &["receive", "mail", "--max", "10", "--wait-ms", "5000"],
    )
    .await?;
    let messages = received["messages"].as_array().context("messages")?;
    assert_eq!(messages.len(), 1, "{received}");
    assert_eq!(messages[0]["id"], id.as_str());
    assert_eq!(messages[0]["payload"], json!({"email": "a@example.com"}));
    assert_eq!(messages[0]["attributes"], json!({"kind": "signup"}));
    assert_eq!(messages[0]["receive_count"], 1);
    let receipt = messages[0]["receipt"].as_str().context("receipt")?;

    let acked = run_json(url, &["ack", "mail", receipt]).await?;
    assert_eq!(acked["acked"], 1, "{acked}");
    let status = child.client.message_status(&id).await?;
    assert_eq!(
        states(&status),
        [("mail".to_string(), DeliveryState::Acked)]
    );

    // What the CLI made is what the API shows.
    let subs = child.client.list_subscriptions().await?;
    assert_eq!(subs.len(), 1);
    assert_eq!(
        (subs[0].topic.as_str(), subs[0].queue.as_str()),
        ("signups", "mail")
    );
    let stats = child
        .client
        .get_queue("mail")
        .await?
        .stats
        .context("stats")?;
    assert_eq!((stats.ready, stats.in_flight), (0, 0));
    child.kill_9().await?;
    Ok(())
}

#[tokio::test]
async fn cli_prints_human_readable_output_by_default() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.client.create_topic("invoices").await?;
    server.client.create_queue(&queue("billing")).await?;
    let output = run(server.url(), &["topic", "list"]).await?;
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("invoices"), "topic list: {text}");
    assert!(
        serde_json::from_str::<Value>(text.trim()).is_err(),
        "not JSON by default"
    );

    let output = run(server.url(), &["queue", "get", "billing"]).await?;
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("billing"));
    Ok(())
}

#[tokio::test]
async fn cli_sends_receives_with_ack_and_shows_message_status() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    server.client.create_queue(&queue("direct")).await?;
    let sent = run_json(
        url,
        &["send", "direct", "hello there", "--text", "--key", "k1"],
    )
    .await?;
    let id = sent["id"].as_str().context("id")?.to_string();
    let status = run_json(url, &["message", &id]).await?;
    assert_eq!(status["deliveries"][0]["queue"], "direct");
    assert_eq!(status["deliveries"][0]["state"], "ready");

    let received = run_json(url, &["receive", "direct", "--wait-ms", "5000", "--ack"]).await?;
    assert_eq!(received["messages"][0]["payload"], "hello there");
    assert_eq!(received["messages"][0]["key"], "k1");
    let status = run_json(url, &["message", &id]).await?;
    assert_eq!(status["deliveries"][0]["queue"], "direct");
    assert_eq!(status["deliveries"][0]["state"], "acked");
    Ok(())
}

#[tokio::test]
async fn cli_reports_api_errors_with_their_code_and_fails() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let output = run(server.url(), &["queue", "get", "nope"]).await?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("queue_not_found"), "stderr: {stderr}");

    let output = run(server.url(), &["topic", "create", "bad name"]).await?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid_name"));
    let topics = server.client.list_topics().await?;
    assert!(
        topics
            .iter()
            .all(|t| t.name == switchyard_client::ALARMS_TOPIC),
        "{topics:?}"
    );
    Ok(())
}

#[tokio::test]
async fn cli_says_when_it_cannot_reach_the_server() -> anyhow::Result<()> {
    // Bind a port, then free it, so nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let output = run(&format!("http://127.0.0.1:{port}"), &["topic", "list"]).await?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach"), "stderr: {stderr}");
    Ok(())
}

#[tokio::test]
async fn cli_usage_errors_exit_with_2() -> anyhow::Result<()> {
    let output = run("http://127.0.0.1:9", &["publish"]).await?;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_deploys_a_plugin_and_runs_a_consumer() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let dir = tempfile::tempdir()?;
    let wasm = dir.path().join("signup_analytics.wasm");
    std::fs::write(&wasm, plugin_wasm("signup-analytics")?)?;
    let wasm = wasm.to_str().context("a UTF-8 temp path")?;

    let deployed = run_json(url, &["plugin", "deploy", wasm, "--name", "analytics"]).await?;
    assert_eq!(
        (deployed["active"].as_bool(), deployed["created"].as_bool()),
        (Some(true), Some(true))
    );
    let version = deployed["version"]
        .as_str()
        .context("a version")?
        .to_string();
    let plugins = run_json(url, &["plugin", "list"]).await?;
    assert_eq!(plugins["plugins"][0]["active_version"], version.as_str());
    let activated = run_json(url, &["plugin", "activate", "analytics", &version[7..20]]).await?;
    assert_eq!(activated["active_version"], version.as_str());

    run_json(url, &["topic", "create", "signups"]).await?;
    run_json(url, &["queue", "create", "analytics"]).await?;
    run_json(url, &["sub", "create", "signups", "analytics"]).await?;
    let consumer = run_json(
        url,
        &[
            "consumer",
            "create",
            "counter",
            "--queue",
            "analytics",
            "--plugin",
            "analytics",
            "--batch-max",
            "5",
            "--config",
            "a=b",
        ],
    )
    .await?;
    assert_eq!(consumer["batch"]["max_messages"], 5);
    assert_eq!(consumer["config"], json!({ "a": "b" }));
    run_json(url, &["publish", "signups", "{}", "--attr", "kind=signup"]).await?;
    wait_until("the CLI's consumer acked", PATIENCE, async || {
        let consumer = run_json(url, &["consumer", "get", "counter"]).await?;
        Ok(consumer["stats"]["acked"] == 1)
    })
    .await?;
    let count = run_json(url, &["plugin", "kv", "analytics", "count:signup"]).await?;
    assert_eq!(count["value"], "1");
    let paused = run_json(url, &["consumer", "pause", "counter"]).await?;
    assert_eq!(paused["state"], "paused");

    let human = run(url, &["consumer", "list"]).await?;
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("counter") && text.contains("paused"),
        "{text}"
    );
    let refused = run(url, &["plugin", "deploy", wasm, "--name", "bad name"]).await?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("invalid_name"));
    Ok(())
}

#[tokio::test]
async fn serve_refuses_an_out_of_range_setting_and_names_it() -> anyhow::Result<()> {
    let (dir, data) = temp_data_dir()?;
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, "dedup_window_ms = 0\n")?;
    let mut command = Command::new(SERVER_BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .kill_on_drop(true);
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .context("serve with a bad setting did not exit")??;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dedup_window_ms") && stderr.contains("1000"),
        "stderr: {stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_replays_an_archive_with_progress_and_previews_a_filter() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let topic = run_json(
        url,
        &[
            "topic",
            "create",
            "events",
            "--archive-max-bytes",
            "1000000",
        ],
    )
    .await?;
    assert_eq!(topic["archive"]["max_bytes"], 1_000_000);
    run_json(url, &["queue", "create", "copies"]).await?;
    for n in 0..6 {
        let payload = json!({ "n": n }).to_string();
        run_json(url, &["publish", "events", &payload]).await?;
    }
    let shown = run_json(url, &["topic", "get", "events"]).await?;
    assert_eq!(shown["archive_stats"]["messages"], 6);

    let preview = run_json(
        url,
        &[
            "topic",
            "preview",
            "events",
            "--filter",
            r#"{"payload":{"n":[{"numeric":[">=",4]}]}}"#,
        ],
    )
    .await?;
    assert_eq!(
        (preview["scanned"].as_u64(), preview["matched"].as_u64()),
        (Some(6), Some(2))
    );

    let job = run_json(
        url,
        &[
            "replay",
            "start",
            "events",
            "--queue",
            "copies",
            "--from-position",
            "2",
            "--to-position",
            "5",
        ],
    )
    .await?;
    assert_eq!(
        job["state"], "done",
        "start follows the job to its end: {job}"
    );
    assert_eq!(
        (job["scanned"].as_u64(), job["total"].as_u64()),
        (Some(3), Some(3))
    );
    let id = job["id"].as_str().expect("id").to_string();
    let listed = run_json(url, &["replay", "list"]).await?;
    assert_eq!(listed["replays"][0]["id"], id.as_str());

    // Without --json the progress bar goes to stderr and the summary to stdout.
    let output = run(url, &["replay", "start", "events", "--queue", "copies"]).await?;
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("100%") && stderr.contains("6/6 scanned"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("done"), "{stdout}");
    let cancel = run(url, &["replay", "cancel", &id]).await?;
    assert!(!cancel.status.success());
    assert!(String::from_utf8_lossy(&cancel.stderr).contains("replay_not_running"));
    Ok(())
}

#[tokio::test]
async fn cli_creates_lists_and_revokes_tokens_and_finds_a_local_admin_token() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("switchyard-data");
    let child = ChildServer::spawn_generating_token(SERVER_BIN, &data).await?;
    let url = child.url();
    // Run from the directory the server was started in: the CLI reads its admin token.
    let me = run_in(dir.path(), url, None, &["token", "whoami", "--json"]).await?;
    assert!(me.status.success(), "{me:?}");
    let me: Value = serde_json::from_slice(&me.stdout)?;
    assert_eq!(me["name"], "admin");
    // Elsewhere, without a token, the server refuses and the CLI says why.
    let anonymous = run_as(url, None, &["queue", "list"]).await?;
    assert_eq!(anonymous.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&anonymous.stderr);
    assert!(stderr.contains("unauthenticated"), "{stderr}");

    run_in(dir.path(), url, None, &["topic", "create", "signups"]).await?;
    let created = run_in(
        dir.path(),
        url,
        None,
        &[
            "token",
            "create",
            "ci",
            "--scope",
            "publish:topic:signups",
            "--publish-per-second",
            "100",
        ],
    )
    .await?;
    assert!(created.status.success(), "{created:?}");
    let secret = String::from_utf8(created.stdout)?.trim().to_string();
    assert!(
        secret.starts_with("sy_"),
        "the secret alone on stdout: {secret}"
    );
    let published = run_as(url, Some(&secret), &["publish", "signups", "{}"]).await?;
    assert!(published.status.success(), "{published:?}");
    let refused = run_as(url, Some(&secret), &["topic", "create", "other"]).await?;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("manage:topic:") && stderr.contains("forbidden"),
        "{stderr}"
    );

    let list = run_json(url, &["token", "list"]).await;
    assert!(list.is_err(), "the harness's token is not this server's");
    let list = run_in(dir.path(), url, None, &["token", "list", "--json"]).await?;
    let text = String::from_utf8(list.stdout)?;
    assert!(!text.contains(&secret), "a listing shows a secret");
    let tokens: Value = serde_json::from_str(&text)?;
    let ci = tokens["tokens"]
        .as_array()
        .context("tokens")?
        .iter()
        .find(|t| t["name"] == "ci")
        .context("the ci token")?;
    assert_eq!(ci["publish_rate"]["per_second"], 100);
    let id = ci["id"].as_str().context("id")?;
    let revoked = run_in(dir.path(), url, None, &["token", "revoke", id]).await?;
    assert!(revoked.status.success(), "{revoked:?}");
    let after = run_as(url, Some(&secret), &["publish", "signups", "{}"]).await?;
    assert_eq!(after.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&after.stderr).contains("unauthenticated"));
    child.kill_9().await?;
    Ok(())
}

#[tokio::test]
async fn serve_refuses_to_turn_auth_off_off_loopback() -> anyhow::Result<()> {
    let (_dir, data) = temp_data_dir()?;
    let mut command = Command::new(SERVER_BIN);
    command
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--insecure-no-auth",
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("SWITCHYARD_ADMIN_TOKEN")
        .kill_on_drop(true);
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .context("serve --insecure-no-auth on 0.0.0.0 did not exit")??;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("insecure_no_auth") && stderr.contains("loopback"),
        "stderr: {stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn cli_sets_monitor_thresholds_shows_the_monitor_and_manages_alarms() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let created = run_json(
        url,
        &[
            "queue",
            "create",
            "jobs",
            "--monitor-thresholds-ms",
            "1000,60000",
        ],
    )
    .await?;
    assert_eq!(created["monitor_thresholds_ms"], json!([1000, 60000]));
    let updated = run_json(
        url,
        &["queue", "update", "jobs", "--monitor-thresholds-ms", "2000"],
    )
    .await?;
    assert_eq!(updated["monitor_thresholds_ms"], json!([2000]));
    let output = run(
        url,
        &[
            "queue",
            "update",
            "jobs",
            "--monitor-thresholds-ms",
            "5000,1000",
        ],
    )
    .await?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid_setting"));

    let id = server
        .client
        .send("jobs", &json_message(json!("stuck")))
        .await?;
    let report = run_json(url, &["monitor"]).await?;
    assert_eq!(report["queues"][0]["queue"], "jobs");
    assert_eq!(report["queues"][0]["waiting"]["total"], 1);
    wait_until("the message past 2 s", PATIENCE, async || {
        let stuck = server
            .client
            .stuck_messages("jobs", None, None, None)
            .await?;
        Ok(!stuck.messages.is_empty())
    })
    .await?;
    let output = run(url, &["monitor", "jobs"]).await?;
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(&id) && text.contains("ready"), "{text}");
    let output = run(url, &["monitor"]).await?;
    assert!(String::from_utf8_lossy(&output.stdout).contains(">2s 1"));

    let alarm = run_json(
        url,
        &[
            "alarm",
            "create",
            "jobs-waiting",
            "--queue",
            "jobs",
            "--metric",
            "depth",
            "--threshold",
            "1",
            "--comparison",
            ">",
            "--for-ms",
            "5000",
            "--level",
            "warning",
        ],
    )
    .await?;
    assert_eq!(
        (
            &alarm["name"],
            &alarm["comparison"],
            &alarm["for_ms"],
            &alarm["level"]
        ),
        (
            &json!("jobs-waiting"),
            &json!(">"),
            &json!(5000),
            &json!("warning")
        )
    );
    let output = run(
        url,
        &[
            "alarm",
            "create",
            "odd",
            "--queue",
            "jobs",
            "--metric",
            "cpu",
            "--threshold",
            "1",
            "--level",
            "warning",
        ],
    )
    .await?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid_alarm"));
    let output = run(url, &["alarm", "list"]).await?;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("jobs-waiting") && text.contains("depth > 1 for 5s"),
        "{text}"
    );
    let updated = run_json(
        url,
        &[
            "alarm",
            "update",
            "jobs-waiting",
            "--threshold",
            "7",
            "--level",
            "critical",
        ],
    )
    .await?;
    assert_eq!(
        (&updated["threshold"], &updated["level"]),
        (&json!(7.0), &json!("critical"))
    );
    let output = run(url, &["alarm", "update", "jobs-waiting"]).await?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to change"));
    let output = run(url, &["alarm", "get", "jobs-waiting"]).await?;
    assert!(String::from_utf8_lossy(&output.stdout).contains("queue jobs"));
    let deleted = run_json(url, &["alarm", "delete", "jobs-waiting"]).await?;
    assert_eq!(deleted["deleted"], true);
    assert!(server.client.list_alarms().await?.is_empty());
    Ok(())
}
