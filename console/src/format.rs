//! How numbers, ages, times and payloads read on screen.

use serde_json::value::RawValue;
use switchyard_client::Message;

/// `1234567` → `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in ms as people say it: `850 ms`, `12 s`, `4 min 10 s`, `3 h 5 min`, `2 d 4 h`.
pub(crate) fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms} ms"),
        1..60 => format!("{s} s"),
        60..3600 => two_units(s / 60, "min", s % 60, "s"),
        3600..86400 => two_units(s / 3600, "h", s % 3600 / 60, "min"),
        _ => two_units(s / 86400, "d", s % 86400 / 3600, "h"),
    }
}

/// `4 min 10 s`, or `4 min` when the smaller unit is zero.
fn two_units(big: u64, big_unit: &str, small: u64, small_unit: &str) -> String {
    if small == 0 {
        format!("{big} {big_unit}")
    } else {
        format!("{big} {big_unit} {small} {small_unit}")
    }
}

/// A per-second rate: `0`, `0.4`, `12`, `1,200`.
pub(crate) fn rate(per_second: f64) -> String {
    if per_second <= 0.0 {
        "0".into()
    } else if per_second < 10.0 {
        format!("{per_second:.1}")
    } else {
        count(per_second.round() as u64)
    }
}

/// A size: `512 B`, `14.2 KiB`, `3.1 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let size = n as f64;
    if size < KIB {
        format!("{n} B")
    } else if size < KIB * KIB {
        format!("{:.1} KiB", size / KIB)
    } else {
        format!("{:.1} MiB", size / KIB / KIB)
    }
}

/// A plugin version (`sha256:<64 hex>`) as people quote it: its first 12 hex digits.
pub(crate) fn short_version(version: &str) -> &str {
    let hex = version.strip_prefix("sha256:").unwrap_or(version);
    hex.get(..12).unwrap_or(hex)
}

/// Now, in Unix ms (the browser's clock).
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// How long ago a Unix-ms instant was: `12 s ago`, or `in 5 s` for the future.
pub(crate) fn ago(at_ms: u64) -> String {
    let now = now_ms() as u64;
    if at_ms > now {
        format!("in {}", age(at_ms - now))
    } else {
        format!("{} ago", age(now - at_ms))
    }
}

/// A Unix-ms instant as local date and time, `2026-11-21 20:41:07`.
pub(crate) fn timestamp(at_ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds()
    )
}

/// The first characters of a payload: JSON as sent, bytes as `N bytes (binary)`.
pub(crate) fn payload_preview(message: &Message) -> String {
    payload_text(
        message.payload.as_deref(),
        message.payload_base64.as_deref(),
    )
}

/// The first characters of a payload given as JSON or as base64 bytes.
pub(crate) fn payload_text(json: Option<&RawValue>, base64: Option<&str>) -> String {
    const LIMIT: usize = 140;
    match (json, base64) {
        (Some(json), _) => {
            let text = json.get();
            match text.char_indices().nth(LIMIT) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text.to_string(),
            }
        }
        (None, Some(b64)) => format!("{} bytes (binary)", b64.len() / 4 * 3),
        (None, None) => "(empty)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1234567), "1,234,567");
    }

    #[test]
    fn ages_read_like_speech() {
        assert_eq!(age(850), "850 ms");
        assert_eq!(age(12_000), "12 s");
        assert_eq!(age(250_000), "4 min 10 s");
        assert_eq!(age(3 * 3_600_000 + 300_000), "3 h 5 min");
        assert_eq!(age(2 * 86_400_000 + 4 * 3_600_000), "2 d 4 h");
        assert_eq!(age(4 * 86_400_000), "4 d");
        assert_eq!(age(30_000), "30 s");
    }

    #[test]
    fn sizes_and_versions_read_short() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(14_540), "14.2 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 100_000), "3.1 MiB");
        let version = format!("sha256:{}", "ab01".repeat(16));
        assert_eq!(short_version(&version), "ab01ab01ab01");
        assert_eq!(short_version("sha256:ab"), "ab");
    }
}
