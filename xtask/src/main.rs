//! `cargo xtask console` builds the web console into `target/console`; `cargo xtask serve`
//! builds it, then runs the server in release with it (`-- ARGS` go to `switchyard serve`).

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

fn main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.skip_while(|a| a == "--").collect();
    match task.as_str() {
        "console" => {
            let out = build()?;
            println!("console built in {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        "serve" => serve(build()?, &rest),
        _ => bail!(
            "usage: cargo xtask console          build the web console into target/console\n       \
             cargo xtask serve [-- ARGS]   build it, then run `switchyard serve ARGS` in release with it"
        ),
    }
}

/// The workspace's target directory (`CARGO_TARGET_DIR` or `target/`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| xtask::workspace_root().join("target"))
}

fn build() -> anyhow::Result<PathBuf> {
    let target = target_dir();
    let out = target.join("console");
    xtask::build_console(&target.join("console-wasm"), &out)?;
    Ok(out)
}

fn serve(console: PathBuf, args: &[String]) -> anyhow::Result<ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(xtask::workspace_root())
        .args([
            "run",
            "--release",
            "-p",
            "switchyard",
            "--",
            "serve",
            "--console-dir",
        ])
        .arg(&console)
        .args(args)
        .status()
        .context("cannot run cargo to start the server")?;
    Ok(ExitCode::from(status.code().unwrap_or(1) as u8))
}
