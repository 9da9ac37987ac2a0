//! Real headless Chromium for the console's tests: the console built once per test process
//! (through the xtask library, with its own target directory), a server that serves it, and
//! Debian's `chromedriver` on a free port driving `chromium` with a fresh profile. Nothing
//! downloads a browser; without Chromium the tests fail and say which packages to install.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tempfile::TempDir;

use crate::{PATIENCE, TestServer};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1360,1000",
];

/// The cargo target directory this test binary was built in (`<target>/debug/deps/..`).
pub(crate) fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test binary")?;
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .context("the test binary is not inside a cargo target directory")
}

/// The built console (`index.html`, js, wasm, css), built on first use in this process.
pub fn console_assets() -> anyhow::Result<&'static Path> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let build = || -> anyhow::Result<PathBuf> {
            let target = target_dir()?;
            let out = target.join("console");
            xtask::build_console(&target.join("console-wasm"), &out)?;
            Ok(out)
        };
        build().map_err(|e| format!("{e:#}"))
    });
    match built {
        Ok(dir) => Ok(dir),
        Err(e) => bail!("building the console failed: {e}"),
    }
}

/// A server that serves the built console.
pub async fn console_server() -> anyhow::Result<TestServer> {
    let assets = console_assets()?.to_path_buf();
    TestServer::start_with(|config| config.console_dir = Some(assets)).await
}

/// Headless Chromium under chromedriver, with a WebDriver session.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    _profile: TempDir,
    // One browser at a time: Chromium is heavy for a 2-core machine.
    _turn: tokio::sync::SemaphorePermit<'static>,
}

static ONE_BROWSER_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

impl Browser {
    /// Starts chromedriver on a free port and opens a Chromium session with a fresh profile.
    pub async fn start() -> anyhow::Result<Self> {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            if !Path::new(path).exists() {
                bail!(
                    "{path} is missing: the console tests drive Debian's Chromium; install it with \
                     `apt-get install -y chromium chromium-driver` (package {package})"
                );
            }
        }
        let turn = ONE_BROWSER_AT_A_TIME
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port for chromedriver")?
            .port();
        // Its own process group, so that stopping it also stops the Chromium it started.
        let driver = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {CHROMEDRIVER}"))?;
        let profile = tempfile::Builder::new()
            .prefix("switchyard-chromium-")
            .tempdir()
            .context("creating a Chromium profile directory")?;
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen; retry, bounded in time.
        let deadline = Instant::now() + PATIENCE;
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let mut guard = DriverGuard(Some(driver));
        let client = loop {
            match builder.connect(&url).await {
                Ok(client) => break client,
                Err(e) if Instant::now() >= deadline => {
                    bail!("no WebDriver session from chromedriver at {url}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Ok(Self {
            client,
            driver: guard.0.take().expect("set above"),
            _profile: profile,
            _turn: turn,
        })
    }

    /// Opens `url` (a page of the console, such as `http://127.0.0.1:1234/#/wiring`).
    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// Logs in to the console at `base_url` by its login link (`#token=...`), as the server
    /// prints it: waits until the header shows the token's name, and checks that the token
    /// left the address bar.
    pub async fn log_in(&self, base_url: &str, token: &str) -> anyhow::Result<()> {
        let name = switchyard_client::Client::new(base_url)
            .with_token(token)
            .whoami()
            .await
            .context("asking the server whose token this is")?
            .name;
        self.open(&format!("{base_url}/#token={token}")).await?;
        self.wait_for_text(".identity", &name).await?;
        let address = self
            .client
            .current_url()
            .await
            .context("reading the address bar")?;
        if address.as_str().contains(token) {
            bail!("the token is still in the address bar: {address}");
        }
        Ok(())
    }

    /// Waits until an element matching `css` exists and its text contains `text`; returns
    /// that text.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = String::new();
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                seen = element.text().await.unwrap_or_default();
                if seen.contains(text) {
                    return Ok(seen);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("gave up waiting for {css:?} to contain {text:?}; it showed {seen:?}")
    }

    /// Waits until no element matches `css`.
    pub async fn wait_until_gone(&self, css: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.client.find(Locator::Css(css)).await.is_err() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("gave up waiting for {css:?} to leave the page")
    }

    /// Waits for an element matching `css` to exist.
    pub async fn element(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        wait_element(&self.client, css).await
    }

    /// Types `text` into the field matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let field = self.element(css).await?;
        field
            .clear()
            .await
            .with_context(|| format!("clearing {css}"))?;
        field
            .send_keys(text)
            .await
            .with_context(|| format!("typing into {css}"))
    }

    /// Puts the file at `path` into the `<input type=file>` matching `css`, as choosing it in
    /// the file dialog would.
    pub async fn choose_file(&self, css: &str, path: &Path) -> anyhow::Result<()> {
        let path = path
            .to_str()
            .with_context(|| format!("{} is not UTF-8", path.display()))?;
        self.element(css)
            .await?
            .send_keys(path)
            .await
            .with_context(|| format!("choosing {path} in {css}"))
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.element(css)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking {css}"))
    }

    /// Picks the option with `value` in the `<select>` matching `css`, once it exists.
    pub async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let option = format!("{css} option[value=\"{value}\"]");
        self.element(&option).await?;
        self.element(css)
            .await?
            .select_by_value(value)
            .await
            .with_context(|| format!("choosing {value} in {css}"))
    }

    /// Saves a screenshot of the page as `<target>/console-screenshots/<name>.png`, prints
    /// and returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        // The page as a person opening it sees it: from the top.
        self.screenshot_after(name, "window.scrollTo(0, 0)", Vec::new())
            .await
    }

    /// Like [`Browser::screenshot`], scrolled so that the element matching `css` is in view.
    pub async fn screenshot_of(&self, name: &str, css: &str) -> anyhow::Result<PathBuf> {
        self.element(css).await?;
        let scroll = "document.querySelector(arguments[0]).scrollIntoView({block: 'center'})";
        self.screenshot_after(name, scroll, vec![serde_json::Value::from(css)])
            .await
    }

    async fn screenshot_after(
        &self,
        name: &str,
        scroll: &str,
        arguments: Vec<serde_json::Value>,
    ) -> anyhow::Result<PathBuf> {
        let dir = target_dir()?.join("console-screenshots");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        self.client
            .execute(scroll, arguments)
            .await
            .context("scrolling the page")?;
        let png = self
            .client
            .screenshot()
            .await
            .context("taking a screenshot")?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        println!("screenshot: {}", path.display());
        Ok(path)
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn close(self) -> anyhow::Result<()> {
        // Dropping `self` afterwards stops chromedriver.
        self.client
            .clone()
            .close()
            .await
            .context("closing the WebDriver session")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        stop_driver(&mut self.driver);
    }
}

/// Stops chromedriver if starting a session fails.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(mut driver) = self.0.take() {
            stop_driver(&mut driver);
        }
    }
}

/// Stops chromedriver and every process of its group (the Chromium of a session that a
/// failing test did not close).
fn stop_driver(driver: &mut Child) {
    let group = format!("-{}", driver.id());
    let _ = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

async fn wait_element(client: &Client, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match client.find(Locator::Css(css)).await {
            Ok(element) => return Ok(element),
            Err(e) if Instant::now() >= deadline => bail!("no element {css:?} on the page: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
