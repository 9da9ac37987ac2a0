//! Starting and stopping a whole server: storage, broker, housekeeping and the HTTP listener.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::broker::{Broker, BrokerError};
use crate::config::Config;
use crate::dispatcher::{Dispatcher, DispatcherError};
use crate::runtime::{PluginError, Runtime, RuntimeConfig};

/// A running server.
pub struct Server {
    addr: SocketAddr,
    broker: Arc<Broker>,
    dispatcher: Arc<Dispatcher>,
    stop: Option<oneshot::Sender<()>>,
    http: JoinHandle<()>,
    housekeeping: JoinHandle<()>,
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
    /// Plugins or consumers could not be loaded.
    #[error("cannot load plugins and consumers: {0}")]
    Dispatcher(#[from] DispatcherError),
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
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default())?);
    let dispatcher = Dispatcher::start(broker.clone(), runtime).await?;
    let housekeeping = tokio::spawn(crate::broker::housekeeping(broker.clone()));
    let app = crate::api::app(broker.clone(), dispatcher.clone(), &config);
    let (stop, stopped) = oneshot::channel::<()>();
    let http = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "http server stopped");
        }
    });
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "switchyard serving");
    Ok(Server {
        addr,
        broker,
        dispatcher,
        stop: Some(stop),
        http,
        housekeeping,
    })
}

impl Server {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets requests in progress finish, then closes the database.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.dispatcher.shutdown();
        self.broker.begin_shutdown();
        let _ = (&mut self.http).await;
        self.broker.stop_replays().await;
        self.housekeeping.abort();
        let _ = (&mut self.housekeeping).await;
        let broker = self.broker.clone();
        tokio::task::spawn_blocking(move || broker.close())
            .await
            .expect("closing the broker does not panic");
    }

    /// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
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
