//! The login page: paste a token, checked with `GET /v1/whoami` before it is kept. Shown
//! when the tab has no token that works, with why the last one stopped, if it did.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::fields::form_error;
use crate::session::{self, Session};

/// The login page; `why` says why the last token stopped working, if one did.
#[component]
pub(crate) fn LoginPage(why: Option<String>) -> impl IntoView {
    let session = Session::get();
    let token = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let log_in = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let pasted = token.get_untracked().trim().to_string();
        if pasted.is_empty() {
            return error.set(Some("Paste a token first.".into()));
        }
        busy.set(true);
        spawn_local(async move {
            match session.sign_in(Some(pasted)).await {
                Ok(()) => {}
                Err(e) if e.code == "unauthenticated" => {
                    error.set(Some(session::refusal("That token", &e)));
                }
                Err(e) => error.set(Some(e.explain())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="login">
            <form class="card form" id="login" on:submit=log_in>
                <h1>"Log in to Switchyard"</h1>
                {why.map(|why| view! { <div class="banner error" role="alert">{why}</div> })}
                <label>
                    "API token"
                    <input
                        id="login-token"
                        type="password"
                        autocomplete="off"
                        spellcheck="false"
                        placeholder="sy_…"
                        prop:value=move || token.get()
                        on:input=move |ev| token.set(event_target_value(&ev))
                    />
                </label>
                {form_error(error)}
                <button type="submit" id="login-submit" prop:disabled=move || busy.get()>
                    {move || if busy.get() { "Checking…" } else { "Log in" }}
                </button>
                <p class="muted small">
                    "The first admin token is in " <code>"<data-dir>/admin-token"</code>
                    " (by default " <code>"./switchyard-data/admin-token"</code>
                    "), and in the login link the server printed when it first started. An admin can make more tokens on the Tokens page or with "
                    <code>"switchyard token create"</code> "."
                </p>
                <p class="muted small">
                    "The console keeps the token in this tab only, and forgets it when you log out or close the tab."
                </p>
            </form>
        </section>
    }
}
