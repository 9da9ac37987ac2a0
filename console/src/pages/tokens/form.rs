//! Making a token: its name, scopes (one per line, checked here as the server checks them),
//! an optional expiry and publish quota; then its secret, shown this once with a copy button.

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{CreateToken, CreatedToken, Grants, PublishRate};
use wasm_bindgen_futures::JsFuture;

use crate::fields::{Choice, TextField, form_error, optional_number, submit};
use crate::format;

/// Expiry choices: label and how long from now, in ms.
const LIFETIMES: &[(&str, u64)] = &[
    ("1 hour", 3_600_000),
    ("1 day", 86_400_000),
    ("7 days", 7 * 86_400_000),
    ("30 days", 30 * 86_400_000),
    ("90 days", 90 * 86_400_000),
    ("1 year", 365 * 86_400_000),
];

/// The form's fields as typed.
struct Form {
    name: String,
    scopes: String,
    lifetime: String,
    per_second: String,
    burst: String,
}

impl Form {
    /// The request to send at `now_ms`, or why the form cannot be sent.
    fn request(&self, now_ms: u64) -> Result<CreateToken, String> {
        let scopes: Vec<String> = self
            .scopes
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(String::from)
            .collect();
        if scopes.is_empty() {
            return Err("List at least one scope, such as read:*:*.".into());
        }
        Grants::parse(&scopes).map_err(|why| format!("{why}."))?;
        let expires_at_ms = match self.lifetime.as_str() {
            "" => None,
            chosen => LIFETIMES
                .iter()
                .find(|(label, _)| *label == chosen)
                .map(|(_, ms)| now_ms + ms),
        };
        let per_second = optional_number::<u32>(&self.per_second, "Messages per second")?;
        let burst = optional_number::<u32>(&self.burst, "Burst")?;
        let publish_rate = match (per_second, burst) {
            (Some(per_second), burst) => Some(PublishRate { per_second, burst }),
            (None, Some(_)) => return Err("A burst needs a rate of messages per second.".into()),
            (None, None) => None,
        };
        Ok(CreateToken {
            name: self.name.trim().to_string(),
            scopes,
            expires_at_ms,
            publish_rate,
            aws_keys: false,
        })
    }
}

/// Make a token; the answer (with its secret) goes to `created`.
#[component]
pub(super) fn NewTokenForm(
    created: RwSignal<Option<CreatedToken>>,
    reload: Callback<()>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let scopes = RwSignal::new(String::new());
    let lifetime = RwSignal::new(String::new());
    let per_second = RwSignal::new(String::new());
    let burst = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = Form {
            name: name.get_untracked(),
            scopes: scopes.get_untracked(),
            lifetime: lifetime.get_untracked(),
            per_second: per_second.get_untracked(),
            burst: burst.get_untracked(),
        };
        let body = match form.request(format::now_ms() as u64) {
            Ok(body) => body,
            Err(why) => return error.set(Some(why)),
        };
        let done = move |token: CreatedToken| {
            for field in [name, scopes, lifetime, per_second, burst] {
                field.set(String::new());
            }
            created.set(Some(token));
        };
        submit("/v1/tokens", body, error, done, reload);
    };
    let lifetimes = Signal::stored(
        LIFETIMES
            .iter()
            .map(|(label, _)| label.to_string())
            .collect(),
    );
    view! {
        <form class="card form" id="new-token" on:submit=create>
            <h3>"New token"</h3>
            <TextField label="Name (who or what uses it)" name="token-name" placeholder="billing-service" value=name />
            <label>
                "Scopes, one per line"
                <textarea
                    name="token-scopes"
                    class="scopes-input"
                    rows="4"
                    spellcheck="false"
                    placeholder="publish:topic:orders.*\nconsume:queue:billing\nread:*:*"
                    prop:value=move || scopes.get()
                    on:input=move |ev| scopes.set(event_target_value(&ev))
                ></textarea>
            </label>
            <Choice label="Expires" name="token-expires" none="Never" value=lifetime options=lifetimes />
            <div class="row">
                <TextField label="Publish quota (messages/s)" name="token-rate" placeholder="unlimited" value=per_second />
                <TextField label="Burst (messages)" name="token-burst" placeholder="= per second" value=burst />
            </div>
            {form_error(error)}
            <button type="submit">"Create token"</button>
        </form>
    }
}

/// What scopes are made of, beside the form.
#[component]
pub(super) fn ScopeGuide() -> impl IntoView {
    view! {
        <aside class="card scope-guide">
            <h3>"Scopes"</h3>
            <p class="muted small">
                <code>"<action>:<kind>:<name glob>"</code>
                ": kinds are topic, queue, plugin, consumer or *; in names, * matches any run of characters."
            </p>
            <dl class="facts">
                <dt><code>"read"</code></dt>
                <dd>"see it: lists, counts, messages (peek), logs"</dd>
                <dt><code>"publish"</code></dt>
                <dd>"publish to topics, send to queues"</dd>
                <dt><code>"consume"</code></dt>
                <dd>"receive, ack, nack, extend"</dd>
                <dt><code>"manage"</code></dt>
                <dd>"create, change, delete topics, queues, subscriptions; purge, redrive, replay"</dd>
                <dt><code>"deploy"</code></dt>
                <dd>"upload and activate plugins; create and change consumers"</dd>
                <dt><code>"admin"</code></dt>
                <dd>"all of these; with admin:*:*, tokens and the audit log too"</dd>
            </dl>
            <p class="muted small">
                "For example " <code>"publish:topic:orders.*"</code> ", " <code>"consume:queue:billing"</code>
                ", " <code>"read:*:*"</code> "."
            </p>
        </aside>
    }
}

/// A new token's secret, shown this once, with a copy button.
#[component]
pub(super) fn NewSecret(created: CreatedToken, dismiss: Callback<()>) -> impl IntoView {
    let field = NodeRef::<leptos::html::Input>::new();
    let copied = RwSignal::new(None::<&'static str>);
    let secret = StoredValue::new(created.token.clone());
    let select = move || {
        if let Some(input) = field.get_untracked() {
            input.select();
        }
    };
    let copy = move |_| {
        spawn_local(async move {
            if copy_text(&secret.get_value()).await {
                copied.set(Some("Copied."));
            } else {
                select();
                copied.set(Some(
                    "The browser did not let the console copy it: it is selected, copy it with Ctrl+C.",
                ));
            }
        });
    };
    view! {
        <section class="card new-secret" id="new-token-secret" data-token=created.id.clone()>
            <h3>"Token " {created.name.clone()} " created"</h3>
            <p class="warning">
                <strong>"Copy its secret now: it is shown only this once."</strong>
                " The server keeps only a hash of it; if it is lost, revoke the token and make a new one."
            </p>
            <div class="secret-row">
                <input
                    id="token-secret"
                    class="mono"
                    readonly
                    value=created.token.clone()
                    node_ref=field
                    on:focus=move |_| select()
                />
                <button type="button" id="copy-token" on:click=copy>"Copy"</button>
                <button type="button" class="secondary" id="secret-done" on:click=move |_| dismiss.run(())>
                    "Done"
                </button>
            </div>
            {move || copied.get().map(|note| view! { <p class="muted small copy-note">{note}</p> })}
            <p class="muted small">
                "Send it as " <code>"Authorization: Bearer <token>"</code> ", or give it to the CLI with "
                <code>"--token"</code> " / " <code>"SWITCHYARD_TOKEN"</code> "."
            </p>
        </section>
    }
}

/// Puts `text` on the clipboard; false where the browser has no clipboard for this page
/// (plain HTTP to another host) or refuses.
async fn copy_text(text: &str) -> bool {
    let navigator = window().navigator();
    let available = js_sys::Reflect::get(&navigator, &"clipboard".into())
        .is_ok_and(|clipboard| !clipboard.is_undefined());
    available
        && JsFuture::from(navigator.clipboard().write_text(text))
            .await
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(scopes: &str, lifetime: &str, per_second: &str, burst: &str) -> Form {
        Form {
            name: " ci ".into(),
            scopes: scopes.into(),
            lifetime: lifetime.into(),
            per_second: per_second.into(),
            burst: burst.into(),
        }
    }

    #[test]
    fn scopes_are_one_per_line_and_the_quota_and_expiry_are_optional() {
        let request = form("publish:topic:orders\n\n  read:*:*  \n", "", "", "")
            .request(1_000)
            .expect("valid");
        assert_eq!(request.name, "ci");
        assert_eq!(request.scopes, ["publish:topic:orders", "read:*:*"]);
        assert_eq!((request.expires_at_ms, request.publish_rate), (None, None));
        let request = form("read:*:*", "1 day", "50", "200")
            .request(1_000)
            .expect("valid");
        assert_eq!(request.expires_at_ms, Some(1_000 + 86_400_000));
        assert_eq!(
            request.publish_rate,
            Some(PublishRate {
                per_second: 50,
                burst: Some(200)
            })
        );
    }

    #[test]
    fn bad_scopes_and_a_burst_without_a_rate_are_refused_in_words() {
        let why = form("write:topic:x", "", "", "").request(0).unwrap_err();
        assert!(why.contains("unknown action"), "{why}");
        assert!(form("  \n ", "", "", "").request(0).is_err());
        assert!(form("read:*:*", "", "", "10").request(0).is_err());
        assert!(form("read:*:*", "", "fast", "").request(0).is_err());
    }
}
