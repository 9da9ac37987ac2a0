//! The web console's static files (built by `cargo xtask console`), served at `/` from the
//! configured `console_dir`. Without a built console, `/` says in words how to build it.
//! Anything else that is not a file answers with the API's JSON `not_found`.

use std::path::Path;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use tower_http::services::ServeDir;

use super::error;

/// The page `/` shows when the server has no console to serve.
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchyard</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:4rem auto;padding:0 1rem;color:#1f2933}
code,pre{background:#f0f3f7;border-radius:4px;padding:.1rem .3rem}pre{padding:.8rem}</style></head>
<body><h1>Switchyard is running</h1>
<p>The REST API is at <code>/v1</code>, metrics at <code>/metrics</code>. The web console is
not built into this server, so there is nothing to show here yet.</p>
<p>To run Switchyard with its console, stop this server and run, from the repository:</p>
<pre>cargo xtask serve</pre>
<p>or build the console once with <code>cargo xtask console</code> (it lands in
<code>target/console</code>) and start the server with
<code>switchyard serve --console-dir target/console</code>
(or <code>SWITCHYARD_CONSOLE_DIR</code>, or <code>console_dir</code> in the config file).</p>
</body></html>"#;

/// Routes for `/` and the console's files; the API's JSON 404 for everything else.
pub(super) fn routes<S: Clone + Send + Sync + 'static>(console_dir: Option<&Path>) -> Router<S> {
    match console_dir.filter(|dir| dir.join("index.html").is_file()) {
        Some(dir) => {
            let files = ServeDir::new(dir)
                .append_index_html_on_directories(true)
                .fallback(axum::handler::HandlerWithoutStateExt::into_service(
                    error::no_route,
                ));
            Router::new().fallback_service(files)
        }
        None => {
            if let Some(dir) = console_dir {
                tracing::warn!(
                    dir = %dir.display(),
                    "no console in console_dir (index.html missing); run `cargo xtask console`"
                );
            }
            Router::new()
                .route("/", get(not_built))
                .fallback(error::no_route)
        }
    }
}

async fn not_built() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(NOT_BUILT))
}
