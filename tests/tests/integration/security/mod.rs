//! Security: every `/v1` route refuses anonymous callers and tokens without the scope it
//! needs (the list of routes comes from the router itself), scoped tokens do what their
//! scopes say and nothing more, tokens are revoked and expire at once, the first admin token
//! comes from the environment or a private file, quotas refuse with 429 and store nothing,
//! changes are audited, and the HTTP edge refuses cross-site, wrong-host, half-sent and
//! flooding requests.

mod edge;
mod scopes;
mod secrets;
mod tls;
mod tokens;

use reqwest::Method;
use switchyard_client::{Client, CreateToken};
use switchyard_tests::*;

/// A token with `scopes`, made by the harness's admin; returns a client that uses it and
/// its secret.
async fn scoped(server: &TestServer, scopes: &[&str]) -> anyhow::Result<(Client, String)> {
    let created = server
        .client
        .create_token(&CreateToken {
            name: format!("scoped {}", scopes.join(" ")),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .await?;
    let client = Client::new(server.url()).with_token(&created.token);
    Ok((client, created.token))
}

/// A path of the router's with every `{param}` filled in with `value`.
fn concrete(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closing brace") + start;
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A raw request with `token` (or none) and a JSON body for methods that take one.
async fn call(
    server: &TestServer,
    token: Option<&str>,
    method: &Method,
    path: &str,
) -> RawResponse {
    let body = (*method != Method::GET && *method != Method::DELETE).then_some("{}");
    let raw = Raw {
        body,
        token,
        ..Raw::default()
    };
    raw_request_with(server.url(), method.clone(), path, raw).await
}
