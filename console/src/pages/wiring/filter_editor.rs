//! The filter editor: a pattern in a text area, checked as you type, first as JSON here,
//! then by the server (`POST /v1/filters/validate`), which answers as creating the
//! subscription would; a valid draft is then tried on the topic's newest archived messages
//! (`POST /v1/topics/{topic}/preview`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{FilterValidation, PreviewRequest, PreviewResponse, ValidateFilter};

use crate::api::{self, ApiFailure};
use crate::format;

/// How many of the topic's newest archived messages a draft is tried on.
const PREVIEW_LIMIT: u32 = 100;

/// What trying a valid draft on recent messages showed.
#[derive(Debug, Clone)]
enum Preview {
    /// Matches among the newest archived messages.
    Tried(PreviewResponse),
    /// The topic keeps no archive to try it on.
    NoArchive,
    /// The preview failed; in words.
    Failed(String),
}

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
    /// The topic whose archive a valid draft is tried on (empty: none chosen yet).
    #[prop(into)]
    topic: Signal<String>,
) -> impl IntoView {
    // Answers can arrive out of order: only the latest edit's answer counts.
    let edits = StoredValue::new(0u64);
    let preview = RwSignal::new(None::<Preview>);
    Effect::new(move |_| {
        let draft = text.get();
        let topic = topic.get();
        edits.update_value(|n| *n += 1);
        let edit = edits.get_value();
        preview.set(None);
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
                    Ok(_) => FilterCheck::Valid(pattern.clone()),
                    Err(e) => FilterCheck::Invalid(e.explain()),
                };
            let valid = matches!(verdict, FilterCheck::Valid(_));
            if edits.get_value() != edit {
                return;
            }
            check.set(verdict);
            if !valid || topic.is_empty() {
                return;
            }
            let tried = try_on_archive(&topic, pattern).await;
            if edits.get_value() == edit {
                preview.set(Some(tried));
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
        {move || preview.get().map(|p| view! { <PreviewNote preview=p /> })}
    }
}

async fn try_on_archive(topic: &str, filter: serde_json::Value) -> Preview {
    let path = format!("/v1/topics/{}/preview", api::segment(topic));
    let body = PreviewRequest {
        filter,
        limit: Some(PREVIEW_LIMIT),
    };
    match api::post::<_, PreviewResponse>(&path, &body).await {
        Ok(answer) => Preview::Tried(answer),
        Err(ApiFailure { code, .. }) if code == "archive_not_enabled" => Preview::NoArchive,
        Err(e) => Preview::Failed(e.explain()),
    }
}

/// How a draft fares on recent messages, with a few it matches.
#[component]
fn PreviewNote(preview: Preview) -> impl IntoView {
    match preview {
        Preview::Tried(answer) if answer.scanned == 0 => view! {
            <p class="preview muted">"The topic's archive is empty: publish something to preview the filter on it."</p>
        }
        .into_any(),
        Preview::Tried(answer) => {
            let examples = answer
                .examples
                .iter()
                .take(3)
                .map(|m| {
                    let text = format::payload_text(m.payload.as_deref(), m.payload_base64.as_deref());
                    view! { <li><code>{text}</code></li> }
                })
                .collect_view();
            view! {
                <div class="preview">
                    <p>
                        "Matches " <strong class="matched">{format::count(answer.matched)}</strong>
                        " of the last " {format::count(answer.scanned)} " messages published to the topic."
                    </p>
                    <ul class="examples">{examples}</ul>
                </div>
            }
            .into_any()
        }
        Preview::NoArchive => view! {
            <p class="preview muted">
                "This topic keeps no archive, so the filter cannot be tried on recent messages. Create topics with an archive to preview filters."
            </p>
        }
        .into_any(),
        Preview::Failed(why) => view! { <p class="preview muted">"No preview: " {why}</p> }.into_any(),
    }
}
