//! Switchyard's integration tests: the real server over real HTTP, through the harness in
//! `switchyard_tests`. One binary; one module per area of behaviour.

mod alarms;
mod archive;
mod bad_input;
mod cli;
mod console;
mod crash;
mod dead_letter_collisions;
mod dead_letters;
mod delays;
mod fairness;
mod fanout;
mod history;
mod leases;
mod monitor;
mod ordering;
mod plugins;
mod queue_retention;
mod redrive;
mod resources;
mod restart;
mod security;
mod sqs;
mod torture;

/// The real server binary, built by this crate, for tests that need a child process.
const SERVER_BIN: &str = env!("CARGO_BIN_EXE_switchyard-under-test");
