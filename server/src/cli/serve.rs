//! `switchyard serve`: loads the configuration, starts the server and runs it until Ctrl-C
//! or SIGTERM. Logs go to stderr; stdout carries only the `listening on` line.

use std::io::{IsTerminal as _, Write as _};

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, DEFAULT_CONFIG, Overrides};

use super::ServeArgs;

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.print_config {
        print!("{DEFAULT_CONFIG}");
        return Ok(());
    }
    init_tracing();
    let overrides = Overrides {
        data_dir: args.data_dir,
        listen: args.listen,
        max_message_bytes: args.max_message_bytes,
        console_dir: args.console_dir,
        admin_token: args.admin_token.map(crate::config::Secret),
        insecure_no_auth: args.insecure_no_auth,
    };
    let config =
        Config::load(args.config.as_deref(), overrides).context("cannot load the configuration")?;
    let data_dir = config.data_dir.clone();
    let config_insecure = config.insecure_no_auth;
    let server = crate::start(config)
        .await
        .context("cannot start the server")?;
    // Tests read this line to learn the port when listening on port 0: keep its prefix.
    println!(
        "switchyard listening on {} (data dir {})",
        server.url(),
        data_dir.display()
    );
    if let Some(bootstrap) = server.bootstrap() {
        // Once, when the data directory gets its first admin token: the fragment never
        // reaches the server, and the console takes it out of the address bar.
        match &bootstrap.file {
            Some(file) => println!(
                "first admin token written to {} (keep it secret)",
                file.display()
            ),
            None => println!("first admin token: the value of SWITCHYARD_ADMIN_TOKEN"),
        }
        println!(
            "console login link: {}/#token={}",
            server.url(),
            bootstrap.token
        );
    } else if config_insecure {
        println!("authentication is off (--insecure-no-auth): every request acts as an admin");
    } else {
        let file = data_dir.join(crate::access::ADMIN_TOKEN_FILE);
        if file.is_file() {
            println!("log in to the console with the token in {}", file.display());
        }
    }
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;
    if let Some(reason) = server.run_until_signal().await {
        anyhow::bail!(
            "storage stopped taking writes after a failed commit ({reason}); exiting so that a supervisor restarts the server"
        );
    }
    Ok(())
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (the server started twice in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
