//! [`ChildServer`]: the real binary serving as a child process, so a test can `kill -9` it
//! and start another on the same data directory.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use switchyard_client::Client;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::{PATIENCE, wait_until};

/// The real binary serving as a child process, so that a test can `kill -9` it.
pub struct ChildServer {
    /// A typed client of the running child.
    pub client: Client,
    child: Child,
    output: Arc<Mutex<String>>,
}

/// What the binary prints on stdout once it serves, followed by the URL.
const LISTENING: &str = "switchyard listening on ";

impl ChildServer {
    /// Runs `bin serve --data-dir DIR --listen 127.0.0.1:0` with the harness's admin token
    /// (`SWITCHYARD_ADMIN_TOKEN`), waits for the line that says where it listens, then for
    /// `/healthz`.
    pub async fn spawn(bin: impl AsRef<Path>, data_dir: impl AsRef<Path>) -> anyhow::Result<Self> {
        let server = Self::spawn_with(bin, data_dir, Some(crate::ADMIN_TOKEN)).await?;
        Ok(server)
    }

    /// Like [`ChildServer::spawn`], without `SWITCHYARD_ADMIN_TOKEN`: a fresh data directory
    /// gets a generated admin token in `<data-dir>/admin-token`, which the client then uses.
    pub async fn spawn_generating_token(
        bin: impl AsRef<Path>,
        data_dir: impl AsRef<Path>,
    ) -> anyhow::Result<Self> {
        let mut server = Self::spawn_with(bin, &data_dir, None).await?;
        let file = data_dir.as_ref().join("admin-token");
        let token = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        server.client = Client::new(server.url().to_string()).with_token(token.trim());
        Ok(server)
    }

    async fn spawn_with(
        bin: impl AsRef<Path>,
        data_dir: impl AsRef<Path>,
        admin_token: Option<&str>,
    ) -> anyhow::Result<Self> {
        let bin = bin.as_ref();
        let mut command = Command::new(bin);
        // The flags say everything; settings from this environment must not leak in.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SWITCHYARD_") {
                command.env_remove(name);
            }
        }
        if let Some(token) = admin_token {
            command.env("SWITCHYARD_ADMIN_TOKEN", token);
        }
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir.as_ref())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().context("child stderr")?;
        tokio::spawn(collect_lines(stderr, output.clone()));
        let mut stdout = BufReader::new(child.stdout.take().context("child stdout")?).lines();

        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = stdout.next_line().await? {
                keep_line(&output, &line);
                if let Some(rest) = line.trim().strip_prefix(LISTENING) {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    return Ok(Some(url.trim_end_matches('/').to_string()));
                }
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        let url = match found {
            Ok(Ok(Some(url))) if url.starts_with("http://") => url,
            other => {
                let _ = child.kill().await;
                bail!(
                    "the child server did not say where it listens ({other:?}); its output:\n{}",
                    output.lock().unwrap()
                );
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn({
            let output = output.clone();
            async move {
                while let Ok(Some(line)) = stdout.next_line().await {
                    keep_line(&output, &line);
                }
            }
        });
        let server = Self {
            client: crate::admin_client(url),
            child,
            output,
        };
        let client = server.client.clone();
        wait_until("the child server answers /healthz", PATIENCE, async || {
            Ok(client.health().await.is_ok_and(|h| h.status == "ok"))
        })
        .await
        .with_context(|| format!("child output:\n{}", server.output()))?;
        Ok(server)
    }

    /// The most memory the process has held at once (its peak resident set), in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("the child has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let line = status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))
            .context("no VmHWM in /proc/<pid>/status")?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .context("VmHWM without a figure")?
            .parse()?;
        Ok(kib * 1024)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        self.client.base_url()
    }

    /// What the child printed so far (stdout and stderr, the latest part).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Kills the child with SIGKILL (no chance to flush or close anything) and reaps it.
    pub async fn kill_9(mut self) -> anyhow::Result<ExitStatus> {
        self.child
            .kill()
            .await
            .context("killing the child server")?;
        self.child.wait().await.context("reaping the child server")
    }
}

async fn collect_lines(stream: impl AsyncRead + Unpin, output: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        keep_line(&output, &line);
    }
}

fn keep_line(output: &Mutex<String>, line: &str) {
    const KEEP: usize = 64 * 1024;
    let mut output = output.lock().unwrap();
    output.push_str(line);
    output.push('\n');
    if output.len() > 2 * KEEP {
        let mut cut = output.len() - KEEP;
        while !output.is_char_boundary(cut) {
            cut += 1;
        }
        output.replace_range(..cut, "…\n");
    }
}

/// A fresh temp directory for a child server's data (kept until dropped).
pub fn temp_data_dir() -> anyhow::Result<(TempDir, PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("switchyard-child-")
        .tempdir()
        .context("creating a temp data directory")?;
    let data = dir.path().join("data");
    Ok((dir, data))
}
