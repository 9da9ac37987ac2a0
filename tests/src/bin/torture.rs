//! `torture`: a long torture run against the server binary built next to it (see
//! `switchyard_tests::torture`). Prints the report; exits non-zero when a promise broke.
//!
//! `cargo run -p switchyard-tests --bin torture -- --seconds 300 --kills 20`

use anyhow::{Context, bail};
use switchyard_tests::torture::{Options, run};

fn flag(args: &[String], name: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(at) => args
            .get(at + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin = std::env::current_exe()?
        .parent()
        .context("the binary's folder")?
        .join("switchyard-under-test");
    if !bin.exists() {
        bail!(
            "{} is missing: build it with `cargo build -p switchyard-tests --bins`",
            bin.display()
        );
    }
    let options = Options {
        seconds: flag(&args, "--seconds", 120)?,
        kills: flag(&args, "--kills", 10)? as u32,
        publishers: flag(&args, "--publishers", 4)? as usize,
        consumers: flag(&args, "--consumers", 4)? as usize,
        server_bin: bin,
    };
    eprintln!("torture run: {options:?}");
    let started = std::time::Instant::now();
    let report = run(options).await?;
    print!("{report}");
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    let broken = report.violations();
    if !broken.is_empty() {
        bail!("promises broken: {}", broken.join("; "));
    }
    Ok(())
}
