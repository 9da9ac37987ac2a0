//! The `switchyard` binary: `serve` runs the server; every other subcommand is a client.

fn main() -> std::process::ExitCode {
    switchyard::cli::main()
}
