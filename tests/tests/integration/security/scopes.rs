//! What each scope allows, and that nothing else gets through: anonymous and unscoped calls
//! on every route of the router, each action kind allowed and refused, glob edges, lists
//! narrowed to what the token may read.

use reqwest::Method;
use serde_json::json;
use switchyard::api::Target;
use switchyard_client::{Action, CreateQueue, Kind, ReceiveRequest};
use switchyard_tests::*;

use super::{call, concrete, scoped};

#[tokio::test]
async fn every_route_refuses_an_anonymous_caller_and_changes_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.client.create_topic("t").await?;
    server.client.create_queue(&queue("q")).await?;
    let before = snapshot(&server.client).await?;
    let routes = switchyard::api::routes();
    assert!(routes.len() > 40, "only {} routes listed", routes.len());
    let mut wrong = Vec::new();
    for route in &routes {
        for value in ["t", "q", "x"] {
            let path = concrete(&route.path, value);
            for token in [None, Some("sy_not-a-token-the-server-made")] {
                let answer = call(&server, token, &route.method, &path).await;
                if (answer.status.as_u16(), answer.error_code()) != (401, Some("unauthenticated")) {
                    wrong.push(format!(
                        "{} {path}: {} {}",
                        route.method, answer.status, answer.text
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused as unauthenticated:\n{}",
        wrong.join("\n")
    );
    assert_eq!(snapshot(&server.client).await?, before);
    Ok(())
}

#[tokio::test]
async fn every_route_refuses_a_token_without_its_scope_and_names_the_scope() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.client.create_topic("t").await?;
    server.client.create_queue(&queue("q")).await?;
    let before = snapshot(&server.client).await?;
    // Allowed to publish to one topic that none of the paths below names.
    let (_, token) = scoped(&server, &["publish:topic:only-this"]).await?;
    let mut wrong = Vec::new();
    let mut checked = 0;
    for route in switchyard::api::routes() {
        if route.need.target == Target::Nothing {
            continue; // whoami: any live token
        }
        for value in ["t", "q", "x"] {
            let path = concrete(&route.path, value);
            let answer = call(&server, Some(&token), &route.method, &path).await;
            let message = answer
                .json
                .pointer("/error/message")
                .and_then(|m| m.as_str());
            let named = message.is_some_and(|m| m.contains("needs the scope "));
            if (answer.status.as_u16(), answer.error_code()) != (403, Some("forbidden")) || !named {
                wrong.push(format!(
                    "{} {path}: {} {}",
                    route.method, answer.status, answer.text
                ));
            }
            checked += 1;
        }
    }
    assert!(checked > 100);
    assert!(
        wrong.is_empty(),
        "not refused as forbidden:\n{}",
        wrong.join("\n")
    );
    assert_eq!(snapshot(&server.client).await?, before);
    Ok(())
}

#[tokio::test]
async fn manage_scopes_follow_their_name_globs() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let (mail, _) = scoped(&server, &["manage:queue:mail-*"]).await?;
    mail.create_queue(&queue("mail-eu")).await?;
    mail.create_queue(&queue("mail-")).await?;
    for name in ["mail", "xmail-eu", "Mail-eu", "other"] {
        let message = assert_api_error(mail.create_queue(&queue(name)).await, 403, "forbidden");
        assert!(
            message.contains(&format!("manage:queue:{name}")),
            "{message}"
        );
    }
    // A dead-letter queue outside the glob is a queue the token may not write into.
    server.client.create_queue(&queue("other")).await?;
    let with_dlq = CreateQueue {
        name: "mail-us".into(),
        dead_letter_queue: Some("other".into()),
        ..CreateQueue::default()
    };
    let message = assert_api_error(mail.create_queue(&with_dlq).await, 403, "forbidden");
    assert!(message.contains("manage:queue:other"), "{message}");
    assert_api_error(mail.purge("other").await, 403, "forbidden");
    assert_api_error(mail.delete_queue("other").await, 403, "forbidden");
    assert_api_error(mail.create_topic("mail-eu").await, 403, "forbidden");
    mail.purge("mail-eu").await?;
    mail.delete_queue("mail-").await?;
    let names: Vec<String> = server
        .client
        .list_queues()
        .await?
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert_eq!(names, ["mail-eu", "other"]);
    Ok(())
}

#[tokio::test]
async fn a_subscription_needs_manage_on_both_its_topic_and_its_queue() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.client.create_topic("signups").await?;
    server.client.create_queue(&queue("mail")).await?;
    let (topic_only, _) = scoped(&server, &["manage:topic:signups"]).await?;
    let message = assert_api_error(
        topic_only.subscribe("signups", "mail", None).await,
        403,
        "forbidden",
    );
    assert!(message.contains("manage:queue:mail"), "{message}");
    let (both, _) = scoped(&server, &["manage:topic:signups", "manage:queue:mail"]).await?;
    let subscription = both.subscribe("signups", "mail", None).await?;
    assert_api_error(
        topic_only.delete_subscription(&subscription.id).await,
        403,
        "forbidden",
    );
    both.delete_subscription(&subscription.id).await?;
    assert!(server.client.list_subscriptions().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn publish_consume_and_read_tokens_do_only_that() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    for topic in ["signups", "signups2"] {
        server.client.create_topic(topic).await?;
    }
    for name in ["mail-eu", "billing"] {
        server.client.create_queue(&queue(name)).await?;
        server.client.subscribe("signups", name, None).await?;
    }
    let (publisher, _) = scoped(&server, &["publish:topic:signups"]).await?;
    publisher
        .publish("signups", &json_message(json!({"n": 1})))
        .await?;
    assert_api_error(
        publisher.publish("signups2", &json_message(json!(2))).await,
        403,
        "forbidden",
    );
    assert_api_error(
        publisher.send("mail-eu", &json_message(json!(3))).await,
        403,
        "forbidden",
    );
    assert_api_error(publisher.list_topics().await, 403, "forbidden");

    let (consumer, _) = scoped(&server, &["consume:queue:mail-*"]).await?;
    let request = ReceiveRequest {
        max_messages: Some(10),
        ..ReceiveRequest::default()
    };
    let received = consumer.receive("mail-eu", &request).await?;
    assert_eq!(received.len(), 1);
    let receipt = received[0].receipt.clone().expect("a receipt");
    assert_api_error(
        consumer.receive("billing", &request).await,
        403,
        "forbidden",
    );
    assert_api_error(
        consumer.ack("billing", vec![receipt.clone()]).await,
        403,
        "forbidden",
    );
    assert_api_error(
        consumer.publish("signups", &json_message(json!(4))).await,
        403,
        "forbidden",
    );
    assert_eq!(consumer.ack("mail-eu", vec![receipt]).await?.acked, 1);

    let (reader, _) = scoped(&server, &["read:queue:mail-*", "read:topic:*"]).await?;
    let queues: Vec<String> = reader
        .list_queues()
        .await?
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert_eq!(queues, ["mail-eu"], "only the queues it may read");
    // Theirs and the server's own `switchyard.alarms`.
    assert_eq!(reader.list_topics().await?.len(), 3);
    assert_eq!(reader.peek("mail-eu", 10, None).await?.len(), 0);
    assert_api_error(reader.peek("billing", 10, None).await, 403, "forbidden");
    assert_api_error(reader.receive("mail-eu", &request).await, 403, "forbidden");
    assert_api_error(reader.create_topic("new").await, 403, "forbidden");
    assert_api_error(reader.list_tokens().await, 403, "forbidden");
    // Metrics need a read scope, and no token at all is refused.
    reader.metrics().await?;
    assert!(
        switchyard_client::Client::new(server.url())
            .metrics()
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn deploying_needs_deploy_on_the_plugin_and_the_consumer_and_consume_on_its_queue()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.client.create_queue(&queue("jobs")).await?;
    let wasm = plugin_wasm("ack-all")?;
    let (deployer, _) = scoped(&server, &["deploy:plugin:ack-*", "deploy:consumer:team-*"]).await?;
    let error = deployer.deploy_plugin("other", wasm.clone(), true).await;
    assert_api_error(error, 403, "forbidden");
    deployer.deploy_plugin("ack-all", wasm, true).await?;
    let create = switchyard_client::CreateConsumer {
        name: "team-jobs".into(),
        queue: "jobs".into(),
        plugin: "ack-all".into(),
        ..Default::default()
    };
    let message = assert_api_error(deployer.create_consumer(&create).await, 403, "forbidden");
    assert!(message.contains("consume:queue:jobs"), "{message}");
    let (full, _) = scoped(
        &server,
        &[
            "deploy:plugin:ack-*",
            "deploy:consumer:team-*",
            "consume:queue:jobs",
        ],
    )
    .await?;
    full.create_consumer(&create).await?;
    let renamed = switchyard_client::CreateConsumer {
        name: "other-jobs".into(),
        ..create
    };
    assert_api_error(full.create_consumer(&renamed).await, 403, "forbidden");
    assert_eq!(server.client.list_consumers().await?.len(), 1);
    Ok(())
}

#[test]
fn every_declared_route_needs_something_of_a_token() {
    for route in switchyard::api::routes() {
        match route.need.target {
            Target::Nothing => assert_eq!(route.path, "/v1/whoami"),
            Target::FullAdmin => assert!(
                route.path.starts_with("/v1/tokens") || route.path == "/v1/audit",
                "{}",
                route.path
            ),
            Target::Path(_) | Target::Some => {}
        }
        if route.method != Method::GET && route.need.action == Action::Read {
            // Only previews and dry runs read with another method.
            assert!(
                route.path.ends_with("/preview") || route.path.ends_with("/validate"),
                "{} {} needs only read",
                route.method,
                route.path
            );
        }
        assert!(
            route.need.kind != Kind::Any
                || route.path == "/metrics"
                || route.need.action == Action::Admin
                || route.need.target == Target::Nothing
        );
    }
}
