//! Sends one request to addresses the gate checked: TCP to the first that answers, TLS for
//! `https` with the request's host as the server name, then HTTP/1.1. It follows
//! wasmtime-wasi-http's `default_send_request` (same timeouts and errors), which resolves
//! the authority itself and so cannot be held to checked addresses.

use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use switchyard_sdk::allow::{Host, Origin, Scheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::Sent;

/// wasmtime-wasi-http's default for each timeout the guest leaves unset.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T> Stream for T where T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}

/// Sends `request` to `origin` over a connection to one of `addresses`.
pub(super) async fn send(
    mut request: http::Request<WasiBody>,
    origin: &Origin,
    addresses: &[SocketAddr],
    options: Option<RequestOptions>,
) -> Sent {
    let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
        options.as_ref().and_then(pick).unwrap_or(DEFAULT_TIMEOUT)
    };
    let connect_timeout = timeout(|o| o.connect_timeout);
    let first_byte_timeout = timeout(|o| o.first_byte_timeout);
    let between_bytes_timeout = timeout(|o| o.between_bytes_timeout);

    let tcp = tokio::time::timeout(connect_timeout, connect_any(addresses))
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    let stream: Box<dyn Stream> = match origin.scheme {
        Scheme::Http => Box::new(tcp),
        Scheme::Https => {
            let name = match &origin.host {
                Host::Name(name) => ServerName::try_from(name.clone())?,
                Host::Ip(ip) => ServerName::from(*ip),
            };
            let tls = tokio_rustls::TlsConnector::from(tls_config()?)
                .connect(name, tcp)
                .await
                .map_err(Error::Tls)?;
            Box::new(tls)
        }
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;

    // The request line carries only the path: the host is in the Host header.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;

    let send = async move {
        let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)??;
        // tokio panics on a zero interval.
        let mut between = tokio::time::interval(between_bytes_timeout.max(Duration::from_nanos(1)));
        between.reset();
        Ok::<_, Error>(response.map(|incoming| TimedBody { incoming, between }.boxed_unsync()))
    };
    // Drive the connection while waiting for the response.
    let mut send = pin!(send);
    let mut conn = Some(conn);
    let response = std::future::poll_fn(|cx| {
        if let Poll::Ready(response) = send.as_mut().poll(cx) {
            return Poll::Ready(response);
        }
        let Some(running) = conn.as_mut() else {
            return Poll::Pending;
        };
        let finished = ready!(Pin::new(running).poll(cx));
        conn = None;
        match finished {
            Ok(()) => send.as_mut().poll(cx),
            Err(error) => Poll::Ready(Err(Error::from(error))),
        }
    })
    .await?;
    let io = async move {
        match conn {
            Some(conn) => conn.await.map_err(|error| {
                if error.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(error)
                }
            }),
            None => Ok(()),
        }
    };
    Ok((response, Box::new(io)))
}

/// A TCP connection to the first of `addresses` that accepts one.
async fn connect_any(addresses: &[SocketAddr]) -> Result<TcpStream, Error> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Some(error),
        }
    }
    Err(Error::Connect(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to")
    })))
}

/// The client TLS settings: the webpki roots, ring, TLS 1.2 and 1.3.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InternalError(Some(e.to_string())))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// A response body that fails when the next frame takes longer than `between`.
struct TimedBody {
    incoming: Incoming,
    between: tokio::time::Interval,
}

impl Body for TimedBody {
    type Data = <Incoming as Body>::Data;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(error))) if error.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(Error::from(error)))),
            Poll::Ready(Some(Ok(frame))) => {
                self.between.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.between.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
