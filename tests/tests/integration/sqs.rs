//! The SQS-compatible endpoint driven by unmodified AWS clients: boto3 and the AWS CLI v1 from
//! PyPI, at the versions pinned in `tests/sqs/requirements.txt`. Each test starts a server,
//! issues an AWS key pair with a new token (`POST /v1/tokens` with `aws_keys`) and runs one
//! scenario script of `tests/sqs/`, which signs with SigV4 and checks every answer itself,
//! computing the MD5 of each body and of each set of message attributes by the SQS
//! algorithm. Together they prove that these clients can manage queues (idempotent creation,
//! URLs, prefixes, attributes, purge, delete), send and receive typed attributes byte for
//! byte, use batches with per-entry failures, long-poll, rely on visibility timeouts and
//! dead-letter redrive, and get the SQS error codes botocore maps to its modelled
//! exceptions, the message size limit and SigV4 rejections; and that a key carries its
//! token's scopes.

use anyhow::Context;
use reqwest::Method;
use serde_json::json;
use switchyard_tests::*;

/// The AWS key pair (access key id, secret) of a new token with `scopes`.
async fn aws_keys(
    server: &TestServer,
    name: &str,
    scopes: &[&str],
) -> anyhow::Result<(String, String)> {
    let body = json!({"name": name, "scopes": scopes, "aws_keys": true}).to_string();
    let created = server.raw(Method::POST, "/v1/tokens", Some(&body)).await;
    anyhow::ensure!(
        created.status.is_success(),
        "POST /v1/tokens with aws_keys: {} {}",
        created.status,
        created.text
    );
    let field = |field: &str| {
        created
            .json
            .get(field)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "POST /v1/tokens with aws_keys answered no {field}: {}",
                    created.text
                )
            })
    };
    Ok((field("aws_access_key_id")?, field("aws_secret_access_key")?))
}

/// A new server and the environment a scenario signs with: the key of an `admin:*:*` token.
async fn server_and_admin_key() -> anyhow::Result<(TestServer, Vec<(&'static str, String)>)> {
    let server = TestServer::start().await?;
    let (id, secret) = aws_keys(&server, "sqs-admin", &["admin:*:*"]).await?;
    let envs = vec![("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)];
    Ok((server, envs))
}

/// Runs `tests/sqs/<scenario>.py` against a new server as an admin.
async fn scenario(scenario: &str) -> anyhow::Result<()> {
    let (server, envs) = server_and_admin_key().await?;
    run_sqs_scenario(scenario, server.url(), &envs).await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn queues_are_created_idempotently_listed_configured_purged_and_deleted() -> anyhow::Result<()>
{
    scenario("queues").await
}

#[tokio::test]
async fn messages_keep_their_body_and_typed_attributes_with_the_sqs_md5s() -> anyhow::Result<()> {
    scenario("messages").await
}

#[tokio::test]
async fn a_batch_fails_only_its_bad_entries_and_bad_batches_are_refused() -> anyhow::Result<()> {
    scenario("batches").await
}

#[tokio::test]
async fn a_long_poll_returns_a_message_sent_while_it_waits() -> anyhow::Result<()> {
    scenario("long_poll").await
}

#[tokio::test]
async fn a_message_not_deleted_comes_back_after_its_visibility_timeout() -> anyhow::Result<()> {
    scenario("visibility").await
}

#[tokio::test]
async fn a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue()
-> anyhow::Result<()> {
    scenario("dead_letters").await
}

#[tokio::test]
async fn errors_limits_and_credentials_answer_the_sqs_error_codes() -> anyhow::Result<()> {
    let (server, mut envs) = server_and_admin_key().await?;
    let (id, secret) = aws_keys(&server, "sqs-reader", &["read:queue:*"]).await?;
    envs.push(("SQS_READONLY_KEY_ID", id));
    envs.push(("SQS_READONLY_SECRET", secret));
    run_sqs_scenario("errors", server.url(), &envs).await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_aws_cli_creates_a_queue_sends_receives_and_deletes() -> anyhow::Result<()> {
    scenario("aws_cli").await
}
