//! Tokens (for `admin:*:*`): every token with its scopes, expiry, publish quota and who made
//! it (`GET /v1/tokens`), revoking one once confirmed (`DELETE /v1/tokens/{id}`), and in
//! `form`, making one (`POST /v1/tokens`), its secret shown this once.

mod form;

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{CreatedToken, PublishRate, TokenInfo, TokenList};

use crate::api::{self, ApiFailure};
use crate::format;
use crate::session::Session;
use crate::widgets::{DataTable, EmptyState, ErrorBanner, Notice};
use form::{NewSecret, NewTokenForm, ScopeGuide};

/// The Tokens page.
#[component]
pub(crate) fn TokensPage() -> impl IntoView {
    let tokens = RwSignal::new(None::<Vec<TokenInfo>>);
    let error = RwSignal::new(None::<ApiFailure>);
    let notice = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<CreatedToken>);
    let reload = Callback::new(move |()| {
        spawn_local(async move {
            match api::get::<TokenList>("/v1/tokens").await {
                Ok(list) => {
                    tokens.set(Some(list.tokens));
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    reload.run(());
    view! {
        <div class="page-head">
            <h1>"Tokens"</h1>
            <span class="muted">"Who may call the API, and what for. Every request carries one."</span>
        </div>
        <ErrorBanner error=error />
        <Notice notice=notice />
        {move || created.get().map(|token| {
            view! { <NewSecret created=token dismiss=Callback::new(move |()| created.set(None)) /> }
        })}
        {move || tokens.get().map(|list| view! { <TokenTable tokens=list reload=reload error=error notice=notice /> })}
        <section class="forms">
            <NewTokenForm created=created reload=reload />
            <ScopeGuide />
        </section>
    }
}

const COLUMNS: &[(&str, bool)] = &[
    ("Token", false),
    ("Scopes", false),
    ("Expires", false),
    ("Publish quota", false),
    ("Created", false),
    ("", false),
];

/// Every token, oldest first.
#[component]
fn TokenTable(
    tokens: Vec<TokenInfo>,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    if tokens.is_empty() {
        return view! {
            <EmptyState title="No tokens">"Create one with the form below."</EmptyState>
        }
        .into_any();
    }
    let rows = tokens
        .into_iter()
        .map(|token| view! { <TokenRow token=token reload=reload error=error notice=notice /> })
        .collect_view();
    view! {
        <DataTable id="tokens" columns=COLUMNS>
            {rows}
        </DataTable>
    }
    .into_any()
}

/// One token, with a revoke button that asks first.
#[component]
fn TokenRow(
    token: TokenInfo,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let yours = Session::get().token_id().as_deref() == Some(token.id.as_str());
    let path = StoredValue::new(format!("/v1/tokens/{}", api::segment(&token.id)));
    let name = StoredValue::new(token.name.clone());
    let revoke = move |_| {
        confirming.set(false);
        spawn_local(async move {
            match api::delete(&path.get_value()).await {
                Ok(()) => {
                    let name = name.get_value();
                    notice.set(Some(format!(
                        "Revoked {name}: the server refuses it from now on."
                    )));
                    error.set(None);
                    reload.run(());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let question = if yours {
        "Revoke your own token? The console logs out."
    } else {
        "Revoke it now?"
    };
    let action = move || {
        if confirming.get() {
            view! {
                <span class="confirm">
                    {question}
                    <button class="danger small-button revoke-confirm" on:click=revoke>"Yes, revoke"</button>
                    <button class="secondary small-button" on:click=move |_| confirming.set(false)>"Keep it"</button>
                </span>
            }
            .into_any()
        } else {
            view! {
                <button class="link danger revoke" title="Revoke this token" on:click=move |_| confirming.set(true)>
                    "revoke…"
                </button>
            }
            .into_any()
        }
    };
    let scopes = token
        .scopes
        .iter()
        .map(|scope| view! { <code class="scope">{scope.clone()}</code> })
        .collect_view();
    view! {
        <tr data-token=token.id.clone()>
            <td>
                <strong>{token.name.clone()}</strong>
                {yours.then(|| view! { <span class="badge in-flight you">"you"</span> })}
                <span class="sub mono">{token.id.clone()}</span>
            </td>
            <td class="scopes">{scopes}</td>
            <td>{expiry(token.expires_at_ms)}</td>
            <td>{quota(token.publish_rate)}</td>
            <td title=format::timestamp(token.created_at_ms)>
                {format::ago(token.created_at_ms)}
                <span class="sub">"by " {token.created_by.clone()}</span>
            </td>
            <td class="row-end">{action}</td>
        </tr>
    }
}

/// When a token stops working, in words.
fn expiry(expires_at_ms: Option<u64>) -> AnyView {
    match expires_at_ms {
        None => view! { <span class="muted">"never"</span> }.into_any(),
        Some(at) if (at as f64) <= format::now_ms() => {
            view! { <span class="badge expired">"expired"</span> <span class="sub">{format::timestamp(at)}</span> }
                .into_any()
        }
        Some(at) => view! { {format::ago(at)} <span class="sub">{format::timestamp(at)}</span> }.into_any(),
    }
}

/// A publish quota in words: `100/s, bursts of 500`, or `unlimited`.
fn quota(rate: Option<PublishRate>) -> String {
    match rate {
        None => "unlimited".into(),
        Some(PublishRate {
            per_second,
            burst: Some(burst),
        }) if burst != per_second => format!(
            "{}/s, bursts of {}",
            format::count(per_second.into()),
            format::count(burst.into())
        ),
        Some(rate) => format!("{}/s", format::count(rate.per_second.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_read_as_rates() {
        assert_eq!(quota(None), "unlimited");
        let rate = |per_second, burst| Some(PublishRate { per_second, burst });
        assert_eq!(quota(rate(100, None)), "100/s");
        assert_eq!(quota(rate(100, Some(100))), "100/s");
        assert_eq!(quota(rate(2000, Some(5000))), "2,000/s, bursts of 5,000");
    }
}
