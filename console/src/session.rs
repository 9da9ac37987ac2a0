//! Who the console acts as. The token comes from a login link (`#token=...`, taken out of the
//! address bar at once) or from the login page, is checked with `GET /v1/whoami`, and is kept
//! in this tab's sessionStorage (no cookies); `api` sends it with every request. A token the
//! server stops accepting (expired, revoked) ends the session and the login page comes back.

use std::cell::{Cell, RefCell};

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{Grants, Identity};
use wasm_bindgen::JsValue;

use crate::api::{self, ApiFailure};

/// Where the token is kept: this tab's sessionStorage, gone when the tab closes.
const STORAGE_KEY: &str = "switchyard-token";
/// How a login link carries its token: in the fragment, which browsers never send.
const LINK_PREFIX: &str = "#token=";

thread_local! {
    /// The token API calls send (sessionStorage's copy, also where storage is refused).
    static TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The page's session, for API calls that find the token refused.
    static CURRENT: Cell<Option<Session>> = const { Cell::new(None) };
}

/// The token API calls send, if any.
pub(crate) fn token() -> Option<String> {
    TOKEN.with_borrow(Clone::clone)
}

fn storage() -> Option<web_sys::Storage> {
    window().session_storage().ok().flatten()
}

/// Keeps `token` for this tab's API calls and reloads, or forgets it.
fn keep(token: Option<&str>) {
    TOKEN.set(token.map(str::to_string));
    if let Some(storage) = storage() {
        let _ = match token {
            Some(token) => storage.set_item(STORAGE_KEY, token),
            None => storage.remove_item(STORAGE_KEY),
        };
    }
}

/// The token of a login link in the address bar, replaced there (and in the history) by
/// `#/`, so that it is neither shown nor bookmarked.
pub(crate) fn take_link_token() -> Option<String> {
    let hash = window().location().hash().ok()?;
    let raw = hash.strip_prefix(LINK_PREFIX)?;
    let token = js_sys::decode_uri_component(raw)
        .map(String::from)
        .unwrap_or_else(|_| raw.to_string());
    if let Ok(history) = window().history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some("#/"));
    }
    let token = token.trim().to_string();
    (!token.is_empty()).then_some(token)
}

/// The token the server accepted: who it is and what it may do.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub(crate) identity: Identity,
    pub(crate) grants: Grants,
}

impl SignedIn {
    fn new(identity: Identity) -> Self {
        // A server without authentication lets every request act as an admin.
        let grants = if identity.auth {
            Grants::parse(&identity.scopes).unwrap_or_default()
        } else {
            Grants::everything()
        };
        Self { identity, grants }
    }
}

/// Where the session stands.
#[derive(Debug, Clone)]
pub(crate) enum State {
    /// Asking the server who the token is.
    Checking,
    /// No token that works: the login page, with why the last one stopped, if it did.
    SignedOut(Option<String>),
    /// The server could not say (unreachable, failing), in words: try again.
    Unsure(String),
    /// Signed in.
    SignedIn(SignedIn),
}

/// The page's session, in the context of every component.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session {
    state: RwSignal<State>,
}

impl Session {
    /// The page's session: a login link's token, else the one this tab kept, else none (a
    /// server without authentication accepts that), checked with the server.
    pub(crate) fn start() -> Self {
        let session = Self {
            state: RwSignal::new(State::Checking),
        };
        CURRENT.set(Some(session));
        provide_context(session);
        let kept = storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
        match take_link_token() {
            Some(token) => session.check(Some(token), "The token in the login link"),
            None => session.check(kept, "The token this tab was signed in with"),
        }
        session
    }

    /// The session of the page (from the context).
    pub(crate) fn get() -> Self {
        expect_context()
    }

    /// Where the session stands, tracked.
    pub(crate) fn state(self) -> State {
        self.state.get()
    }

    /// Checks `token` in the background: signed in, or signed out saying that `what` (the
    /// link's token, the kept one) was refused.
    pub(crate) fn check(self, token: Option<String>, what: &'static str) {
        self.state.set(State::Checking);
        spawn_local(async move {
            match self.sign_in(token.clone()).await {
                Ok(()) => {}
                Err(e) if e.code == "unauthenticated" => {
                    keep(None);
                    let why = token.is_some().then(|| refusal(what, &e));
                    self.state.set(State::SignedOut(why));
                }
                Err(e) => {
                    // Kept for "Try again".
                    keep(token.as_deref());
                    self.state.set(State::Unsure(e.explain()));
                }
            }
        });
    }

    /// Signs in with `token` if the server accepts it; otherwise nothing changes.
    pub(crate) async fn sign_in(self, token: Option<String>) -> Result<(), ApiFailure> {
        let identity = api::whoami(token.as_deref()).await?;
        keep(token.as_deref());
        self.state.set(State::SignedIn(SignedIn::new(identity)));
        Ok(())
    }

    /// Forgets the token: the login page.
    pub(crate) fn log_out(self) {
        keep(None);
        self.state.set(State::SignedOut(None));
    }

    /// With the token signed in, the first scope of `needs` it lacks (see [`crate::permit`]);
    /// signed out, everything is lacking.
    pub(crate) fn lacks(self, missing: impl FnOnce(&Grants) -> Option<String>) -> Option<String> {
        self.state.with(|state| match state {
            State::SignedIn(signed) => missing(&signed.grants),
            _ => missing(&Grants::default()),
        })
    }

    /// Whether the token is `admin:*:*` (tokens, the audit log), tracked.
    pub(crate) fn is_admin(self) -> bool {
        self.state
            .with(|state| matches!(state, State::SignedIn(s) if s.grants.is_full_admin()))
    }

    /// The signed-in token's id, tracked.
    pub(crate) fn token_id(self) -> Option<String> {
        self.state.with(|state| match state {
            State::SignedIn(s) => Some(s.identity.id.clone()),
            _ => None,
        })
    }
}

/// An API call sent with `sent` was answered 401: if that is still the session's token,
/// the session is over (the token expired or was revoked).
pub(crate) fn refused(sent: Option<&str>, failure: &ApiFailure) {
    let Some(session) = CURRENT.get() else {
        return;
    };
    let signed_in = session
        .state
        .with_untracked(|state| matches!(state, State::SignedIn(_)));
    if signed_in && token().as_deref() == sent {
        keep(None);
        let why = refusal("The token this tab was signed in with", failure);
        session.state.set(State::SignedOut(Some(why)));
    }
}

/// `what` was refused, and the server's reason: "… was refused: the token has expired."
pub(crate) fn refusal(what: &str, failure: &ApiFailure) -> String {
    let reason = failure.message.trim().trim_end_matches('.');
    format!("{what} was refused: {reason}.")
}
