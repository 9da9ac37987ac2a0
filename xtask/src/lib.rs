//! Build tasks that cargo alone does not do: compile the console (`switchyard-console`) for
//! `wasm32-unknown-unknown` and bind it with wasm-bindgen (the library, pinned to the
//! `wasm-bindgen` version the console links), next to its `index.html`, `boot.js` and
//! `style.css`.
//! Used by `cargo xtask` and by the browser tests' harness.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The wasm target the console is compiled for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// The repository root (the workspace this crate belongs to).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace root")
        .to_path_buf()
}

/// Builds the console into `out_dir` (`index.html`, `boot.js`, `style.css`,
/// `switchyard-console.js`, `switchyard-console_bg.wasm`), compiling with its own cargo
/// target directory `wasm_target_dir` so it never waits on, or invalidates, the caller's
/// build.
pub fn build_console(wasm_target_dir: &Path, out_dir: &Path) -> anyhow::Result<()> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "-p", "switchyard-console", "--target"])
        .arg(WASM_TARGET)
        .arg("--target-dir")
        .arg(wasm_target_dir);
    if std::env::var_os("CI").is_some() {
        command.arg("--locked");
    }
    // A cargo run from inside another cargo (a test, a build step) inherits variables meant
    // for that build: the target directory, rustc wrappers, flags for another target.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let inherited = (name.starts_with("CARGO_") && name != "CARGO_HOME")
            || matches!(
                name.as_ref(),
                "RUSTC"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
            );
        if inherited {
            command.env_remove(name.as_ref());
        }
    }
    // The release profile's line tables do not reach the browser: wasm-bindgen drops
    // debug sections unless asked to keep them.
    command.env("CARGO_TERM_COLOR", "never");
    let status = command
        .status()
        .context("cannot run cargo to build the console")?;
    if !status.success() {
        bail!(
            "building the console for {WASM_TARGET} failed ({status}); if the target is missing, \
             run `rustup target add {WASM_TARGET}`"
        );
    }
    let wasm = wasm_target_dir
        .join(WASM_TARGET)
        .join("release")
        .join("switchyard-console.wasm");
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)
        .context("wasm-bindgen: web output")?
        .typescript(false)
        // Like the CLI: `init()` without arguments fetches the `_bg.wasm` next to the JS.
        .omit_default_module_path(false)
        .generate(out_dir)
        .with_context(|| format!("wasm-bindgen could not bind {}", wasm.display()))?;
    for file in ["index.html", "boot.js", "style.css"] {
        let from = root.join("console").join(file);
        std::fs::copy(&from, out_dir.join(file))
            .with_context(|| format!("cannot copy {} to {}", from.display(), out_dir.display()))?;
    }
    Ok(())
}
