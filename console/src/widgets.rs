//! Small pieces every page uses: error banners, empty states, state badges, sparklines.

use leptos::prelude::*;
use switchyard_client::DeliveryState;

use crate::api::ApiFailure;

/// An API failure in words, or nothing.
#[component]
pub(crate) fn ErrorBanner(error: RwSignal<Option<ApiFailure>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! {
                <div class="banner error" role="alert" data-code=e.code.clone()>
                    {e.explain()}
                </div>
            }
        })
    }
}

/// A one-line success note, or nothing.
#[component]
pub(crate) fn Notice(notice: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        notice
            .get()
            .map(|text| view! { <div class="banner ok">{text}</div> })
    }
}

/// What an empty list means and what to do next.
#[component]
pub(crate) fn EmptyState(title: &'static str, children: Children) -> impl IntoView {
    view! {
        <div class="empty">
            <strong>{title}</strong>
            <p>{children()}</p>
        </div>
    }
}

/// A delivery state as a coloured label.
#[component]
pub(crate) fn StateBadge(state: DeliveryState) -> impl IntoView {
    let (class, label) = match state {
        DeliveryState::Ready => ("badge ready", "ready"),
        DeliveryState::Delayed => ("badge delayed", "delayed"),
        DeliveryState::InFlight => ("badge in-flight", "in flight"),
        DeliveryState::BehindKey => ("badge delayed", "behind its key"),
        DeliveryState::Acked => ("badge acked", "acked"),
        DeliveryState::Expired => ("badge expired", "expired"),
        DeliveryState::Discarded => ("badge expired", "discarded"),
    };
    view! { <span class=class>{label}</span> }
}

/// A small line chart of the last values (oldest first), scaled to its largest value.
#[component]
pub(crate) fn Sparkline(
    values: Vec<f64>,
    #[prop(default = 140)] width: u32,
    #[prop(default = 30)] height: u32,
) -> impl IntoView {
    let (w, h) = (f64::from(width), f64::from(height));
    let max = values.iter().copied().fold(0.0_f64, f64::max).max(1.0);
    let step = if values.len() > 1 {
        w / (values.len() - 1) as f64
    } else {
        w
    };
    let points: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64 * step, h - 2.0 - v / max * (h - 4.0)))
        .collect();
    let line = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let area = match (points.first(), points.last()) {
        (Some(first), Some(last)) => {
            let edge: String = points
                .iter()
                .map(|(x, y)| format!(" L{x:.1},{y:.1}"))
                .collect();
            format!("M{:.1},{h}{edge} L{:.1},{h} Z", first.0, last.0)
        }
        _ => String::new(),
    };
    view! {
        <svg
            class="spark"
            width=width
            height=height
            viewBox=format!("0 0 {width} {height}")
            preserveAspectRatio="none"
        >
            <path class="spark-area" d=area />
            <polyline class="spark-line" points=line />
        </svg>
    }
}

/// A table with a header row; each column is a title and whether it holds numbers (right
/// aligned).
#[component]
pub(crate) fn DataTable(
    #[prop(optional)] id: Option<&'static str>,
    columns: &'static [(&'static str, bool)],
    children: Children,
) -> impl IntoView {
    let head = columns
        .iter()
        .map(|&(title, numeric)| view! { <th class:num=numeric>{title}</th> })
        .collect_view();
    view! {
        <table class="data" id=id>
            <thead>
                <tr>{head}</tr>
            </thead>
            <tbody>{children()}</tbody>
        </table>
    }
}

/// A message id linking to its lookup page.
#[component]
pub(crate) fn MessageIdCell(id: String) -> impl IntoView {
    view! {
        <td>
            <a class="mono" href=format!("#/messages/{id}")>{id.clone()}</a>
        </td>
    }
}

/// The first characters of a message's payload.
#[component]
pub(crate) fn PayloadCell(preview: String) -> impl IntoView {
    let title = preview.clone();
    view! {
        <td class="payload">
            <code title=title>{preview}</code>
        </td>
    }
}
