//! Switchyard's web console: a Leptos app rendered in the browser, served by the server at
//! `/`. It speaks only the public REST API (`/v1`), with the wire types of
//! `switchyard-client`, so everything it does a script can do too, as the token it was given
//! and with no more rights than that token.

// `#[component]` expands to items that are `pub` inside this private binary crate.
#![allow(unreachable_pub)]

mod alarm_banner;
mod api;
mod app;
mod fields;
mod format;
mod pages;
mod permit;
mod session;
mod widgets;

fn main() {
    leptos::mount::mount_to_body(app::App);
}
