//! Turning command-line input into wire messages: `--attr K=V`, JSON / text / file payloads
//! and batch files. Pure parsing plus reading the named files; no network.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::value::RawValue;
use switchyard_client::{PublishBatch, PublishMessage};

use super::MessageInput;

/// clap value parser for `--attr K=V`: splits at the first `=`; the value may be empty and
/// may contain `=`, the key may not be empty.
pub(super) fn parse_attribute(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some(("", _)) => Err(format!("attribute {raw:?} has an empty name; expected K=V")),
        Some((name, value)) => Ok((name.to_string(), value.to_string())),
        None => Err(format!("expected K=V, got {raw:?}")),
    }
}

/// What to send: one message, or many from a batch file.
pub(super) enum Outgoing {
    One(PublishMessage),
    Many(Vec<PublishMessage>),
}

/// Builds the message(s) described by the command line.
pub(super) fn outgoing(input: MessageInput) -> anyhow::Result<Outgoing> {
    if let Some(path) = &input.batch_file {
        let name = input_name(path);
        let text = String::from_utf8(read_input(path)?)
            .with_context(|| format!("batch file {name} is not UTF-8"))?;
        let messages = parse_batch(&text).with_context(|| format!("invalid batch file {name}"))?;
        return Ok(Outgoing::Many(messages));
    }
    let mut message = match (input.payload, input.text, &input.file) {
        (Some(text), true, _) => PublishMessage::json(&text).context("cannot encode --text")?,
        (Some(json), false, _) => json_message(json)?,
        (None, _, Some(path)) => PublishMessage::bytes(&read_input(path)?),
        (None, _, None) => bail!(
            "nothing to send: give a JSON PAYLOAD, a PAYLOAD with --text, --file FILE or --batch-file FILE"
        ),
    };
    for (name, value) in input.attributes {
        if message.attributes.contains_key(&name) {
            bail!("attribute {name:?} is given more than once");
        }
        message.attributes.insert(name, value);
    }
    message.key = input.key;
    message.dedup_id = input.dedup_id;
    message.delay_ms = input.delay_ms;
    Ok(Outgoing::One(message))
}

/// A message whose payload is `json`, kept verbatim (surrounding whitespace trimmed).
fn json_message(json: String) -> anyhow::Result<PublishMessage> {
    let trimmed = json.trim();
    let text = if trimmed.len() == json.len() {
        json
    } else {
        trimmed.to_string()
    };
    let payload = RawValue::from_string(text).map_err(|error| {
        anyhow::anyhow!(
            "PAYLOAD is not valid JSON ({error}); add --text to send it as a string, or use --file to send bytes"
        )
    })?;
    Ok(PublishMessage {
        payload: Some(payload),
        ..PublishMessage::default()
    })
}

/// Parses a batch file: either one JSON object `{"messages":[..]}` or JSON lines, one
/// message body per line (blank lines are skipped).
pub(super) fn parse_batch(text: &str) -> anyhow::Result<Vec<PublishMessage>> {
    let whole = serde_json::from_str::<serde_json::Value>(text).ok();
    let messages = match whole {
        Some(serde_json::Value::Object(object)) if object.contains_key("messages") => {
            serde_json::from_str::<PublishBatch>(text)
                .context("not a valid {\"messages\":[..]} batch")?
                .messages
        }
        _ => parse_json_lines(text)?,
    };
    if messages.is_empty() {
        bail!("it holds no messages");
    }
    Ok(messages)
}

fn parse_json_lines(text: &str) -> anyhow::Result<Vec<PublishMessage>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str::<PublishMessage>(line.trim())
                .with_context(|| format!("line {}: not a message body", index + 1))
        })
        .collect()
}

/// How to name an input in messages: its path, or `stdin` for `-`.
fn input_name(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    }
}

/// Reads a whole file, or stdin for `-`.
fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Parses a `--filter` pattern.
pub(super) fn parse_filter(raw: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(raw).with_context(|| format!("--filter is not valid JSON: {raw}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(payload: Option<&str>) -> MessageInput {
        MessageInput {
            payload: payload.map(str::to_string),
            text: false,
            file: None,
            attributes: Vec::new(),
            key: None,
            dedup_id: None,
            delay_ms: None,
            batch_file: None,
        }
    }

    fn one(outgoing: Outgoing) -> PublishMessage {
        match outgoing {
            Outgoing::One(message) => message,
            Outgoing::Many(_) => panic!("expected one message"),
        }
    }

    #[test]
    fn attribute_splits_at_the_first_equals_sign() {
        assert_eq!(parse_attribute("k=v").unwrap(), ("k".into(), "v".into()));
        assert_eq!(
            parse_attribute("k=a=b").unwrap(),
            ("k".into(), "a=b".into())
        );
        assert_eq!(parse_attribute("k=").unwrap(), ("k".into(), String::new()));
    }

    #[test]
    fn attribute_without_equals_or_name_is_refused() {
        assert!(parse_attribute("k").unwrap_err().contains("K=V"));
        assert!(parse_attribute("=v").unwrap_err().contains("empty name"));
    }

    #[test]
    fn json_payload_is_kept_verbatim() {
        let message = one(outgoing(input(Some(" {\"a\": 1} "))).unwrap());
        assert_eq!(message.payload.unwrap().get(), "{\"a\": 1}");
        assert!(message.payload_base64.is_none());
    }

    #[test]
    fn invalid_json_payload_suggests_text() {
        let err = outgoing(input(Some("hello"))).err().unwrap();
        assert!(err.to_string().contains("--text"), "{err}");
    }

    #[test]
    fn text_payload_becomes_a_json_string() {
        let mut args = input(Some("say \"hi\""));
        args.text = true;
        let message = one(outgoing(args).unwrap());
        assert_eq!(message.payload.unwrap().get(), r#""say \"hi\"""#);
    }

    #[test]
    fn options_and_attributes_are_applied() {
        let mut args = input(Some("1"));
        args.attributes = vec![("a".into(), "1".into()), ("b".into(), "2".into())];
        args.key = Some("k".into());
        args.delay_ms = Some(5);
        let message = one(outgoing(args).unwrap());
        assert_eq!(message.attributes.len(), 2);
        assert_eq!(message.key.as_deref(), Some("k"));
        assert_eq!(message.delay_ms, Some(5));
    }

    #[test]
    fn repeated_attribute_is_refused() {
        let mut args = input(Some("1"));
        args.attributes = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
        assert!(outgoing(args).is_err());
    }

    #[test]
    fn no_payload_is_refused() {
        let err = outgoing(input(None)).err().unwrap();
        assert!(err.to_string().contains("nothing to send"), "{err}");
    }

    #[test]
    fn file_payload_is_sent_as_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, [0u8, 159, 146, 150]).unwrap();
        let mut args = input(None);
        args.file = Some(path);
        let message = one(outgoing(args).unwrap());
        assert_eq!(message.payload_base64.as_deref(), Some("AJ+Slg=="));
    }

    #[test]
    fn batch_object_is_parsed() {
        let text = r#"{"messages":[{"payload":{"n":1}},{"payload_base64":"AA==","key":"k"}]}"#;
        let messages = parse_batch(text).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].payload.as_ref().unwrap().get(), r#"{"n":1}"#);
        assert_eq!(messages[1].key.as_deref(), Some("k"));
    }

    #[test]
    fn json_lines_are_parsed_skipping_blank_lines() {
        let text = "{\"payload\":1}\n\n{\"payload\":\"two\",\"attributes\":{\"a\":\"b\"}}\n";
        let messages = parse_batch(text).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].attributes["a"], "b");
    }

    #[test]
    fn single_json_line_is_one_message() {
        assert_eq!(parse_batch("{\"payload\":[1,2]}").unwrap().len(), 1);
    }

    #[test]
    fn bad_json_line_names_the_line() {
        let err = parse_batch("{\"payload\":1}\n{\"payload\":}\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn unknown_field_in_a_line_is_refused() {
        assert!(parse_batch("{\"paylod\":1}").is_err());
    }

    #[test]
    fn empty_batch_is_refused() {
        assert!(parse_batch("\n\n").is_err());
        assert!(parse_batch("{\"messages\":[]}").is_err());
    }
}
