//! The SQS actions, each over the broker. Parameters are read from the JSON body by their
//! SQS names; numbers may come as numbers or strings, as SDKs send them.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use switchyard_client::{
    Action, CreateQueue, Message, PatchQueue, PublishMessage, Queue, ReceiveRequest,
};

use super::attributes::{self, MessageAttribute};
use super::{Context, Sqs, SqsError, empty};
use crate::broker::BrokerError;

const MAX_BATCH: usize = 10;
const MAX_VISIBILITY_S: u64 = 43_200;
const MAX_DELAY_S: u64 = 900;

pub(super) async fn run(
    sqs: &Sqs,
    cx: &Context,
    action: &str,
    input: Value,
) -> Result<Value, SqsError> {
    let input = Input(input);
    match action {
        "CreateQueue" => create_queue(sqs, cx, &input).await,
        "GetQueueUrl" => get_queue_url(sqs, cx, &input),
        "ListQueues" => list_queues(sqs, cx, &input),
        "GetQueueAttributes" => get_queue_attributes(sqs, cx, &input),
        "SetQueueAttributes" => set_queue_attributes(sqs, cx, &input).await,
        "DeleteQueue" => {
            let name = input.queue(cx, Action::Manage)?;
            sqs.broker.delete_queue(&name).await?;
            Ok(empty())
        }
        "PurgeQueue" => {
            let name = input.queue(cx, Action::Manage)?;
            sqs.broker.purge_queue(&name).await?;
            Ok(empty())
        }
        "ListDeadLetterSourceQueues" => dead_letter_sources(sqs, cx, &input),
        "SendMessage" => send_message(sqs, cx, &input).await,
        "SendMessageBatch" => send_message_batch(sqs, cx, &input).await,
        "ReceiveMessage" => receive_message(sqs, cx, &input).await,
        "DeleteMessage" => {
            let name = input.queue(cx, Action::Consume)?;
            let receipt = input.required_str("ReceiptHandle")?;
            delete(sqs, &name, receipt).await?;
            Ok(empty())
        }
        "DeleteMessageBatch" => {
            let name = input.queue(cx, Action::Consume)?;
            batch(sqs, &name, &input, Settle::Delete).await
        }
        "ChangeMessageVisibility" => {
            let name = input.queue(cx, Action::Consume)?;
            change_visibility(sqs, &name, &input).await?;
            Ok(empty())
        }
        "ChangeMessageVisibilityBatch" => {
            let name = input.queue(cx, Action::Consume)?;
            batch(sqs, &name, &input, Settle::ChangeVisibility).await
        }
        _ => Err(SqsError::sender(
            axum::http::StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("The action {action} is not valid for this endpoint."),
        )),
    }
}

/// A request body, read by parameter name.
struct Input(Value);

impl Input {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn str(&self, name: &str) -> Result<Option<&str>, SqsError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(SqsError::invalid(format!("{name} must be a string."))),
        }
    }

    fn required_str(&self, name: &str) -> Result<&str, SqsError> {
        self.str(name)?.ok_or_else(|| SqsError::missing(name))
    }

    fn number(&self, name: &str, max: u64) -> Result<Option<u64>, SqsError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let number = match value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match number {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(SqsError::invalid(format!(
                "Value {value} for parameter {name} is invalid. Reason: must be between 0 and {max}."
            ))),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, SqsError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| SqsError::invalid(format!("{name} must list strings.")))
                })
                .collect(),
            Some(_) => Err(SqsError::invalid(format!("{name} must be a list."))),
        }
    }

    fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, SqsError> {
        match self.get(name) {
            None => Ok(BTreeMap::new()),
            Some(value) => serde_json::from_value(value.clone())
                .map_err(|_| SqsError::invalid(format!("{name} must map names to strings."))),
        }
    }

    /// The queue `QueueUrl` names, once the caller may do `action` on it.
    fn queue(&self, cx: &Context, action: Action) -> Result<String, SqsError> {
        let url = self.required_str("QueueUrl")?;
        let name = url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        if name.is_empty() {
            return Err(SqsError::no_queue());
        }
        cx.require(action, name)?;
        Ok(name.to_string())
    }
}

// ---------------------------------------------------------------- queues

/// Queue settings as SQS attributes say them.
#[derive(Default, PartialEq)]
struct Settings {
    visibility_timeout_ms: Option<u64>,
    delay_ms: Option<u64>,
    retention_ms: Option<u64>,
    /// `Some(None)`: no dead-letter queue (an empty `RedrivePolicy`).
    redrive: Option<Option<(String, u32)>>,
}

fn settings(
    attributes: &BTreeMap<String, String>,
    max_message: usize,
) -> Result<Settings, SqsError> {
    let mut settings = Settings::default();
    for (name, value) in attributes {
        let seconds = |max: u64, min: u64| -> Result<u64, SqsError> {
            value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| invalid_attribute(name, value))
        };
        match name.as_str() {
            "VisibilityTimeout" => {
                settings.visibility_timeout_ms = Some(seconds(MAX_VISIBILITY_S, 0)? * 1000)
            }
            "DelaySeconds" => settings.delay_ms = Some(seconds(MAX_DELAY_S, 0)? * 1000),
            "MessageRetentionPeriod" => {
                settings.retention_ms = Some(seconds(1_209_600, 60)? * 1000)
            }
            // The server's limit holds for every queue; a smaller one is refused.
            "MaximumMessageSize" => {
                if seconds(max_message as u64, 1024)? != max_message as u64 {
                    return Err(SqsError::invalid(format!(
                        "MaximumMessageSize is the server's max_message_bytes ({max_message}) for every queue"
                    )));
                }
            }
            "ReceiveMessageWaitTimeSeconds" => {
                if seconds(20, 0)? != 0 {
                    return Err(SqsError::invalid(
                        "ReceiveMessageWaitTimeSeconds: queues have no default long poll here; pass WaitTimeSeconds to ReceiveMessage",
                    ));
                }
            }
            "SqsManagedSseEnabled" if value == "false" => {}
            "RedrivePolicy" => settings.redrive = Some(redrive_policy(value)?),
            "FifoQueue"
            | "ContentBasedDeduplication"
            | "DeduplicationScope"
            | "FifoThroughputLimit" => {
                return Err(SqsError::invalid(format!(
                    "{name}: FIFO queues are not served by this endpoint yet"
                )));
            }
            _ => {
                return Err(SqsError::sender(
                    axum::http::StatusCode::BAD_REQUEST,
                    "InvalidAttributeName",
                    format!("Unknown Attribute {name}."),
                ));
            }
        }
    }
    Ok(settings)
}

fn invalid_attribute(name: &str, value: &str) -> SqsError {
    SqsError::sender(
        axum::http::StatusCode::BAD_REQUEST,
        "InvalidAttributeValue",
        format!("Invalid value for the parameter {name}: {value:?}."),
    )
}

/// `{"deadLetterTargetArn": "arn:aws:sqs:<region>:<account>:<name>", "maxReceiveCount": n}`
/// (or an empty text: none).
fn redrive_policy(text: &str) -> Result<Option<(String, u32)>, SqsError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let bad = || invalid_attribute("RedrivePolicy", text);
    let policy: Value = serde_json::from_str(text).map_err(|_| bad())?;
    let arn = policy["deadLetterTargetArn"].as_str().ok_or_else(bad)?;
    let target = arn
        .rsplit(':')
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(bad)?;
    let count = match &policy["maxReceiveCount"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let count = count.filter(|n| (1..=1000).contains(n)).ok_or_else(bad)?;
    Ok(Some((target.to_string(), count as u32)))
}

/// The settings a queue has, as [`settings`] would read them back.
fn settings_of(queue: &Queue) -> Settings {
    Settings {
        visibility_timeout_ms: Some(queue.visibility_timeout_ms),
        delay_ms: Some(queue.delay_ms),
        retention_ms: Some(queue.retention_ms),
        redrive: Some(queue.dead_letter_queue.clone().zip(queue.max_receive_count)),
    }
}

async fn create_queue(sqs: &Sqs, cx: &Context, input: &Input) -> Result<Value, SqsError> {
    let name = input.required_str("QueueName")?;
    let valid = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(SqsError::invalid(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    cx.require(Action::Manage, name)?;
    let wanted = settings(&input.string_map("Attributes")?, sqs.max_message_bytes)?;
    let (dead_letter_queue, max_receive_count) = match &wanted.redrive {
        Some(Some((target, count))) => (Some(target.clone()), Some(*count)),
        _ => (None, None),
    };
    let request = CreateQueue {
        name: name.to_string(),
        visibility_timeout_ms: wanted.visibility_timeout_ms,
        delay_ms: wanted.delay_ms,
        retention_ms: wanted.retention_ms,
        dead_letter_queue,
        max_receive_count,
        ..CreateQueue::default()
    };
    match sqs.broker.create_queue(request).await {
        Ok(_) => {}
        // Creating a queue again with the same attributes answers its URL, as SQS does.
        Err(BrokerError::QueueExists { .. }) => {
            let existing = settings_of(&sqs.broker.get_queue(name)?);
            let same = |given: &Option<u64>, has: &Option<u64>| given.is_none() || given == has;
            let redrive_same = wanted.redrive.is_none() || wanted.redrive == existing.redrive;
            if !(same(
                &wanted.visibility_timeout_ms,
                &existing.visibility_timeout_ms,
            ) && same(&wanted.delay_ms, &existing.delay_ms)
                && same(&wanted.retention_ms, &existing.retention_ms)
                && redrive_same)
            {
                return Err(BrokerError::QueueExists { name: name.into() }.into());
            }
        }
        Err(BrokerError::DeadLetterQueueNotFound { .. }) => {
            return Err(SqsError::invalid(
                "Value for parameter RedrivePolicy is invalid. Reason: Dead-letter target does not exist.",
            ));
        }
        Err(error) => return Err(error.into()),
    }
    Ok(json!({ "QueueUrl": cx.queue_url(name) }))
}

fn get_queue_url(sqs: &Sqs, cx: &Context, input: &Input) -> Result<Value, SqsError> {
    let name = input.required_str("QueueName")?;
    cx.require(Action::Read, name)?;
    sqs.broker.get_queue(name)?;
    Ok(json!({ "QueueUrl": cx.queue_url(name) }))
}

fn list_queues(sqs: &Sqs, cx: &Context, input: &Input) -> Result<Value, SqsError> {
    let prefix = input.str("QueueNamePrefix")?.unwrap_or("");
    let max = input.number("MaxResults", 1000)?;
    let after = input.str("NextToken")?;
    let mut names: Vec<String> = sqs
        .broker
        .list_queues()
        .into_iter()
        .map(|q| q.name)
        .filter(|n| n.starts_with(prefix))
        .filter(|n| {
            cx.principal
                .grants()
                .allows(Action::Read, switchyard_client::Kind::Queue, n)
        })
        .filter(|n| after.is_none_or(|after| n.as_str() > after))
        .collect();
    names.sort();
    let limit = max.map_or(1000, |m| m.max(1) as usize);
    let more = names.len() > limit;
    names.truncate(limit);
    let mut out = Map::new();
    out.insert(
        "QueueUrls".into(),
        names.iter().map(|n| cx.queue_url(n)).collect(),
    );
    if more && max.is_some() {
        out.insert("NextToken".into(), json!(names.last()));
    }
    Ok(Value::Object(out))
}

fn dead_letter_sources(sqs: &Sqs, cx: &Context, input: &Input) -> Result<Value, SqsError> {
    let name = input.queue(cx, Action::Read)?;
    sqs.broker.get_queue(&name)?;
    let mut sources: Vec<String> = sqs
        .broker
        .list_queues()
        .into_iter()
        .filter(|q| q.dead_letter_queue.as_deref() == Some(name.as_str()))
        .map(|q| q.name)
        .collect();
    sources.sort();
    Ok(json!({ "queueUrls": sources.iter().map(|n| cx.queue_url(n)).collect::<Vec<_>>() }))
}

fn get_queue_attributes(sqs: &Sqs, cx: &Context, input: &Input) -> Result<Value, SqsError> {
    let name = input.queue(cx, Action::Read)?;
    let queue = sqs.broker.get_queue(&name)?;
    let stats = queue.stats.clone().unwrap_or_default();
    let seconds = |ms: u64| (ms / 1000).to_string();
    let mut all: Vec<(&str, String)> = vec![
        ("QueueArn", cx.queue_arn(&name)),
        ("ApproximateNumberOfMessages", stats.ready.to_string()),
        (
            "ApproximateNumberOfMessagesNotVisible",
            stats.in_flight.to_string(),
        ),
        (
            "ApproximateNumberOfMessagesDelayed",
            (stats.delayed + stats.behind_key).to_string(),
        ),
        ("CreatedTimestamp", seconds(queue.created_at_ms)),
        ("LastModifiedTimestamp", seconds(queue.created_at_ms)),
        ("VisibilityTimeout", seconds(queue.visibility_timeout_ms)),
        ("DelaySeconds", seconds(queue.delay_ms)),
        ("MessageRetentionPeriod", seconds(queue.retention_ms)),
        ("MaximumMessageSize", sqs.max_message_bytes.to_string()),
        ("ReceiveMessageWaitTimeSeconds", "0".into()),
        ("SqsManagedSseEnabled", "false".into()),
    ];
    if let (Some(target), Some(count)) = (&queue.dead_letter_queue, queue.max_receive_count) {
        let policy =
            json!({ "deadLetterTargetArn": cx.queue_arn(target), "maxReceiveCount": count });
        all.push(("RedrivePolicy", policy.to_string()));
    }
    let wanted = input.strings("AttributeNames")?;
    let known = |n: &str| all.iter().any(|(name, _)| *name == n) || n == "RedrivePolicy";
    if let Some(unknown) = wanted.iter().find(|n| *n != "All" && !known(n)) {
        return Err(SqsError::sender(
            axum::http::StatusCode::BAD_REQUEST,
            "InvalidAttributeName",
            format!("Unknown Attribute {unknown}."),
        ));
    }
    let every = wanted.iter().any(|n| n == "All");
    let attributes: Map<String, Value> = all
        .into_iter()
        .filter(|(n, _)| every || wanted.iter().any(|w| w == n))
        .map(|(n, v)| (n.to_string(), Value::String(v)))
        .collect();
    Ok(json!({ "Attributes": attributes }))
}

async fn set_queue_attributes(sqs: &Sqs, cx: &Context, input: &Input) -> Result<Value, SqsError> {
    let name = input.queue(cx, Action::Manage)?;
    let given = input.string_map("Attributes")?;
    if given.is_empty() {
        return Err(SqsError::missing("Attributes"));
    }
    let wanted = settings(&given, sqs.max_message_bytes)?;
    let (dead_letter_queue, max_receive_count) = match wanted.redrive {
        None => (None, None),
        Some(None) => (Some(None), None),
        Some(Some((target, count))) => (Some(Some(target)), Some(count)),
    };
    let patch = PatchQueue {
        visibility_timeout_ms: wanted.visibility_timeout_ms,
        delay_ms: wanted.delay_ms,
        retention_ms: wanted.retention_ms,
        dead_letter_queue,
        max_receive_count,
        ..PatchQueue::default()
    };
    sqs.broker.patch_queue(&name, patch).await?;
    Ok(empty())
}

// ---------------------------------------------------------------- messages

/// A message to send, read from a `SendMessage` body or a batch entry; with what the
/// answer says of it.
struct Outgoing {
    message: PublishMessage,
    md5_of_body: String,
    md5_of_attributes: Option<String>,
}

fn outgoing(sqs: &Sqs, input: &Input) -> Result<Outgoing, SqsError> {
    let body = input.required_str("MessageBody")?;
    if body.is_empty() {
        return Err(SqsError::missing("MessageBody"));
    }
    if let Some(c) = body.chars().find(|c| !allowed_char(*c)) {
        return Err(SqsError::sender(
            axum::http::StatusCode::BAD_REQUEST,
            "InvalidMessageContents",
            format!("Invalid characters found: U+{:04X}.", c as u32),
        ));
    }
    let sent: BTreeMap<String, MessageAttribute> = match input.get("MessageAttributes") {
        None => BTreeMap::new(),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| SqsError::invalid(format!("MessageAttributes: {e}")))?,
    };
    let attribute_bytes: usize = sent
        .iter()
        .map(|(name, a)| {
            name.len()
                + a.data_type.len()
                + a.string_value.as_ref().map_or(0, String::len)
                + a.binary_value.as_ref().map_or(0, |b| b.len() / 4 * 3)
        })
        .sum();
    if body.len() + attribute_bytes > sqs.max_message_bytes {
        return Err(SqsError::invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
            sqs.max_message_bytes
        )));
    }
    if input.get("MessageDeduplicationId").is_some() {
        return Err(SqsError::invalid(
            "The request includes a parameter that is not valid for this queue type (MessageDeduplicationId).",
        ));
    }
    let delay = input.number("DelaySeconds", MAX_DELAY_S)?;
    let attributes = attributes::to_switchyard(&sent).map_err(SqsError::invalid)?;
    // A body that is a JSON object or array is kept as JSON (filters and plugins see its
    // fields), byte for byte; any other text is kept as bytes.
    let structured = matches!(body.trim_start().as_bytes().first(), Some(b'{' | b'['));
    let json = structured
        .then(|| serde_json::value::RawValue::from_string(body.to_string()).ok())
        .flatten();
    let (payload, payload_base64) = match json {
        Some(raw) => (Some(raw), None),
        None => (None, Some(BASE64.encode(body))),
    };
    let message = PublishMessage {
        payload,
        payload_base64,
        attributes,
        key: input.str("MessageGroupId")?.map(str::to_string),
        dedup_id: None,
        delay_ms: delay.map(|s| s * 1000),
    };
    Ok(Outgoing {
        message,
        md5_of_body: attributes::md5_of_body(body.as_bytes()),
        md5_of_attributes: attributes::md5_of_attributes(&sent),
    })
}

/// The characters SQS allows in a body.
fn allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn sent(id: String, out: &Outgoing) -> Map<String, Value> {
    let mut answer = Map::new();
    answer.insert("MessageId".into(), Value::String(id));
    answer.insert("MD5OfMessageBody".into(), json!(out.md5_of_body));
    if let Some(md5) = &out.md5_of_attributes {
        answer.insert("MD5OfMessageAttributes".into(), json!(md5));
    }
    answer
}

async fn send_message(sqs: &Sqs, cx: &Context, input: &Input) -> Result<Value, SqsError> {
    let name = input.queue(cx, Action::Publish)?;
    let out = outgoing(sqs, input)?;
    cx.principal.charge_publish(1)?;
    let mut ids = sqs
        .broker
        .send(&name, vec![out.message.clone()], false)
        .await?;
    let id = ids.pop().expect("one id per message");
    Ok(Value::Object(sent(id, &out)))
}

async fn send_message_batch(sqs: &Sqs, cx: &Context, input: &Input) -> Result<Value, SqsError> {
    let name = input.queue(cx, Action::Publish)?;
    let entries = entries(input)?;
    let mut failed = Vec::new();
    let mut valid = Vec::new();
    for (id, entry) in entries {
        match outgoing(sqs, &entry) {
            Ok(out) => valid.push((id, out)),
            Err(error) => failed.push(failure(&id, &error)),
        }
    }
    let mut successful = Vec::new();
    if !valid.is_empty() {
        cx.principal.charge_publish(valid.len())?;
        let messages = valid.iter().map(|(_, out)| out.message.clone()).collect();
        let ids = sqs.broker.send(&name, messages, true).await?;
        for ((entry_id, out), id) in valid.iter().zip(ids) {
            let mut answer = sent(id, out);
            answer.insert("Id".into(), json!(entry_id));
            successful.push(Value::Object(answer));
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

/// A batch's entries with their ids, checked as SQS checks them.
fn entries(input: &Input) -> Result<Vec<(String, Input)>, SqsError> {
    let entries = match input.get("Entries") {
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(SqsError::invalid("Entries must be a list.")),
        None => return Err(SqsError::missing("Entries")),
    };
    if entries.is_empty() {
        return Err(SqsError::renamed(
            "EmptyBatchRequest",
            "AWS.SimpleQueueService.EmptyBatchRequest",
            "There should be at least one entry in the request.".into(),
        ));
    }
    if entries.len() > MAX_BATCH {
        return Err(SqsError::renamed(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are {MAX_BATCH}. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let entry = Input(entry.clone());
        let id = entry.required_str("Id")?.to_string();
        let valid = !id.is_empty()
            && id.len() <= 80
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(SqsError::renamed(
                "InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                format!(
                    "A batch entry id can only contain alphanumeric characters, hyphens and underscores: {id:?}."
                ),
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(SqsError::renamed(
                "BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
        out.push((id, entry));
    }
    Ok(out)
}

fn failure(id: &str, error: &SqsError) -> Value {
    json!({
        "Id": id,
        "Code": error.code,
        "Message": error.message,
        "SenderFault": error.fault == "Sender",
    })
}

/// What a batch of receipts asks.
#[derive(Clone, Copy)]
enum Settle {
    Delete,
    ChangeVisibility,
}

/// Does `what` for every entry of a batch; answers which succeeded and which failed.
async fn batch(sqs: &Sqs, queue: &str, input: &Input, what: Settle) -> Result<Value, SqsError> {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (id, entry) in entries(input)? {
        let done = match what {
            Settle::Delete => match entry.required_str("ReceiptHandle") {
                Ok(receipt) => delete(sqs, queue, receipt).await,
                Err(error) => Err(error),
            },
            Settle::ChangeVisibility => change_visibility(sqs, queue, &entry).await,
        };
        match done {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(error) if error.status.is_server_error() => return Err(error),
            Err(error) => failed.push(failure(&id, &error)),
        }
    }
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

/// Deletes a received message. As in SQS, a receipt whose message is gone or whose lease
/// ended (the message may be delivered again) deletes nothing and is not an error.
async fn delete(sqs: &Sqs, queue: &str, receipt: &str) -> Result<(), SqsError> {
    match sqs.broker.ack(queue, vec![receipt.to_string()]).await {
        Ok(_) | Err(BrokerError::ReceiptExpired | BrokerError::ReceiptMessageGone) => Ok(()),
        Err(BrokerError::InvalidReceipt { .. }) => Err(SqsError::invalid_receipt(receipt)),
        Err(error) => Err(error.into()),
    }
}

/// `VisibilityTimeout` from now: 0 gives the message back at once.
async fn change_visibility(sqs: &Sqs, queue: &str, input: &Input) -> Result<(), SqsError> {
    let receipt = input.required_str("ReceiptHandle")?;
    let seconds = input
        .number("VisibilityTimeout", MAX_VISIBILITY_S)?
        .ok_or_else(|| SqsError::missing("VisibilityTimeout"))?;
    let result = if seconds == 0 {
        sqs.broker
            .nack(queue, vec![receipt.to_string()], Some(0))
            .await
            .map(drop)
    } else {
        sqs.broker
            .extend(queue, receipt, seconds * 1000)
            .await
            .map(drop)
    };
    match result {
        Ok(()) => Ok(()),
        Err(BrokerError::InvalidReceipt { .. }) => Err(SqsError::invalid_receipt(receipt)),
        Err(error) => Err(error.into()),
    }
}

async fn receive_message(sqs: &Sqs, cx: &Context, input: &Input) -> Result<Value, SqsError> {
    let name = input.queue(cx, Action::Consume)?;
    let max = input.number("MaxNumberOfMessages", 10)?.unwrap_or(1);
    if max == 0 {
        return Err(SqsError::invalid(
            "Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10.",
        ));
    }
    let wait = input.number("WaitTimeSeconds", 20)?.unwrap_or(0);
    let visibility = input.number("VisibilityTimeout", MAX_VISIBILITY_S)?;
    let mut system = input.strings("AttributeNames")?;
    system.extend(input.strings("MessageSystemAttributeNames")?);
    let wanted = input.strings("MessageAttributeNames")?;
    let request = ReceiveRequest {
        max_messages: Some(max as u32),
        wait_ms: Some(wait * 1000),
        visibility_timeout_ms: visibility.map(|s| s * 1000),
    };
    let messages = sqs.broker.receive(&name, request).await?;
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| received(cx, m, &system, &wanted))
        .collect();
    Ok(json!({ "Messages": messages }))
}

fn received(cx: &Context, message: &Message, system: &[String], wanted: &[String]) -> Value {
    let bytes = message.payload_bytes().unwrap_or_default();
    let body = String::from_utf8_lossy(&bytes);
    let mut out = Map::new();
    out.insert("MessageId".into(), json!(message.id));
    out.insert("ReceiptHandle".into(), json!(message.receipt));
    out.insert("MD5OfBody".into(), json!(attributes::md5_of_body(&bytes)));
    out.insert("Body".into(), json!(body));
    let every = system.iter().any(|n| n == "All");
    let mut attrs = Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value
            && (every || system.iter().any(|n| n == name))
        {
            attrs.insert(name.into(), Value::String(value));
        }
    };
    put(
        "ApproximateReceiveCount",
        Some(message.receive_count.to_string()),
    );
    put("SentTimestamp", Some(message.published_at_ms.to_string()));
    put(
        "ApproximateFirstReceiveTimestamp",
        message.first_received_at_ms.map(|at| at.to_string()),
    );
    put("SenderId", Some(cx.principal.name().to_string()));
    put("MessageGroupId", message.key.clone());
    put(
        "DeadLetterQueueSourceArn",
        message
            .dead_letter
            .as_ref()
            .map(|d| cx.queue_arn(&d.source_queue)),
    );
    if !attrs.is_empty() {
        out.insert("Attributes".into(), Value::Object(attrs));
    }
    let chosen: BTreeMap<String, MessageAttribute> =
        attributes::from_switchyard(&message.attributes)
            .into_iter()
            .filter(|(name, _)| {
                wanted.iter().any(|w| {
                    w == "All"
                        || w == ".*"
                        || w == name
                        || w.strip_suffix(".*")
                            .is_some_and(|p| name.starts_with(&format!("{p}.")))
                })
            })
            .collect();
    if let Some(md5) = attributes::md5_of_attributes(&chosen) {
        out.insert("MD5OfMessageAttributes".into(), json!(md5));
        out.insert(
            "MessageAttributes".into(),
            serde_json::to_value(&chosen).expect("attributes serialize"),
        );
    }
    Value::Object(out)
}
