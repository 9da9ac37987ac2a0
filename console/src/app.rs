//! The shell: the nav bar, who is signed in, and which page the address (`#/...`) shows, or
//! the login page while no token works. Sections are listed once in [`NAV`]; a new page is
//! one more entry and one more [`Route`] arm.

use leptos::prelude::*;

use crate::alarm_banner::FiringAlarms;
use crate::format;
use crate::pages::{
    AuditPage, LoginPage, MessagePage, MonitorPage, Overview, PluginsPage, QueueList, QueuePage,
    TokensPage, WiringPage,
};
use crate::session::{self, Session, SignedIn, State};

/// The nav bar's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Overview,
    Wiring,
    Plugins,
    Queues,
    Monitor,
    Messages,
    Tokens,
    Audit,
}

/// Nav bar entries: section, label, address, and whether only `admin:*:*` tokens see it.
const NAV: &[(Section, &str, &str, bool)] = &[
    (Section::Overview, "Overview", "#/", false),
    (Section::Wiring, "Wiring", "#/wiring", false),
    (Section::Plugins, "Plugins", "#/plugins", false),
    (Section::Queues, "Queues", "#/queues", false),
    (Section::Monitor, "Monitor", "#/monitor", false),
    (Section::Messages, "Message lookup", "#/messages", false),
    (Section::Tokens, "Tokens", "#/tokens", true),
    (Section::Audit, "Audit", "#/audit", true),
];

/// A page and what it is about, read from the address's fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Overview,
    Wiring,
    Plugins,
    Queues,
    Queue(String),
    Monitor(Option<String>),
    Message(Option<String>),
    Tokens,
    Audit,
}

impl Route {
    fn parse(hash: &str) -> Self {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let (head, rest) = path.split_once('/').unwrap_or((path, ""));
        let rest = js_sys::decode_uri_component(rest)
            .map(String::from)
            .unwrap_or_else(|_| rest.to_string());
        match (head, rest.is_empty()) {
            ("wiring", _) => Route::Wiring,
            ("plugins", _) => Route::Plugins,
            ("queues", true) => Route::Queues,
            ("queues", false) => Route::Queue(rest),
            ("monitor", true) => Route::Monitor(None),
            ("monitor", false) => Route::Monitor(Some(rest)),
            ("messages", true) => Route::Message(None),
            ("messages", false) => Route::Message(Some(rest)),
            ("tokens", _) => Route::Tokens,
            ("audit", _) => Route::Audit,
            _ => Route::Overview,
        }
    }

    fn section(&self) -> Section {
        match self {
            Route::Overview => Section::Overview,
            Route::Wiring => Section::Wiring,
            Route::Plugins => Section::Plugins,
            Route::Queues | Route::Queue(_) => Section::Queues,
            Route::Monitor(_) => Section::Monitor,
            Route::Message(_) => Section::Messages,
            Route::Tokens => Section::Tokens,
            Route::Audit => Section::Audit,
        }
    }
}

fn current_route() -> Route {
    Route::parse(&window().location().hash().unwrap_or_default())
}

/// The whole console.
#[component]
pub(crate) fn App() -> impl IntoView {
    // First: a login link's token leaves the address bar before anything reads the route.
    let session = Session::start();
    let route = RwSignal::new(current_route());
    // The app lives as long as the page: the listener is never removed.
    std::mem::forget(window_event_listener(leptos::ev::hashchange, move |_| {
        // A login link opened in a tab that already runs the console.
        if let Some(token) = session::take_link_token() {
            session.check(Some(token), "The token in the login link");
        }
        route.set(current_route());
    }));
    let signed_in = Memo::new(move |_| matches!(session.state(), State::SignedIn(_)));
    let nav = move || {
        let admin = session.is_admin();
        NAV.iter()
            .filter(|&&(_, _, _, admin_only)| signed_in.get() && (admin || !admin_only))
            .map(|&(section, label, href, _)| {
                view! {
                    <a href=href class:active=move || route.with(|r| r.section() == section)>
                        {label}
                    </a>
                }
            })
            .collect_view()
    };
    view! {
        <header class="topbar">
            <a class="brand" href="#/">
                <span class="brand-mark">"⇄"</span>
                "Switchyard"
            </a>
            <nav>{nav}</nav>
            {move || match session.state() {
                State::SignedIn(signed) => Some(view! { <IdentityBadge signed=signed /> }),
                _ => None,
            }}
        </header>
        <main class="page">
            {move || match session.state() {
                State::Checking => view! { <p class="muted">"Checking the token…"</p> }.into_any(),
                State::SignedOut(why) => view! { <LoginPage why=why /> }.into_any(),
                State::Unsure(why) => view! { <Unsure why=why /> }.into_any(),
                State::SignedIn(_) => view! {
                    <FiringAlarms />
                    <CurrentPage route=route />
                }
                    .into_any(),
            }}
        </main>
    }
}

/// The page the address names.
#[component]
fn CurrentPage(route: RwSignal<Route>) -> impl IntoView {
    move || match route.get() {
        Route::Overview => view! { <Overview /> }.into_any(),
        Route::Wiring => view! { <WiringPage /> }.into_any(),
        Route::Plugins => view! { <PluginsPage /> }.into_any(),
        Route::Queues => view! { <QueueList /> }.into_any(),
        Route::Queue(name) => view! { <QueuePage name=name /> }.into_any(),
        Route::Monitor(queue) => view! { <MonitorPage queue=queue /> }.into_any(),
        Route::Message(id) => view! { <MessagePage id=id /> }.into_any(),
        Route::Tokens => view! { <TokensPage /> }.into_any(),
        Route::Audit => view! { <AuditPage /> }.into_any(),
    }
}

/// Who the console acts as: the token's name and scopes, and a way to log out.
#[component]
fn IdentityBadge(signed: SignedIn) -> impl IntoView {
    let identity = signed.identity;
    if !identity.auth {
        return view! {
            <div class="session">
                <span class="identity" title="The server runs without authentication (--insecure-no-auth)">
                    "no authentication"
                </span>
            </div>
        }
        .into_any();
    }
    let scopes = identity.scopes.join(" ");
    let expires = identity
        .expires_at_ms
        .map(|at| view! { <span class="identity-expiry">"expires " {format::ago(at)}</span> });
    let title = format!("Token {} ({}): {scopes}", identity.name, identity.id);
    let session = Session::get();
    view! {
        <div class="session">
            <span class="identity" title=title>
                <strong class="identity-name">{identity.name.clone()}</strong>
                <code class="identity-scopes">{scopes}</code>
                {expires}
            </span>
            <button class="secondary small-button" id="log-out" on:click=move |_| session.log_out()>
                "Log out"
            </button>
        </div>
    }
    .into_any()
}

/// The server could not say whether the token works: why, and a way to ask again.
#[component]
fn Unsure(why: String) -> impl IntoView {
    let session = Session::get();
    view! {
        <div class="banner error" role="alert">{why}</div>
        <button on:click=move |_| session.check(session::token(), "The token this tab was signed in with")>
            "Try again"
        </button>
    }
}
