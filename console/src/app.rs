//! The shell: the nav bar, and which page the address (`#/...`) shows. Sections are listed
//! once in [`NAV`]; a new page is one more entry and one more [`Route`] arm.

use leptos::prelude::*;

use crate::pages::{MessagePage, Overview, PluginsPage, QueueList, QueuePage, WiringPage};

/// The nav bar's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Overview,
    Wiring,
    Plugins,
    Queues,
    Messages,
}

/// Nav bar entries: section, label, address.
const NAV: &[(Section, &str, &str)] = &[
    (Section::Overview, "Overview", "#/"),
    (Section::Wiring, "Wiring", "#/wiring"),
    (Section::Plugins, "Plugins", "#/plugins"),
    (Section::Queues, "Queues", "#/queues"),
    (Section::Messages, "Message lookup", "#/messages"),
];

/// A page and what it is about, read from the address's fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Overview,
    Wiring,
    Plugins,
    Queues,
    Queue(String),
    Message(Option<String>),
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
            ("messages", true) => Route::Message(None),
            ("messages", false) => Route::Message(Some(rest)),
            _ => Route::Overview,
        }
    }

    fn section(&self) -> Section {
        match self {
            Route::Overview => Section::Overview,
            Route::Wiring => Section::Wiring,
            Route::Plugins => Section::Plugins,
            Route::Queues | Route::Queue(_) => Section::Queues,
            Route::Message(_) => Section::Messages,
        }
    }
}

fn current_route() -> Route {
    Route::parse(&window().location().hash().unwrap_or_default())
}

/// The whole console.
#[component]
pub(crate) fn App() -> impl IntoView {
    let route = RwSignal::new(current_route());
    // The app lives as long as the page: the listener is never removed.
    std::mem::forget(window_event_listener(leptos::ev::hashchange, move |_| {
        route.set(current_route());
    }));
    let nav = NAV
        .iter()
        .map(|&(section, label, href)| {
            view! {
                <a href=href class:active=move || route.with(|r| r.section() == section)>
                    {label}
                </a>
            }
        })
        .collect_view();
    view! {
        <header class="topbar">
            <a class="brand" href="#/">
                <span class="brand-mark">"⇄"</span>
                "Switchyard"
            </a>
            <nav>{nav}</nav>
        </header>
        <main class="page">
            {move || match route.get() {
                Route::Overview => view! { <Overview /> }.into_any(),
                Route::Wiring => view! { <WiringPage /> }.into_any(),
                Route::Plugins => view! { <PluginsPage /> }.into_any(),
                Route::Queues => view! { <QueueList /> }.into_any(),
                Route::Queue(name) => view! { <QueuePage name=name /> }.into_any(),
                Route::Message(id) => view! { <MessagePage id=id /> }.into_any(),
            }}
        </main>
    }
}
