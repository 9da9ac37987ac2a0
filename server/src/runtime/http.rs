//! Outbound HTTP from plugins: `wasi:http` requests pass only to the consumer's
//! allow-list; every refusal is remembered for the invocation's log.

use std::sync::Arc;

use wasmtime_wasi_http::WasiHttpHooks;

/// Denies outbound HTTP to hosts off the allow-list and remembers each denial.
pub(super) struct HttpGate {
    allowed: Arc<Vec<String>>,
    /// Authorities refused so far, logged when the invocation ends.
    pub(super) denied: Vec<String>,
}

impl HttpGate {
    pub(super) fn new(allowed: Arc<Vec<String>>) -> Self {
        Self {
            allowed,
            denied: Vec::new(),
        }
    }

    fn allows(&self, authority: &str) -> bool {
        let authority = authority.to_ascii_lowercase();
        let name = match authority.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => authority.as_str(),
        };
        self.allowed.iter().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            entry == authority || entry == name
        })
    }
}

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        if self.allows(&authority) {
            return wasmtime_wasi_http::default_hooks().send_request(request, options, fut);
        }
        self.denied.push(authority);
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
