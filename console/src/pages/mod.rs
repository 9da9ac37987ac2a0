//! One module per page of the console.

mod audit;
mod login;
mod message;
mod monitor;
mod overview;
mod plugins;
mod queue;
mod queue_settings;
mod tokens;
mod wiring;

pub(crate) use audit::AuditPage;
pub(crate) use login::LoginPage;
pub(crate) use message::MessagePage;
pub(crate) use monitor::MonitorPage;
pub(crate) use overview::Overview;
pub(crate) use plugins::PluginsPage;
pub(crate) use queue::{QueueList, QueuePage};
pub(crate) use tokens::TokensPage;
pub(crate) use wiring::WiringPage;
