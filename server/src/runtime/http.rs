//! Outbound HTTP from plugins: a `wasi:http` request passes only to an origin on the
//! consumer's allow-list (the grammar and matching are `switchyard_sdk::allow`'s), and an
//! allowed name only when every address it resolves to is global or listed itself. The gate
//! resolves the name, checks the addresses and connects to a checked one ([`connect`]), so
//! the name cannot resolve elsewhere between the check and the connection. Every refusal is
//! remembered, with its reason, for the invocation's log.

mod connect;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use switchyard_sdk::allow::{AllowList, Host, Origin, Refusal};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// What the `wasi:http` hooks return: the response and the connection's I/O to drive.
type Sent = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
)>;

/// How long resolving and connecting may take when the guest sets no connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Denies outbound HTTP off the allow-list and remembers each denial.
pub(super) struct HttpGate {
    allowed: Arc<Vec<String>>,
    /// The invocation's deadline: no request's timeouts reach past it.
    deadline: tokio::time::Instant,
    /// Requests refused so far, logged when the invocation ends.
    pub(super) denied: Denials,
}

impl HttpGate {
    pub(super) fn new(allowed: Arc<Vec<String>>, deadline: tokio::time::Instant) -> Self {
        Self {
            allowed,
            deadline,
            denied: Denials::default(),
        }
    }
}

/// The requests an invocation was refused. Shared with the requests in flight (a name is
/// refused once resolved); iterating takes them.
#[derive(Clone, Default)]
pub(super) struct Denials(Arc<Mutex<Vec<Denial>>>);

impl Denials {
    fn push(&self, denial: Denial) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(denial);
    }
}

impl IntoIterator for Denials {
    type Item = Denial;
    type IntoIter = std::vec::IntoIter<Denial>;

    fn into_iter(self) -> Self::IntoIter {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_iter()
    }
}

/// One refused request: where it was going (as the plugin wrote it) and, for an allowed
/// name, the address that was not.
pub(super) struct Denial {
    target: String,
    resolved: Option<Refusal>,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.target)?;
        if let Some(refusal) = &self.resolved {
            write!(
                f,
                " ({} resolves to {}, {})",
                refusal.name, refusal.address, refusal.class
            )?;
        }
        Ok(())
    }
}

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let uri = request.uri();
        let (scheme, authority) = (
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map_or("", |a| a.as_str()),
        );
        let target = format!("{scheme}://{authority}");
        let allowed = AllowList::from_stored(&self.allowed);
        let origin = Origin::parse(scheme, authority)
            .ok()
            .filter(|origin| allowed.allows(origin));
        let Some(origin) = origin else {
            self.denied.push(Denial {
                target,
                resolved: None,
            });
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        let denied = self.denied.clone();
        let options = Some(within_deadline(options, self.deadline));
        let timeout = options
            .and_then(|o| o.connect_timeout)
            .unwrap_or(CONNECT_TIMEOUT);
        Box::new(async move {
            let addresses = match &origin.host {
                Host::Ip(ip) => vec![SocketAddr::new(*ip, origin.port)],
                Host::Name(name) => {
                    let addresses = resolve(name, origin.port, timeout).await?;
                    let ips = addresses.iter().map(SocketAddr::ip);
                    if let Err(refusal) = allowed.check_resolved(&origin, ips) {
                        denied.push(Denial {
                            target,
                            resolved: Some(refusal),
                        });
                        return Err(Error::HttpRequestDenied);
                    }
                    addresses
                }
            };
            connect::send(request, &origin, &addresses, options).await
        })
    }
}

/// Every address `name` resolves to.
/// The guest's timeouts (the library's defaults where it set none; resolving and connecting
/// [`CONNECT_TIMEOUT`]), each cut to the time left before the invocation's deadline, so a
/// host that never answers cannot hold a connection past the invocation.
fn within_deadline(
    options: Option<RequestOptions>,
    deadline: tokio::time::Instant,
) -> RequestOptions {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let cap = |set: Option<Duration>, default: Duration| Some(set.unwrap_or(default).min(left));
    let options = options.unwrap_or_default();
    RequestOptions {
        connect_timeout: cap(options.connect_timeout, CONNECT_TIMEOUT),
        first_byte_timeout: cap(options.first_byte_timeout, connect::DEFAULT_TIMEOUT),
        between_bytes_timeout: cap(options.between_bytes_timeout, connect::DEFAULT_TIMEOUT),
    }
}

async fn resolve(name: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, Error> {
    let dns_error = |rcode: String| Error::DnsError {
        rcode: Some(rcode),
        info_code: None,
    };
    let addresses = tokio::time::timeout(timeout, tokio::net::lookup_host((name, port)))
        .await
        .map_err(|_| Error::DnsTimeout)?
        .map_err(|e| dns_error(e.to_string()))?
        .collect::<Vec<_>>();
    if addresses.is_empty() {
        return Err(dns_error(format!("{name} has no address")));
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn request_timeouts_never_reach_past_the_deadline() {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
        let capped = within_deadline(None, deadline);
        for timeout in [
            capped.connect_timeout,
            capped.first_byte_timeout,
            capped.between_bytes_timeout,
        ] {
            assert!(timeout.unwrap() <= Duration::from_millis(500), "{capped:?}");
        }
        let short = RequestOptions {
            first_byte_timeout: Some(Duration::from_millis(10)),
            ..RequestOptions::default()
        };
        let capped = within_deadline(Some(short), deadline);
        assert_eq!(capped.first_byte_timeout, Some(Duration::from_millis(10)));
    }

    #[test]
    fn denials_name_the_target_and_the_address_refused_and_are_taken_once() {
        let denials = Denials::default();
        let in_flight = denials.clone();
        denials.push(Denial {
            target: "https://evil.example".into(),
            resolved: None,
        });
        in_flight.push(Denial {
            target: "http://localhost:8080".into(),
            resolved: Some(Refusal {
                name: "localhost".into(),
                address: "127.0.0.1".parse().expect("an address"),
                class: "a loopback address",
            }),
        });
        let shown: Vec<String> = denials.clone().into_iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            [
                "https://evil.example",
                "http://localhost:8080 (localhost resolves to 127.0.0.1, a loopback address)"
            ]
        );
        assert_eq!(denials.into_iter().count(), 0);
    }
}
