//! The filter editor: a pattern in a text area, checked as you type, first as JSON here,
//! then by the server (`POST /v1/filters/validate`), which answers as creating the
//! subscription would.

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{FilterValidation, ValidateFilter};

use crate::api;

/// What the editor knows about its text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FilterCheck {
    /// No filter: every message matches.
    Empty,
    /// Waiting for the server's answer.
    Checking,
    /// The server accepts it.
    Valid(serde_json::Value),
    /// Not JSON, or refused by the server; in words.
    Invalid(String),
}

impl FilterCheck {
    /// The filter to send, or why there is none to send. `Ok(None)`: no filter.
    pub(crate) fn filter(&self) -> Result<Option<serde_json::Value>, String> {
        match self {
            FilterCheck::Empty => Ok(None),
            FilterCheck::Valid(value) => Ok(Some(value.clone())),
            FilterCheck::Checking => Err("The filter is still being checked.".into()),
            FilterCheck::Invalid(why) => Err(why.clone()),
        }
    }
}

/// A text area for a filter pattern with a live verdict under it.
#[component]
pub(crate) fn FilterEditor(
    text: RwSignal<String>,
    check: RwSignal<FilterCheck>,
    #[prop(into)] id: String,
) -> impl IntoView {
    // Answers can arrive out of order: only the latest edit's answer counts.
    let edits = StoredValue::new(0u64);
    Effect::new(move |_| {
        let draft = text.get();
        edits.update_value(|n| *n += 1);
        let edit = edits.get_value();
        if draft.trim().is_empty() {
            check.set(FilterCheck::Empty);
            return;
        }
        let pattern = match serde_json::from_str::<serde_json::Value>(&draft) {
            Ok(pattern) => pattern,
            Err(e) => {
                check.set(FilterCheck::Invalid(format!("Not valid JSON yet: {e}")));
                return;
            }
        };
        check.set(FilterCheck::Checking);
        spawn_local(async move {
            let body = ValidateFilter {
                filter: pattern.clone(),
            };
            let verdict =
                match api::post::<_, FilterValidation>("/v1/filters/validate", &body).await {
                    Ok(_) => FilterCheck::Valid(pattern),
                    Err(e) => FilterCheck::Invalid(e.explain()),
                };
            if edits.get_value() == edit {
                check.set(verdict);
            }
        });
    });
    let verdict = move || {
        match check.get() {
        FilterCheck::Empty => view! {
            <p class="verdict muted">"No filter: every message published to the topic is delivered."</p>
        }
            .into_any(),
        FilterCheck::Checking => view! { <p class="verdict muted">"Checking…"</p> }.into_any(),
        FilterCheck::Valid(_) => view! { <p class="verdict valid">"✓ Valid filter"</p> }.into_any(),
        FilterCheck::Invalid(why) => view! { <p class="verdict invalid" role="alert">"✗ " {why}</p> }
            .into_any(),
    }
    };
    view! {
        <textarea
            id=id
            class="filter"
            rows="5"
            spellcheck="false"
            placeholder=r#"{"attributes": {"kind": ["signup"]}, "payload": {"plan": [{"prefix": "pro"}]}}"#
            prop:value=move || text.get()
            on:input=move |ev| text.set(event_target_value(&ev))
        ></textarea>
        {verdict}
    }
}
