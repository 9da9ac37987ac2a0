//! Message lookup: paste an id, see in which queues the message is and in which state
//! (`GET /v1/messages/{id}`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::MessageStatus;

use crate::api::{self, ApiFailure};
use crate::format;
use crate::widgets::{DataTable, EmptyState, ErrorBanner, StateBadge};

/// The Message lookup page; `id` comes from the address (`#/messages/ID`).
#[component]
pub(crate) fn MessagePage(id: Option<String>) -> impl IntoView {
    let input = RwSignal::new(id.clone().unwrap_or_default());
    let status = RwSignal::new(None::<MessageStatus>);
    let error = RwSignal::new(None::<ApiFailure>);
    if let Some(id) = id.clone() {
        spawn_local(async move {
            match api::get::<MessageStatus>(&format!("/v1/messages/{}", api::segment(&id))).await {
                Ok(found) => status.set(Some(found)),
                Err(e) => error.set(Some(e)),
            }
        });
    }
    let look_up = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let id = input.get_untracked().trim().to_string();
        if !id.is_empty() {
            let _ = window()
                .location()
                .set_hash(&format!("#/messages/{}", api::segment(&id)));
        }
    };
    view! {
        <div class="page-head">
            <h1>"Message lookup"</h1>
            <span class="muted">"Where a message is, queue by queue."</span>
        </div>
        <form class="lookup" id="message-lookup" on:submit=look_up>
            <input
                name="message-id"
                placeholder="Paste a message id, e.g. 01JD3X6QZ8R7T0A2B4C6D8E0F1"
                prop:value=move || input.get()
                on:input=move |ev| input.set(event_target_value(&ev))
            />
            <button type="submit">"Look up"</button>
        </form>
        <ErrorBanner error=error />
        {move || match status.get() {
            Some(found) => view! { <StatusView status=found /> }.into_any(),
            None if id.is_none() => view! {
                <EmptyState title="Paste a message id above">
                    "Publishing returns the id (" <code>"{\"id\": \"01J…\"}"</code>
                    "); queue pages list the ids of the messages they hold."
                </EmptyState>
            }
                .into_any(),
            None => ().into_any(),
        }}
    }
}

const DELIVERY_COLUMNS: &[(&str, bool)] = &[
    ("Queue", false),
    ("State", false),
    ("Receives", true),
    ("When", false),
    ("Dead letter", false),
];

#[component]
fn StatusView(status: MessageStatus) -> impl IntoView {
    let rows = status
        .deliveries
        .iter()
        .map(|d| {
            let reason = d.dead_letter.as_ref().map(|dl| {
                format!(
                    "dead-lettered from {} after {} deliveries: {}",
                    dl.source_queue, dl.receive_count, dl.reason
                )
            });
            let when = match d.settled_at_ms {
                Some(at) => format!("left {}", format::ago(at)),
                None => format!("visible {}", format::ago(d.visible_at_ms)),
            };
            view! {
                <tr data-queue=d.queue.clone()>
                    <td>
                        <a href=format!("#/queues/{}", d.queue)>{d.queue.clone()}</a>
                    </td>
                    <td>
                        <StateBadge state=d.state />
                    </td>
                    <td class="num">{d.receive_count}</td>
                    <td>{when}</td>
                    <td class="reason">{reason.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card detail" id="message-status">
            <dl class="facts">
                <dt>"Id"</dt>
                <dd>
                    <code>{status.id.clone()}</code>
                </dd>
                <dt>"Topic"</dt>
                <dd>{status.topic.clone().unwrap_or_else(|| "(sent straight to a queue)".into())}</dd>
                <dt>"Published"</dt>
                <dd>
                    {format::timestamp(status.published_at_ms)} " (" {format::ago(status.published_at_ms)} ")"
                </dd>
            </dl>
        </section>
        {if status.deliveries.is_empty() {
            view! {
                <EmptyState title="No queue holds it">
                    "The topic had no subscription whose filter matched when it was published."
                </EmptyState>
            }
                .into_any()
        } else {
            view! {
                <DataTable id="deliveries" columns=DELIVERY_COLUMNS>
                    {rows}
                </DataTable>
            }
                .into_any()
        }}
    }
}
