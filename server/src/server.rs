//! Starting and stopping a whole server: storage, broker, housekeeping and the HTTP listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::access::{Access, AccessError, Bootstrap};
use crate::broker::{Broker, BrokerError};
use crate::config::Config;
use crate::dispatcher::{Dispatcher, DispatcherError};
use crate::runtime::{PluginError, Runtime, RuntimeConfig};

/// How long a shutdown waits for plugin invocations in flight before closing storage.
const DRAIN_INVOCATIONS: Duration = Duration::from_secs(30);

/// A running server.
pub struct Server {
    addr: SocketAddr,
    broker: Arc<Broker>,
    dispatcher: Arc<Dispatcher>,
    bootstrap: Option<Bootstrap>,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    http: JoinHandle<()>,
    housekeeping: Option<crate::broker::Housekeeper>,
    alarms: JoinHandle<()>,
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or database could not be opened or recovered.
    #[error("cannot open the data directory: {0}")]
    Broker(#[from] BrokerError),
    /// The WebAssembly runtime could not start.
    #[error("cannot start the plugin runtime: {0}")]
    Runtime(#[from] PluginError),
    /// Tokens could not be loaded, or the first admin token could not be made.
    #[error("cannot load the API tokens: {0}")]
    Access(#[from] AccessError),
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] crate::connections::TlsError),
    /// Alarms could not be loaded, or their topic made.
    #[error("cannot load the alarms: {0}")]
    Alarms(#[from] crate::alarms::AlarmError),
    /// Plugins or consumers could not be loaded.
    #[error("cannot load plugins and consumers: {0}")]
    Dispatcher(#[from] DispatcherError),
    /// The housekeeping thread could not start.
    #[error("cannot start housekeeping: {0}")]
    Housekeeping(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Opens the data directory, recovers the queues and starts serving on `config.listen`
/// (port 0 picks a free port; [`Server::addr`] tells which).
pub async fn start(config: Config) -> Result<Server, StartError> {
    let broker = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || Broker::open(&config))
            .await
            .expect("opening the broker does not panic")?
    };
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(crate::connections::tls_acceptor(cert, key)?),
        _ => None,
    };
    let (access, bootstrap) = Access::open(
        broker.storage().clone(),
        &config.data_dir,
        config.admin_token.as_ref().map(|t| t.0.as_str()),
        !config.insecure_no_auth,
        config.audit_max_entries,
    )
    .await?;
    let access = Arc::new(access);
    broker.resume_replays();
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let runtime = Arc::new(Runtime::new(RuntimeConfig {
        max_instances: config.max_plugin_instances,
        ..RuntimeConfig::default()
    })?);
    let dispatcher = Dispatcher::start(broker.clone(), runtime).await?;
    let housekeeping = crate::broker::Housekeeper::start(broker.clone())
        .map_err(|e| StartError::Housekeeping(e.to_string()))?;
    let alarms = crate::alarms::Alarms::open(broker.clone(), dispatcher.clone()).await?;
    let evaluator = tokio::spawn(alarms.clone().run());
    let app = crate::api::app(broker.clone(), dispatcher.clone(), access, alarms, &config);
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = crate::connections::Limits {
        max_connections: config.max_connections,
        header_timeout: std::time::Duration::from_millis(config.header_timeout_ms),
        tls,
    };
    let http = tokio::spawn(crate::connections::serve(listener, app, limits, stopped));
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "switchyard serving");
    Ok(Server {
        addr,
        broker,
        dispatcher,
        bootstrap,
        tls: config.tls_cert.is_some(),
        stop: Some(stop),
        http,
        housekeeping: Some(housekeeping),
        alarms: evaluator,
    })
}

impl Server {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, or `https://<addr>` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The first admin token, when this start made it (a data directory without tokens).
    pub fn bootstrap(&self) -> Option<&Bootstrap> {
        self.bootstrap.as_ref()
    }

    /// Stops accepting requests, lets requests in progress finish, then closes the database.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.dispatcher.shutdown();
        self.broker.begin_shutdown();
        let _ = (&mut self.http).await;
        if !self.dispatcher.drain(DRAIN_INVOCATIONS).await {
            tracing::warn!(
                "plugin invocations still running after {} s; closing storage without them \
                 (their messages are delivered again once their leases end)",
                DRAIN_INVOCATIONS.as_secs()
            );
        }
        self.broker.stop_replays().await;
        self.alarms.abort();
        let _ = (&mut self.alarms).await;
        if let Some(housekeeping) = self.housekeeping.take() {
            tokio::task::spawn_blocking(move || housekeeping.stop())
                .await
                .expect("stopping housekeeping does not panic");
        }
        let broker = self.broker.clone();
        tokio::task::spawn_blocking(move || broker.close())
            .await
            .expect("closing the broker does not panic");
    }

    /// Serves until Ctrl-C or SIGTERM, or until storage stops taking writes, then shuts
    /// down gracefully. Returns why storage failed, if it did (the binary then exits with
    /// an error, for its supervisor to restart it).
    pub async fn run_until_signal(self) -> Option<String> {
        let health = self.broker.storage().health().clone();
        let failure = tokio::select! {
            () = shutdown_signal() => None,
            reason = health.failed() => Some(reason),
        };
        match &failure {
            None => tracing::info!("shutting down"),
            Some(reason) => {
                tracing::error!(%reason, "storage stopped taking writes; shutting down");
            }
        }
        self.shutdown().await;
        failure
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
