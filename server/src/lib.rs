//! Switchyard: a self-hosted event bus. Topics fan out to durable queues kept in redb.
//!
//! Layers, one direction of flow: [`api`] (HTTP) → [`broker`] (the rules) → [`storage`]
//! (redb, one writer thread with group commit). [`access`] decides who may do what.
//! [`cli`] is a client of the REST API.

pub mod access;
pub mod alarms;
pub mod api;
pub mod broker;
pub mod cli;
pub mod config;
pub mod connections;
pub mod dispatcher;
#[doc(hidden)]
pub mod fuzzing;
pub mod runtime;
pub mod server;
pub mod storage;

pub use config::Config;
pub use server::{Server, StartError, start};

/// Many small allocations per request (JSON, messages, B-tree pages): mimalloc handles them
/// with less contention than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
