//! How the CLI shows things: JSON for scripts, aligned tables, times, durations and
//! payloads for people. Formatting only; no network.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use switchyard_client::{DeadLetterInfo, DeliveryState, Message};

/// Where a command's result goes: `--json` prints JSON, otherwise text for people.
#[derive(Debug, Clone, Copy)]
pub(super) struct Output {
    pub(super) json: bool,
}

impl Output {
    /// Prints `value` as pretty JSON on stdout.
    pub(super) fn print_json<T: Serialize + ?Sized>(self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value).context("cannot encode the JSON output")?;
        println!("{text}");
        Ok(())
    }
}

/// A table with a header row and columns padded to their widest cell.
#[derive(Debug)]
pub(super) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(headers: &[&str]) -> Self {
        Self {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub(super) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rows, without the header.
    pub(super) fn len(&self) -> usize {
        self.rows.len() - 1
    }

    pub(super) fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                let cells = self.rows.iter().filter_map(|row| row.get(c));
                cells.map(|cell| cell.chars().count()).max().unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[c] - cell.chars().count();
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub(super) fn print(&self) {
        print!("{}", self.render());
    }

    /// Prints the table, or `empty` instead when it has no rows.
    pub(super) fn print_or(&self, empty: &str) {
        if self.len() == 0 {
            println!("{empty}");
        } else {
            self.print();
        }
    }
}

/// Now, in Unix ms.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Unix ms as UTC, `2023-11-14T22:13:20.000Z`.
pub(super) fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A duration in ms, short and rounded down to two units: `850ms`, `30s`, `5m 3s`, `4d`.
pub(super) fn duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = ms / 1000;
    let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, unit) in units {
        if rest >= size || !parts.is_empty() {
            parts.push((rest / size, unit));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if secs < 60 && !ms.is_multiple_of(1000) {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A moment relative to now: `3s ago`, `in 30s`.
pub(super) fn relative(ms: u64) -> String {
    let now = now_ms();
    if ms <= now {
        format!("{} ago", duration(now - ms))
    } else {
        format!("in {}", duration(ms - now))
    }
}

/// A time as `2023-11-14T22:13:20.000Z (3s ago)`.
pub(super) fn time_and_relative(ms: u64) -> String {
    format!("{} ({})", timestamp(ms), relative(ms))
}

pub(super) fn state_name(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Ready => "ready",
        DeliveryState::Delayed => "delayed",
        DeliveryState::InFlight => "in_flight",
        DeliveryState::BehindKey => "behind_key",
        DeliveryState::Acked => "acked",
        DeliveryState::Expired => "expired",
        DeliveryState::Discarded => "discarded",
    }
}

/// The payload for people: JSON as sent, bytes as text when they are UTF-8, else base64.
pub(super) fn payload_text(message: &Message) -> String {
    match (&message.payload, &message.payload_base64) {
        (Some(json), _) => json.get().to_string(),
        (None, Some(b64)) => match BASE64.decode(b64) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => format!("(bytes) {text}"),
                Err(error) => format!("({} bytes, base64) {b64}", error.as_bytes().len()),
            },
            Err(_) => format!("(base64) {b64}"),
        },
        (None, None) => "(empty)".to_string(),
    }
}

/// The first `max` characters of `text` on one line, with `…` when cut.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

pub(super) fn dead_letter_text(info: &DeadLetterInfo) -> String {
    format!(
        "from {} after {}, {}: {}",
        info.source_queue,
        match info.receive_count {
            1 => "1 delivery".to_string(),
            n => format!("{n} deliveries"),
        },
        relative(info.dead_lettered_at_ms),
        info.reason
    )
}

/// A received or peeked message as a block of `label  value` lines.
pub(super) fn print_message(message: &Message) {
    let mut lines = vec![("id", message.id.clone())];
    if let Some(receipt) = &message.receipt {
        lines.push(("receipt", receipt.clone()));
    }
    if let Some(state) = message.state {
        lines.push(("state", state_name(state).to_string()));
    }
    lines.push(("receives", message.receive_count.to_string()));
    if let Some(topic) = &message.topic {
        lines.push(("topic", topic.clone()));
    }
    if let Some(key) = &message.key {
        lines.push(("key", key.clone()));
    }
    lines.push(("published", time_and_relative(message.published_at_ms)));
    for (name, value) in &message.attributes {
        lines.push(("attribute", format!("{name}={value}")));
    }
    if let Some(info) = &message.dead_letter {
        lines.push(("dead letter", dead_letter_text(info)));
    }
    lines.push(("payload", payload_text(message)));
    print_fields(&lines);
}

/// `label  value` lines with the values aligned.
pub(super) fn print_fields(lines: &[(&str, String)]) {
    let width = lines
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0);
    for (label, value) in lines {
        println!("{label:<width$}  {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(30_000), "30s");
        assert_eq!(duration(1_500), "1.5s");
        assert_eq!(duration(303_000), "5m 3s");
        assert_eq!(duration(3_600_000), "1h");
        assert_eq!(duration(345_600_000), "4d");
        assert_eq!(duration(90_061_000), "1d 1h");
    }

    #[test]
    fn table_columns_are_aligned() {
        let mut table = Table::new(&["NAME", "READY"]);
        table.row(vec!["mail".into(), "3".into()]);
        table.row(vec!["signups-long".into(), "12".into()]);
        assert_eq!(
            table.render(),
            "NAME          READY\nmail          3\nsignups-long  12\n"
        );
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn long_text_is_cut_on_one_line() {
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
