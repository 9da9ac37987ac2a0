//! One module per page of the console.

mod message;
mod overview;
mod plugins;
mod queue;
mod queue_settings;
mod wiring;

pub(crate) use message::MessagePage;
pub(crate) use overview::Overview;
pub(crate) use plugins::PluginsPage;
pub(crate) use queue::{QueueList, QueuePage};
pub(crate) use wiring::WiringPage;
