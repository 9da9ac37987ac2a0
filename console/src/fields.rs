//! Form pieces the pages share: labelled fields, drop-downs, numbers read from text, and
//! sending a create request with its error shown in the form.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::permit::{Permit, ScopedButton};

/// Sends a create request; on success clears the form and reloads the page's data, on
/// failure puts the API's error, in words, into `error`.
pub(crate) fn submit<B, T>(
    path: &'static str,
    body: B,
    error: RwSignal<Option<String>>,
    done: impl FnOnce(T) + 'static,
    reload: Callback<()>,
) where
    B: serde::Serialize + 'static,
    T: serde::de::DeserializeOwned + 'static,
{
    spawn_local(async move {
        match api::post::<B, T>(path, &body).await {
            Ok(created) => {
                error.set(None);
                done(created);
                reload.run(());
            }
            Err(e) => error.set(Some(e.explain())),
        }
    });
}

pub(crate) fn form_error(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|e| view! { <p class="form-error" role="alert">{e}</p> })
    }
}

/// A labelled text input bound to `value`.
#[component]
pub(crate) fn TextField(
    label: &'static str,
    name: &'static str,
    placeholder: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <input
                name=name
                placeholder=placeholder
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        </label>
    }
}

/// A labelled drop-down of `options`, with a first entry `none` (the empty value).
#[component]
pub(crate) fn Choice(
    label: &'static str,
    name: &'static str,
    none: &'static str,
    value: RwSignal<String>,
    options: Signal<Vec<String>>,
) -> impl IntoView {
    let options = move || {
        options
            .get()
            .into_iter()
            .map(|option| view! { <option value=option.clone()>{option.clone()}</option> })
            .collect_view()
    };
    view! {
        <label>
            {label}
            <select
                name=name
                prop:value=move || value.get()
                on:change=move |ev| value.set(event_target_value(&ev))
            >
                <option value="">{none}</option>
                {options}
            </select>
        </label>
    }
}

/// An optional whole number from a form field: empty is `None`.
pub(crate) fn optional_number<T: std::str::FromStr>(
    text: &str,
    what: &str,
) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| format!("{what} must be a whole number."))
}

/// A labelled checkbox bound to `value`.
#[component]
pub(crate) fn CheckField(
    label: &'static str,
    name: &'static str,
    value: RwSignal<bool>,
) -> impl IntoView {
    view! {
        <label class="check">
            <input
                type="checkbox"
                name=name
                prop:checked=move || value.get()
                on:change=move |ev| value.set(event_target_checked(&ev))
            />
            {label}
        </label>
    }
}

/// An edit form's buttons: save (submits the form, if `permit` allows) and cancel.
#[component]
pub(crate) fn SaveOrCancel(
    save: &'static str,
    permit: Permit,
    cancel: Callback<()>,
) -> impl IntoView {
    view! {
        <div class="actions">
            <ScopedButton permit=permit submit=true hint=true>{save}</ScopedButton>
            <button type="button" class="secondary" on:click=move |_| cancel.run(())>
                "Cancel"
            </button>
        </div>
    }
}

/// Sends an edit (`PATCH path`); the stored result goes to `saved`, a refusal in words to
/// `error`.
pub(crate) fn send_patch<B, T>(
    path: String,
    body: B,
    error: RwSignal<Option<String>>,
    saved: Callback<T>,
) where
    B: serde::Serialize + 'static,
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    spawn_local(async move {
        match api::patch::<B, T>(&path, &body).await {
            Ok(stored) => saved.run(stored),
            Err(e) => error.set(Some(e.explain())),
        }
    });
}
