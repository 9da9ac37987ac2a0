//! The real `switchyard` binary, built inside the test crate so integration tests can spawn
//! it (`env!("CARGO_BIN_EXE_switchyard-under-test")`) as a child process they may `kill -9`.

fn main() -> std::process::ExitCode {
    switchyard::cli::main()
}
