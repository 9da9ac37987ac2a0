//! What the token may do, as buttons show it: an action its scopes do not allow is drawn
//! disabled, naming the scope it needs. The check is the server's own ([`Grants`]) on the
//! scopes `GET /v1/whoami` listed, so a button is disabled exactly when the server would
//! answer `403 forbidden` (which it still does, should the two ever differ).

use leptos::prelude::*;
use switchyard_client::{Action, Grants, Kind};

use crate::session::Session;

/// One thing an action needs: `action` on the `kind` resource `name`. An empty name is one
/// not typed or chosen yet: for now, any resource of that kind will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Need {
    action: Action,
    kind: Kind,
    name: String,
}

/// `action` on the `kind` resource `name`.
pub(crate) fn need(action: Action, kind: Kind, name: impl Into<String>) -> Need {
    Need {
        action,
        kind,
        name: name.into(),
    }
}

/// The first scope `grants` lack for `needs`, named as the server names it.
pub(crate) fn missing(grants: &Grants, needs: &[Need]) -> Option<String> {
    needs.iter().find_map(|need| {
        let name = need.name.trim();
        let allowed = if name.is_empty() {
            grants.covers(need.action, need.kind)
        } else {
            grants.allows(need.action, need.kind, name)
        };
        let shown = if name.is_empty() { "<name>" } else { name };
        (!allowed).then(|| Grants::needed(need.action, need.kind, shown))
    })
}

/// Whether the signed-in token may do one action and, if not, the scope it lacks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Permit(Signal<Option<String>>);

impl Permit {
    /// For needs that follow a form (a typed name, a chosen queue): `needs` is tracked.
    pub(crate) fn new(needs: impl Fn() -> Vec<Need> + Send + Sync + 'static) -> Self {
        let session = Session::get();
        Self(Signal::derive(move || {
            let needs = needs();
            session.lacks(|grants| missing(grants, &needs))
        }))
    }

    /// For one fixed need: `action` on the `kind` resource `name`.
    pub(crate) fn to(action: Action, kind: Kind, name: &str) -> Self {
        let needs = vec![need(action, kind, name)];
        Self::new(move || needs.clone())
    }

    /// The scope the token lacks, tracked; `None` when it may.
    pub(crate) fn lacks(self) -> Option<String> {
        self.0.get()
    }
}

/// A button for an action the token may lack the scope for: disabled then, with a title
/// naming the scope and, with `hint`, a note beside it that says so.
#[component]
pub(crate) fn ScopedButton(
    permit: Permit,
    children: Children,
    #[prop(optional)] id: Option<&'static str>,
    #[prop(default = "")] class: &'static str,
    /// What the button does (its tooltip while allowed).
    #[prop(optional)]
    title: Option<&'static str>,
    /// A form's submit button; otherwise a plain button that runs `on_click`.
    #[prop(optional)]
    submit: bool,
    #[prop(optional)] on_click: Option<Callback<()>>,
    /// Disabled for another reason too (an upload under way).
    #[prop(optional, into)]
    busy: Signal<bool>,
    /// Says which scope is missing in the page, not only in the tooltip.
    #[prop(optional)]
    hint: bool,
) -> impl IntoView {
    let tooltip = move || match permit.lacks() {
        Some(scope) => Some(format!("Your token lacks the scope {scope}")),
        None => title.map(String::from),
    };
    let note = move || {
        hint.then(|| permit.lacks()).flatten().map(|scope| {
            view! {
                <span class="needs-scope">"needs " <code>{scope}</code></span>
            }
        })
    };
    view! {
        <button
            type=if submit { "submit" } else { "button" }
            id=id
            class=class
            title=tooltip
            data-needs=move || permit.lacks()
            prop:disabled=move || permit.lacks().is_some() || busy.get()
            on:click=move |_| {
                if let Some(on_click) = on_click {
                    on_click.run(());
                }
            }
        >
            {children()}
        </button>
        {note}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_lacking_scope_is_named_as_the_server_names_it() {
        let grants = Grants::parse(&["manage:queue:mail-*", "read:*:*"]).expect("scopes");
        let queue = |name: &str| need(Action::Manage, Kind::Queue, name);
        assert_eq!(missing(&grants, &[queue("mail-eu")]), None);
        assert_eq!(missing(&grants, &[queue("")]), None, "some queue will do");
        assert_eq!(
            missing(&grants, &[queue("mail-eu"), queue("orders")]),
            Some("manage:queue:orders".into())
        );
        assert_eq!(
            missing(&grants, &[need(Action::Manage, Kind::Topic, " ")]),
            Some("manage:topic:<name>".into())
        );
        assert_eq!(missing(&Grants::everything(), &[queue("orders")]), None);
        assert_eq!(
            missing(&Grants::default(), &[need(Action::Read, Kind::Any, "x")]),
            Some("read:*:x".into())
        );
    }
}

/// A queue's Purge button (`id`), which asks first: its confirm button (`{id}-confirm`)
/// purges the queue at `queue_path` (`/v1/queues/{q}`), says how many messages went in
/// `notice` (or why not in `error`) and then runs `purged`.
#[component]
pub(crate) fn PurgeButton(
    permit: Permit,
    id: &'static str,
    queue_path: String,
    notice: RwSignal<Option<String>>,
    error: RwSignal<Option<crate::api::ApiFailure>>,
    purged: Callback<()>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let path = StoredValue::new(format!("{queue_path}/purge"));
    let purge = move |_| {
        confirming.set(false);
        leptos::task::spawn_local(async move {
            let body = serde_json::json!({});
            let answer =
                crate::api::post::<_, switchyard_client::PurgeResponse>(&path.get_value(), &body)
                    .await;
            match answer {
                Ok(done) => {
                    error.set(None);
                    notice.set(Some(format!(
                        "Purged {} messages.",
                        crate::format::count(done.purged)
                    )));
                    purged.run(());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let confirm_id = format!("{id}-confirm");
    move || {
        if confirming.get() {
            view! {
                <span class="confirm">
                    "Delete every message in this queue?"
                    <button class="danger" id=confirm_id.clone() on:click=purge>"Yes, purge"</button>
                    <button class="secondary" on:click=move |_| confirming.set(false)>"Keep them"</button>
                </span>
            }
            .into_any()
        } else {
            view! {
                <ScopedButton
                    permit=permit
                    class="danger"
                    id=id
                    hint=true
                    on_click=Callback::new(move |()| confirming.set(true))
                >
                    "Purge…"
                </ScopedButton>
            }
            .into_any()
        }
    }
}
