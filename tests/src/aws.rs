//! The real AWS clients for the tests of the SQS-compatible endpoint: boto3 and the AWS CLI
//! v1 from PyPI, at the versions pinned in `tests/sqs/requirements.txt`, in a Python virtual
//! environment made once under the cargo target directory; and the scenario scripts of
//! `tests/sqs/` run with it against a server, in a clean AWS environment. Without python3,
//! its venv module or access to PyPI the tests fail and say what to install; they never
//! skip.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

use crate::browser::target_dir;

/// Upper bound of one scenario script, after which it and its children are killed.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(180);

/// What to install when the Python side cannot be set up.
const INSTALL_HINT: &str = "the SQS tests run boto3 and the AWS CLI from a Python virtual \
     environment: install Debian's python3 and python3-venv (`apt-get install -y python3 \
     python3-venv`) and give the machine network access to PyPI (https://pypi.org, or a \
     mirror in PIP_INDEX_URL)";

/// `tests/sqs/`: the scenarios, their shared `common.py` and `requirements.txt`.
fn sqs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sqs")
}

/// The Python of the virtual environment with the pinned AWS clients installed
/// (`<target>/aws-venv/bin/python`; its `aws` is next to it). Made on first use, or remade
/// when `requirements.txt` has changed since (a marker file holds a hash of it) or the
/// environment no longer imports the clients. Test processes that race take turns through
/// a lock file (a venv cannot be made elsewhere and moved: its scripts name their own path).
pub fn aws_python() -> anyhow::Result<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let made = PYTHON.get_or_init(|| make_venv().map_err(|e| format!("{e:#}")));
    match made {
        Ok(python) => Ok(python),
        Err(e) => bail!("setting up the AWS clients failed: {e}"),
    }
}

fn make_venv() -> anyhow::Result<PathBuf> {
    let target = target_dir()?;
    let venv = target.join("aws-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join("requirements.hash");
    let requirements = sqs_dir().join("requirements.txt");
    let pinned = std::fs::read(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let hash = format!("{:016x}\n", fnv1a(&pinned));

    let lock_path = target.join("aws-venv.lock");
    let lock = File::create(&lock_path)
        .with_context(|| format!("creating the lock file {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;

    let current = std::fs::read_to_string(&marker).is_ok_and(|m| m == hash);
    if current && clients_import(&python) {
        return Ok(python);
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .with_context(|| format!("removing the stale {}", venv.display()))?;
    }
    let mut command = std::process::Command::new("python3");
    command.args(["-m", "venv"]).arg(&venv);
    run_setup(command, "python3 -m venv")?;
    let mut command = std::process::Command::new(&python);
    command
        .args([
            "-m",
            "pip",
            "install",
            "--no-input",
            "--timeout",
            "60",
            "-r",
        ])
        .arg(&requirements)
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    run_setup(command, "pip install -r tests/sqs/requirements.txt")?;
    if !clients_import(&python) || !venv.join("bin").join("aws").is_file() {
        bail!(
            "{} does not import boto3, botocore and awscli after pip installed them, or has \
             no bin/aws",
            venv.display()
        );
    }
    std::fs::write(&marker, hash).with_context(|| format!("writing {}", marker.display()))?;
    Ok(python)
}

/// Runs one setup step; its failure says what ran, what it printed and what to install.
fn run_setup(mut command: std::process::Command, what: &str) -> anyhow::Result<()> {
    let output = match command.stdin(Stdio::null()).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{what}`: {} not found ({e}): {INSTALL_HINT}",
            command.get_program().to_string_lossy()
        ),
        Err(e) => bail!("`{what}` could not start: {e}: {INSTALL_HINT}"),
    };
    if !output.status.success() {
        bail!(
            "`{what}` failed ({}): {INSTALL_HINT}\n--- stdout\n{}\n--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn clients_import(python: &Path) -> bool {
    std::process::Command::new(python)
        .args(["-c", "import boto3, botocore, awscli"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// 64-bit FNV-1a: a hash that stays the same across Rust releases, for the marker file.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Runs `tests/sqs/<scenario>.py` with the venv's Python against the SQS endpoint at
/// `endpoint` (the server's URL), with `envs` added (the AWS key pair, and what else the
/// scenario reads). The environment is otherwise clean: PATH (the venv's `bin` first), HOME
/// in a temp dir, no AWS config or credentials files, no instance metadata lookups, no
/// proxy for the loopback address, region us-east-1. The script is killed, with its
/// children, after 180 s. A failure carries everything it printed.
pub async fn run_sqs_scenario(
    scenario: &str,
    endpoint: &str,
    envs: &[(&str, String)],
) -> anyhow::Result<()> {
    let python = tokio::task::spawn_blocking(aws_python)
        .await
        .context("setting up the AWS clients panicked")??;
    let script = sqs_dir().join(format!("{scenario}.py"));
    if !script.is_file() {
        bail!("there is no SQS scenario {}", script.display());
    }
    let home = tempfile::Builder::new()
        .prefix("switchyard-aws-home-")
        .tempdir()
        .context("creating a HOME for the AWS clients")?;
    let bin = python
        .parent()
        .context("the venv's python has no directory")?;
    let mut path = vec![bin.to_path_buf()];
    if let Some(inherited) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&inherited));
    }
    let path = std::env::join_paths(path).context("joining PATH")?;

    let mut command = Command::new(python);
    command
        .arg(&script)
        .current_dir(home.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .env("LANG", "C.UTF-8")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        // Nothing written next to the scripts in the source tree; output as it happens.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("SQS_ENDPOINT", endpoint)
        .envs(envs.iter().map(|(name, value)| (*name, value.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout also stops the `aws` it runs.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
    let stdout = tokio::spawn(read_all(child.stdout.take()));
    let stderr = tokio::spawn(read_all(child.stderr.take()));
    let outcome = match tokio::time::timeout(SCENARIO_TIMEOUT, child.wait()).await {
        Ok(status) => {
            let status = status.with_context(|| format!("waiting for scenario {scenario}"))?;
            status
                .success()
                .then_some(())
                .ok_or_else(|| format!("failed ({status})"))
        }
        Err(_) => {
            kill_group(&mut child).await;
            Err(format!(
                "did not finish within {} s and was killed",
                SCENARIO_TIMEOUT.as_secs()
            ))
        }
    };
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();
    match outcome {
        Ok(()) => {
            print!("{stdout}");
            Ok(())
        }
        Err(outcome) => bail!(
            "SQS scenario {scenario} ({}) {outcome}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            script.display()
        ),
    }
}

async fn read_all(pipe: Option<impl AsyncRead + Unpin>) -> String {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes).await;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Kills the scenario's process group (the script and any `aws` it started), then the
/// script itself.
async fn kill_group(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status()
            .await;
    }
    let _ = child.kill().await;
}
