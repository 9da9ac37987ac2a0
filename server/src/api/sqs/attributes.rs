//! SQS message attributes over Switchyard's string attributes, and the checksums SDKs
//! verify. A String or Number attribute is kept under its name with its value, so filters,
//! plugins and the REST API see it as any other; a Binary one keeps its base64 text. Types
//! other than plain `String` are recorded in the attribute [`TYPES`] (a name SQS cannot
//! use), so an attribute comes back with the type it was sent with.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use switchyard_client::Attributes;

use super::sigv4::hex;

/// Where the types of non-`String` attributes are kept: `{"<name>":"<DataType>"}`.
pub(super) const TYPES: &str = "sqs:types";
/// Most message attributes SQS takes on one message.
const MAX_ATTRIBUTES: usize = 10;

/// One message attribute as the SQS JSON protocol writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MessageAttribute {
    pub(super) data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) string_value: Option<String>,
    /// Base64, as the JSON protocol carries blobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) binary_value: Option<String>,
}

/// Checks SQS message attributes and turns them into Switchyard attributes.
pub(super) fn to_switchyard(
    attributes: &BTreeMap<String, MessageAttribute>,
) -> Result<Attributes, String> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attributes.len()
        ));
    }
    let mut out = Attributes::new();
    let mut types = BTreeMap::new();
    for (name, attribute) in attributes {
        check_name(name)?;
        let base = base_type(&attribute.data_type).ok_or_else(|| {
            format!(
                "The message attribute '{name}' has an invalid type '{}'.",
                attribute.data_type
            )
        })?;
        let value = match (base, &attribute.string_value, &attribute.binary_value) {
            ("Binary", None, Some(b64)) => {
                BASE64.decode(b64).map_err(|_| {
                    format!("The message attribute '{name}' has a BinaryValue that is not base64.")
                })?;
                b64.clone()
            }
            ("String" | "Number", Some(text), None) => {
                if base == "Number" && text.trim().parse::<f64>().is_err() {
                    return Err(format!(
                        "Can't cast the value of message (user) attribute '{name}' to a number."
                    ));
                }
                text.clone()
            }
            _ => {
                return Err(format!(
                    "The message attribute '{name}' must contain a non-empty value of type '{}'.",
                    if base == "Binary" {
                        "BinaryValue"
                    } else {
                        "StringValue"
                    }
                ));
            }
        };
        if value.is_empty() {
            return Err(format!(
                "The message attribute '{name}' must contain a non-empty message attribute value."
            ));
        }
        if attribute.data_type != "String" {
            types.insert(name.clone(), attribute.data_type.clone());
        }
        out.insert(name.clone(), value);
    }
    if !types.is_empty() {
        let text = serde_json::to_string(&types).expect("a map of strings serializes");
        out.insert(TYPES.into(), text);
    }
    Ok(out)
}

/// Switchyard attributes as SQS message attributes (a message published through the REST
/// API has only strings).
pub(super) fn from_switchyard(attributes: &Attributes) -> BTreeMap<String, MessageAttribute> {
    let types: BTreeMap<String, String> = attributes
        .get(TYPES)
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    attributes
        .iter()
        .filter(|(name, _)| name.as_str() != TYPES)
        .map(|(name, value)| {
            let data_type = types.get(name).cloned().unwrap_or_else(|| "String".into());
            let binary = base_type(&data_type) == Some("Binary");
            let attribute = MessageAttribute {
                string_value: (!binary).then(|| value.clone()),
                binary_value: binary.then(|| value.clone()),
                data_type,
            };
            (name.clone(), attribute)
        })
        .collect()
}

/// `String`, `Number` or `Binary`, of a type such as `Number.int`.
fn base_type(data_type: &str) -> Option<&'static str> {
    let (base, custom) = data_type.split_once('.').unwrap_or((data_type, ""));
    if data_type.len() > 256 || (data_type.contains('.') && custom.is_empty()) {
        return None;
    }
    ["String", "Number", "Binary"]
        .into_iter()
        .find(|b| *b == base)
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..");
    let lower = name.to_ascii_lowercase();
    if !valid || lower.starts_with("aws.") || lower.starts_with("amazon.") {
        return Err(format!("The message attribute name '{name}' is invalid."));
    }
    Ok(())
}

/// The hex MD5 of a message body.
pub(super) fn md5_of_body(body: &[u8]) -> String {
    hex(&Md5::digest(body))
}

/// SQS's MD5 of message attributes: by name, each name, type, a transport byte (1 for
/// strings and numbers, 2 for binary) and value, each but the byte length-prefixed (4 bytes,
/// big-endian). `None` without attributes.
pub(super) fn md5_of_attributes(attributes: &BTreeMap<String, MessageAttribute>) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    let mut bytes = Vec::new();
    let put = |bytes: &mut Vec<u8>, field: &[u8]| {
        bytes.extend_from_slice(&(field.len() as u32).to_be_bytes());
        bytes.extend_from_slice(field);
    };
    for (name, attribute) in attributes {
        put(&mut bytes, name.as_bytes());
        put(&mut bytes, attribute.data_type.as_bytes());
        match &attribute.binary_value {
            Some(b64) => {
                bytes.push(2);
                put(&mut bytes, &BASE64.decode(b64).unwrap_or_default());
            }
            None => {
                bytes.push(1);
                let text = attribute.string_value.as_deref().unwrap_or_default();
                put(&mut bytes, text.as_bytes());
            }
        }
    }
    Some(hex(&Md5::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(data_type: &str, value: &str) -> MessageAttribute {
        MessageAttribute {
            data_type: data_type.into(),
            string_value: Some(value.into()),
            binary_value: None,
        }
    }

    #[test]
    fn typed_attributes_round_trip_through_string_attributes() {
        let sent: BTreeMap<String, MessageAttribute> = [
            ("city".to_string(), string("String", "Oslo")),
            ("price".to_string(), string("Number.int", "12")),
            (
                "blob".to_string(),
                MessageAttribute {
                    data_type: "Binary".into(),
                    string_value: None,
                    binary_value: Some(BASE64.encode([0u8, 1, 2, 255])),
                },
            ),
        ]
        .into();
        let stored = to_switchyard(&sent).unwrap();
        assert_eq!(stored["city"], "Oslo");
        assert_eq!(stored["price"], "12");
        assert_eq!(from_switchyard(&stored), sent);
        assert_eq!(
            md5_of_attributes(&from_switchyard(&stored)),
            md5_of_attributes(&sent)
        );
    }

    #[test]
    fn the_checksum_follows_the_sqs_layout() {
        let one: BTreeMap<String, MessageAttribute> =
            [("a".to_string(), string("String", "b"))].into();
        let mut layout = Vec::new();
        for field in [&b"a"[..], b"String"] {
            layout.extend_from_slice(&(field.len() as u32).to_be_bytes());
            layout.extend_from_slice(field);
        }
        layout.extend_from_slice(&[1, 0, 0, 0, 1, b'b']);
        assert_eq!(md5_of_attributes(&one), Some(hex(&Md5::digest(&layout))));
        assert_eq!(md5_of_body(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_of_attributes(&BTreeMap::new()), None);
    }

    #[test]
    fn bad_attributes_are_refused() {
        for (name, attribute) in [
            ("AWS.x", string("String", "v")),
            ("ok", string("Text", "v")),
            ("ok", string("Number", "twelve")),
            ("ok", string("String", "")),
            ("a..b", string("String", "v")),
        ] {
            let one: BTreeMap<String, MessageAttribute> = [(name.to_string(), attribute)].into();
            assert!(to_switchyard(&one).is_err(), "{name}: {one:?}");
        }
    }
}
