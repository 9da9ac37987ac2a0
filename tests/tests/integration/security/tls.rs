//! TLS: with a certificate and key configured the server speaks HTTPS only, and a
//! certificate it cannot use stops it at start, naming the file.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use switchyard_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// A self-signed certificate for 127.0.0.1 and its key, made by Debian's openssl.
fn self_signed(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=switchyard-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .context("running openssl (apt-get install -y openssl)")?;
    anyhow::ensure!(made.status.success(), "openssl failed: {made:?}");
    Ok((cert, key))
}

#[tokio::test]
async fn with_a_certificate_the_server_speaks_https_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (cert, key) = self_signed(dir.path())?;
    let server = TestServer::start_with(|config| {
        config.tls_cert = Some(cert.clone());
        config.tls_key = Some(key.clone());
    })
    .await?;
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let addr = server.url().trim_start_matches("https://").to_string();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(&cert)?)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(&addr).await?;
    let mut tls = connector
        .connect(ServerName::try_from("127.0.0.1")?, tcp)
        .await
        .context("the TLS handshake")?;
    let request = format!(
        "GET /v1/whoami HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tls.read_to_end(&mut answer)).await?;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""name":"admin""#), "{answer}");

    // Plain HTTP on the same port gets no HTTP answer.
    let mut plain = TcpStream::connect(&addr).await?;
    plain
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, plain.read_to_end(&mut reply)).await?;
    assert!(
        !String::from_utf8_lossy(&reply).contains("200 OK"),
        "plain HTTP was served"
    );
    Ok(())
}

#[tokio::test]
async fn a_certificate_the_server_cannot_use_stops_it_at_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let not_pem = dir.path().join("cert.pem");
    std::fs::write(&not_pem, "not a certificate")?;
    let result = TestServer::start_with(|config| {
        config.tls_cert = Some(not_pem.clone());
        config.tls_key = Some(not_pem.clone());
    })
    .await;
    let error = format!("{:#}", result.err().context("the server started")?);
    assert!(error.contains("cert.pem"), "{error}");
    Ok(())
}
