//! `switchyard-client`: the wire types of Switchyard's REST API and a typed HTTP client over
//! them. The CLI, the console and the tests use this one definition of the protocol.
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchyard_client::ClientError> {
//! use switchyard_client::{Client, PublishMessage, ReceiveRequest};
//!
//! let client = Client::new("http://127.0.0.1:7700");
//! client.create_topic("signups").await?;
//! client.create_queue(&switchyard_client::CreateQueue { name: "mail".into(), ..Default::default() }).await?;
//! client.subscribe("signups", "mail", None).await?;
//! let message = PublishMessage::json(&serde_json::json!({"email": "a@example.com"})).unwrap();
//! let id = client.publish("signups", &message).await?;
//! let received = client
//!     .receive("mail", &ReceiveRequest { max_messages: Some(10), wait_ms: Some(1000), ..Default::default() })
//!     .await?;
//! let receipts = received.iter().filter_map(|m| m.receipt.clone()).collect();
//! client.ack("mail", receipts).await?;
//! # let _ = id; Ok(()) }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "http")]
mod archive;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod monitor;
#[cfg(feature = "http")]
mod plugins;
mod wire;

#[cfg(feature = "http")]
pub use http::*;
pub use wire::*;
