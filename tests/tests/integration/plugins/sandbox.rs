//! What a plugin can reach: only the imports of its world (no filesystem, sockets or name
//! lookup, refused at upload by name), and over HTTP only the origins on its consumer's
//! `allowed_hosts`, never a non-global address that an allowed name resolves to unless that
//! address is listed too; the connection goes to the address checked.

use serde_json::json;
use switchyard_client::PatchConsumer;
use switchyard_tests::*;
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use wasm_encoder::{Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection};

use super::{consume, deploy, wait_consumer, wait_ready, wire};

/// A component that imports the (empty) instance `name` and nothing else.
fn importing(name: &str) -> Vec<u8> {
    let mut types = ComponentTypeSection::new();
    types.instance(&wasm_encoder::InstanceType::new());
    let mut imports = ComponentImportSection::new();
    imports.import(name, ComponentTypeRef::Instance(0));
    let mut component = Component::new();
    component.section(&types).section(&imports);
    component.finish()
}

#[tokio::test]
async fn components_importing_the_filesystem_or_sockets_are_refused_naming_the_import()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    for name in [
        "wasi:sockets/ip-name-lookup@0.2.0",
        "wasi:sockets/tcp@0.2.6",
        "wasi:filesystem/preopens@0.2.0",
    ] {
        let refused = client.deploy_plugin("bad", importing(name), true).await;
        let message = assert_api_error(refused, 400, "wrong_world");
        assert!(message.contains(&format!("imports {name}")), "{message}");
    }
    assert_api_error(client.get_plugin("bad").await, 404, "plugin_not_found");
    // The example plugins import only what the world offers (the HTTP ones included).
    for example in ["ack-all", "mailing-list", "faulty"] {
        deploy(client, example, example).await?;
    }
    Ok(())
}

#[tokio::test]
async fn allowed_hosts_entries_name_their_scheme() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    wire(client, "events", "work", None).await?;
    deploy(client, "p", "ack-all").await?;
    for (entry, hint) in [
        ("api.example.com", "write https://api.example.com"),
        ("127.0.0.1:8080", "write https://127.0.0.1:8080"),
        ("https://api.example.com/v1", "no path"),
        ("https://user@api.example.com", "no user info"),
        ("ftp://api.example.com", "http:// or https://"),
        ("http://[::1", "IPv6 address in brackets"),
    ] {
        let refused = consume(client, "c", "work", "p", |c| {
            c.allowed_hosts = vec![entry.into()];
        })
        .await;
        let message = assert_api_error(refused, 400, "invalid_setting");
        assert!(message.contains(hint), "{entry}: {message}");
    }
    let written = vec![
        "HTTPS://API.example.com".to_string(),
        "http://[::1]:8080".into(),
    ];
    let created = consume(client, "c", "work", "p", |c| {
        c.allowed_hosts = written.clone();
    })
    .await?;
    assert_eq!(created.allowed_hosts, written, "kept as written");
    let bare = PatchConsumer {
        allowed_hosts: Some(vec!["api.example.com".into()]),
        ..PatchConsumer::default()
    };
    let refused = client.patch_consumer("c", &bare).await;
    assert_api_error(refused, 400, "invalid_setting");
    assert_eq!(client.get_consumer("c").await?.allowed_hosts, written);
    Ok(())
}

#[tokio::test]
async fn an_allowed_name_resolving_to_loopback_is_refused_unless_the_address_is_listed()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let sink = HttpSink::start(vec![]).await?;
    let port = sink.port();
    wire(client, "named", "named", Some(1)).await?;
    wire(client, "pinned", "pinned", Some(1)).await?;
    deploy(client, "faulty", "faulty").await?;
    let by_name = format!("http://localhost:{port}");
    consume(client, "named", "named", "faulty", |c| {
        c.allowed_hosts = vec![by_name.clone()];
    })
    .await?;
    consume(client, "pinned", "pinned", "faulty", |c| {
        c.allowed_hosts = vec![
            by_name.clone(),
            sink.origin(),
            format!("http://[::1]:{port}"),
        ];
    })
    .await?;
    let request = json!({ "mode": "forbidden-http", "url": format!("{by_name}/hook") });
    client
        .publish("named", &json_message(request.clone()))
        .await?;
    client.publish("pinned", &json_message(request)).await?;

    wait_consumer(client, "pinned", "the listed address's ack", |c| {
        c.stats.acked == 1
    })
    .await?;
    let dead = wait_ready(client, "named-dlq", 1).await?;
    let reason = &dead[0].dead_letter.as_ref().expect("a dead letter").reason;
    assert!(reason.contains("http_denied"), "{reason}");
    let logs = client.consumer_logs("named", None).await?;
    assert!(
        logs.iter().any(|l| l.level == "error"
            && l.text.contains(&by_name)
            && l.text
                .contains("localhost resolves to 127.0.0.1, a loopback address")),
        "the denial is logged with its reason: {logs:?}"
    );
    let requests = sink.requests();
    assert_eq!(
        requests.len(),
        1,
        "only the pinned consumer reached the sink"
    );
    let host = requests[0].headers.iter().find(|(name, _)| name == "host");
    assert_eq!(
        host.map(|(_, value)| value.as_str()),
        Some(format!("localhost:{port}").as_str()),
        "the request keeps the name it was sent to"
    );
    Ok(())
}

#[tokio::test]
async fn https_to_an_allowed_name_goes_to_the_checked_address_with_the_name_for_tls()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    // A TLS server that only reads each ClientHello and reports the server name it asks for.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (hello, mut hellos) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = rustls::server::Acceptor::default();
            if let Ok(start) = tokio_rustls::LazyConfigAcceptor::new(acceptor, tcp).await {
                let name = start.client_hello().server_name().map(str::to_string);
                let _ = hello.send(name);
            }
        }
    });
    wire(client, "tls", "tls", Some(1)).await?;
    deploy(client, "faulty", "faulty").await?;
    consume(client, "tls", "tls", "faulty", |c| {
        c.allowed_hosts = vec![
            format!("https://localhost:{port}"),
            format!("https://127.0.0.1:{port}"),
            format!("https://[::1]:{port}"),
        ];
    })
    .await?;
    let url = format!("https://localhost:{port}/x");
    client
        .publish(
            "tls",
            &json_message(json!({ "mode": "forbidden-http", "url": url })),
        )
        .await?;
    let name = tokio::time::timeout(PATIENCE, hellos.recv())
        .await?
        .expect("the listener runs");
    assert_eq!(name.as_deref(), Some("localhost"));
    Ok(())
}
