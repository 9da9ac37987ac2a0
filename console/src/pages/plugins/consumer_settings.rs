//! A consumer's settings edited in place (`PATCH /v1/consumers/{name}`): which plugin it
//! runs, its batch size, bytes and window, concurrency and deadline. Only changed fields are sent.

use leptos::prelude::*;
use switchyard_client::{Action, BatchSettings, Consumer, Kind, PatchConsumer};

use crate::api;
use crate::fields::{Choice, SaveOrCancel, TextField, form_error, optional_number, send_patch};
use crate::permit::{Permit, need};

/// The edit form; `saved` runs once the server stored the change.
#[component]
pub(crate) fn ConsumerSettingsForm(
    consumer: Consumer,
    plugins: Signal<Vec<String>>,
    saved: Callback<Consumer>,
    cancel: Callback<()>,
) -> impl IntoView {
    let original = StoredValue::new(consumer.clone());
    let plugin = RwSignal::new(consumer.plugin.clone());
    let batch = RwSignal::new(consumer.batch.max_messages.to_string());
    let bytes = RwSignal::new(consumer.batch.max_bytes.to_string());
    let wait = RwSignal::new(consumer.batch.max_wait_ms.to_string());
    let concurrency = RwSignal::new(consumer.concurrency.to_string());
    let timeout = RwSignal::new(consumer.timeout_ms.to_string());
    let error = RwSignal::new(None::<String>);
    // Switching to another plugin needs deploy on that plugin too.
    let permit = Permit::new(move || {
        let was = original.get_value();
        let mut needs = vec![need(Action::Deploy, Kind::Consumer, was.name.clone())];
        let chosen = plugin.get();
        if chosen != was.plugin {
            needs.push(need(Action::Deploy, Kind::Plugin, chosen));
        }
        needs
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let was = original.get_value();
        let form = Form {
            plugin: plugin.get_untracked(),
            batch: batch.get_untracked(),
            bytes: bytes.get_untracked(),
            wait: wait.get_untracked(),
            concurrency: concurrency.get_untracked(),
            timeout: timeout.get_untracked(),
        };
        let patch = match form.changes(&was) {
            Ok(patch) => patch,
            Err(why) => return error.set(Some(why)),
        };
        let path = format!("/v1/consumers/{}", api::segment(&was.name));
        send_patch(path, patch, error, saved);
    };
    let title = format!("Consumer {}", consumer.name);
    view! {
        <form class="card form wide" id="consumer-settings" on:submit=save>
            <h3>{title}</h3>
            <div class="row">
                <Choice label="Plugin" name="plugin" none="Choose a plugin…" value=plugin options=plugins />
                <TextField label="Batch size (messages)" name="batch-size" placeholder="10" value=batch />
                <TextField label="Batch bytes" name="batch-bytes" placeholder="1048576" value=bytes />
                <TextField label="Batch window (ms)" name="batch-wait" placeholder="0" value=wait />
            </div>
            <div class="row">
                <TextField label="Concurrency" name="concurrency" placeholder="1" value=concurrency />
                <TextField label="Deadline per invocation (ms)" name="timeout" placeholder="5000" value=timeout />
            </div>
            {form_error(error)}
            <SaveOrCancel save="Save consumer" permit=permit cancel=cancel />
        </form>
    }
}

/// The form's fields as typed.
struct Form {
    plugin: String,
    batch: String,
    bytes: String,
    wait: String,
    concurrency: String,
    timeout: String,
}

impl Form {
    /// The fields that differ from `was`, as a patch; or why the form cannot be sent.
    fn changes(&self, was: &Consumer) -> Result<PatchConsumer, String> {
        let mut patch = PatchConsumer::default();
        let plugin = self.plugin.trim();
        if plugin.is_empty() {
            return Err("Choose the plugin this consumer runs.".into());
        }
        if plugin != was.plugin {
            patch.plugin = Some(plugin.to_string());
        }
        let max_messages = number::<u32>(&self.batch, "Batch size")?;
        let max_bytes = number::<u64>(&self.bytes, "Batch bytes")?;
        let max_wait_ms = number::<u64>(&self.wait, "Batch window")?;
        let batch = switchyard_client::Batching {
            max_messages,
            max_bytes,
            max_wait_ms,
        };
        if batch != was.batch {
            patch.batch = Some(BatchSettings {
                max_messages: Some(max_messages),
                max_bytes: Some(max_bytes),
                max_wait_ms: Some(max_wait_ms),
            });
        }
        let concurrency = number::<u32>(&self.concurrency, "Concurrency")?;
        if concurrency != was.concurrency {
            patch.concurrency = Some(concurrency);
        }
        let timeout_ms = number::<u64>(&self.timeout, "Deadline")?;
        if timeout_ms != was.timeout_ms {
            patch.timeout_ms = Some(timeout_ms);
        }
        Ok(patch)
    }
}

/// A whole number the form needs.
fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    optional_number(text, what)?.ok_or_else(|| format!("{what} must be a whole number."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer() -> Consumer {
        serde_json::from_value(serde_json::json!({
            "name": "runner",
            "queue": "work",
            "plugin": "worker",
            "batch": {"max_messages": 10, "max_bytes": 1_048_576, "max_wait_ms": 0},
            "concurrency": 1,
            "timeout_ms": 5_000,
            "memory_bytes": 67_108_864,
            "config": {},
            "allowed_hosts": [],
            "state": "running",
            "stats": {
                "invocations": 0, "messages": 0, "acked": 0, "retried": 0, "dead_lettered": 0,
                "published": 0, "in_flight": 0, "peak_in_flight": 0, "faults": {}
            },
            "created_at_ms": 0
        }))
        .expect("a consumer")
    }

    fn form(plugin: &str, batch: &str, concurrency: &str) -> Form {
        Form {
            plugin: plugin.into(),
            batch: batch.into(),
            bytes: "1048576".into(),
            wait: "0".into(),
            concurrency: concurrency.into(),
            timeout: "5000".into(),
        }
    }

    #[test]
    fn only_changed_fields_are_sent() {
        let was = consumer();
        let unchanged = form("worker", "10", "1").changes(&was).expect("valid");
        assert_eq!(
            serde_json::to_value(&unchanged).expect("json"),
            serde_json::json!({})
        );
        let patch = form("mailer", "20", "1").changes(&was).expect("valid");
        assert_eq!(
            serde_json::to_value(&patch).expect("json"),
            serde_json::json!({
                "plugin": "mailer",
                "batch": {"max_messages": 20, "max_bytes": 1_048_576, "max_wait_ms": 0}
            })
        );
    }

    #[test]
    fn missing_plugin_and_bad_numbers_are_refused() {
        let was = consumer();
        assert!(form("", "10", "1").changes(&was).is_err());
        assert!(form("worker", "ten", "1").changes(&was).is_err());
        assert!(form("worker", "10", "-1").changes(&was).is_err());
    }
}
