//! Archive subcommands: `replay start|list|show|cancel` (with a progress bar drawn on
//! stderr), `topic preview`, the archive options of `topic create|update`, and archive
//! points given as a position or a time (Unix ms or RFC 3339).

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use switchyard_client::{
    ArchivePoint, ArchiveSettings, Client, PreviewRequest, Replay, ReplayList, StartReplay, Topic,
};

use super::compose;
use super::output::{self, Output, Table};

/// Archive options of `topic create` and `topic update`.
#[derive(Debug, Args)]
pub(super) struct ArchiveArgs {
    /// Keep an archive of every publish (for replays and filter previews).
    #[arg(long)]
    archive: bool,
    /// Archive retention by age (implies --archive).
    #[arg(long, value_name = "MS")]
    archive_max_age_ms: Option<u64>,
    /// Archive retention by size in bytes (implies --archive).
    #[arg(long, value_name = "BYTES")]
    archive_max_bytes: Option<u64>,
}

impl ArchiveArgs {
    /// The settings, when any archive option was given.
    pub(super) fn settings(&self) -> Option<ArchiveSettings> {
        let any =
            self.archive || self.archive_max_age_ms.is_some() || self.archive_max_bytes.is_some();
        any.then_some(ArchiveSettings {
            max_age_ms: self.archive_max_age_ms,
            max_bytes: self.archive_max_bytes,
        })
    }
}

/// Where a replay or a subscription starts: `--from-position` or `--from-time`.
#[derive(Debug, Args)]
pub(super) struct FromArgs {
    /// Start at this archive position.
    #[arg(long, value_name = "N", conflicts_with = "from_time")]
    pub(super) from_position: Option<u64>,
    /// Start at the first message archived at or after this time (Unix ms or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub(super) from_time: Option<u64>,
}

impl FromArgs {
    pub(super) fn point(&self) -> Option<ArchivePoint> {
        point(self.from_position, self.from_time)
    }
}

fn point(position: Option<u64>, time: Option<u64>) -> Option<ArchivePoint> {
    match (position, time) {
        (Some(position), _) => Some(ArchivePoint::Position(position)),
        (None, Some(time)) => Some(ArchivePoint::TimeMs(time)),
        (None, None) => None,
    }
}

#[derive(Debug, Subcommand)]
pub(super) enum ReplayCommand {
    /// Copy a range of a topic's archive into a queue; shows a progress bar until done.
    Start {
        /// The topic whose archive is read.
        topic: String,
        /// The queue that receives the copies.
        #[arg(long, value_name = "QUEUE")]
        queue: String,
        /// Where the range starts (default: the oldest archived message).
        #[command(flatten)]
        from: FromArgs,
        /// End of the range, exclusive (default: the end of the archive now).
        #[arg(long, value_name = "N", conflicts_with = "to_time")]
        to_position: Option<u64>,
        /// End of the range, exclusive: messages archived before this time.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        to_time: Option<u64>,
        /// Copy only the messages matching this pattern (JSON).
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
        /// Return once the job is started instead of following it.
        #[arg(long)]
        no_wait: bool,
        /// Stop following (the job goes on) after this long.
        #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
        wait_seconds: u64,
    },
    /// List replay jobs.
    List,
    /// Show one replay job with its progress.
    Show { id: String },
    /// Cancel a running replay job.
    Cancel { id: String },
}

pub(super) async fn replay(
    client: &Client,
    out: Output,
    command: ReplayCommand,
) -> anyhow::Result<()> {
    match command {
        ReplayCommand::Start {
            topic,
            queue,
            from,
            to_position,
            to_time,
            filter,
            no_wait,
            wait_seconds,
        } => {
            let request = StartReplay {
                queue,
                from: from.point().unwrap_or(ArchivePoint::Position(0)),
                to: point(to_position, to_time),
                filter: filter.as_deref().map(compose::parse_filter).transpose()?,
            };
            let mut job = client.start_replay(&topic, &request).await?;
            if !no_wait {
                job = follow(client, out, job, Duration::from_secs(wait_seconds)).await?;
            }
            if out.json {
                return out.print_json(&job);
            }
            print_replay(&job);
        }
        ReplayCommand::List => {
            let replays = client.list_replays().await?;
            if out.json {
                return out.print_json(&ReplayList { replays });
            }
            let mut table = Table::new(&[
                "ID", "TOPIC", "QUEUE", "STATE", "SCANNED", "MATCHED", "TOTAL",
            ]);
            for r in replays {
                let state = r.state.name().to_string();
                table.row(vec![
                    r.id,
                    r.topic,
                    r.queue,
                    state,
                    r.scanned.to_string(),
                    r.matched.to_string(),
                    r.total.to_string(),
                ]);
            }
            table.print_or("no replays");
        }
        ReplayCommand::Show { id } => {
            let job = client.get_replay(&id).await?;
            if out.json {
                return out.print_json(&job);
            }
            print_replay(&job);
        }
        ReplayCommand::Cancel { id } => {
            let job = client.cancel_replay(&id).await?;
            if out.json {
                return out.print_json(&job);
            }
            println!(
                "cancelled replay {id} after {} of {}",
                job.scanned, job.total
            );
        }
    }
    Ok(())
}

/// Polls the job until it stops (or `patience` runs out), drawing a bar on stderr unless
/// the output is JSON.
async fn follow(
    client: &Client,
    out: Output,
    mut job: Replay,
    patience: Duration,
) -> anyhow::Result<Replay> {
    let deadline = Instant::now() + patience;
    loop {
        if !out.json {
            eprint!("\r{}", progress_line(&job));
            let _ = std::io::stderr().flush();
        }
        if job.state.is_finished() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        job = client
            .get_replay(&job.id)
            .await
            .with_context(|| format!("cannot follow replay {}", job.id))?;
    }
    if !out.json {
        eprintln!();
    }
    Ok(job)
}

/// `[#########...........]  45%  450/1000 scanned, 300 matched  running`
pub(super) fn progress_line(job: &Replay) -> String {
    format!(
        "{}  {}/{} scanned, {} matched  {}",
        bar(job.scanned, job.total, job.state.is_finished()),
        job.scanned,
        job.total,
        job.matched,
        job.state.name()
    )
}

/// `[#########...........]  45%`: `done` of `total` (a job with nothing to do is at 0%
/// until it has `finished`, then at 100%).
pub(super) fn bar(done: u64, total: u64, finished: bool) -> String {
    const WIDTH: u64 = 30;
    let (done, total) = match total {
        0 => (u64::from(finished), 1),
        total => (done.min(total), total),
    };
    let filled = (done * WIDTH / total) as usize;
    format!(
        "[{}{}] {:>3}%",
        "#".repeat(filled),
        ".".repeat(WIDTH as usize - filled),
        done * 100 / total
    )
}

fn print_replay(job: &Replay) {
    let mut lines = vec![
        ("id", job.id.clone()),
        ("topic", job.topic.clone()),
        ("queue", job.queue.clone()),
        ("state", job.state.name().to_string()),
        (
            "range",
            format!("positions {}..{}", job.from_position, job.to_position),
        ),
        ("scanned", format!("{} of {}", job.scanned, job.total)),
        ("matched", job.matched.to_string()),
        ("started", output::time_and_relative(job.created_at_ms)),
    ];
    if let Some(filter) = &job.filter {
        lines.push(("filter", output::one_line(&filter.to_string(), 80)));
    }
    if let Some(subscription) = &job.subscription {
        lines.push(("subscription", subscription.clone()));
    }
    if let Some(error) = &job.error {
        lines.push(("error", error.clone()));
    }
    output::print_fields(&lines);
}

/// `topic preview`: tests a draft filter against the newest archived messages.
pub(super) async fn preview(
    client: &Client,
    out: Output,
    topic: &str,
    filter: &str,
    limit: Option<u32>,
) -> anyhow::Result<()> {
    let request = PreviewRequest {
        filter: compose::parse_filter(filter)?,
        limit,
    };
    let preview = client.preview_filter(topic, &request).await?;
    if out.json {
        return out.print_json(&preview);
    }
    println!(
        "{} of the {} newest archived messages match",
        preview.matched, preview.scanned
    );
    for example in &preview.examples {
        let payload = match (&example.payload, &example.payload_base64) {
            (Some(json), _) => output::one_line(json.get(), 80),
            (None, Some(b64)) => format!("base64:{}", output::one_line(b64, 72)),
            (None, None) => String::new(),
        };
        println!("  #{} {} {payload}", example.position, example.id);
    }
    Ok(())
}

/// The archive lines of `topic get`.
pub(super) fn archive_fields(topic: &Topic) -> Vec<(&'static str, String)> {
    let Some(settings) = topic.archive else {
        return vec![("archive", "off".into())];
    };
    let limit = |v: Option<u64>, f: fn(u64) -> String| v.map_or("none".to_string(), f);
    let mut lines = vec![(
        "archive",
        format!(
            "on (max age {}, max bytes {})",
            limit(settings.max_age_ms, output::duration),
            limit(settings.max_bytes, |b| b.to_string())
        ),
    )];
    if let Some(stats) = topic.archive_stats {
        lines.push((
            "archived",
            format!("{} messages, {} bytes", stats.messages, stats.bytes),
        ));
        if let (Some(first), Some(last)) = (stats.first_position, stats.last_position) {
            lines.push(("positions", format!("{first}..={last}")));
        }
        if let (Some(first), Some(last)) = (stats.first_time_ms, stats.last_time_ms) {
            let range = format!(
                "{} .. {}",
                output::timestamp(first),
                output::timestamp(last)
            );
            lines.push(("times", range));
        }
        lines.push(("next position", stats.next_position.to_string()));
    }
    lines
}

/// A time: Unix ms, or RFC 3339 (`2026-11-21T20:11:15Z`, `2026-11-21T21:11:15.250+01:00`).
pub(super) fn parse_time(raw: &str) -> Result<u64, String> {
    if let Ok(ms) = raw.parse::<u64>() {
        return Ok(ms);
    }
    rfc3339_ms(raw).ok_or_else(|| {
        format!("{raw:?} is neither Unix ms nor an RFC 3339 time such as 2026-11-21T20:11:15Z")
    })
}

fn rfc3339_ms(raw: &str) -> Option<u64> {
    let bytes = raw.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let text = raw.get(range)?;
        text.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| text.parse().ok())?
    };
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if bytes.get(at) == Some(&b'.') {
        let start = at + 1;
        let mut end = start;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        let digits = &raw[start..end.min(start + 3)];
        millis = digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32);
        at = end;
    }
    let offset_minutes = match raw.get(at..)? {
        "Z" | "z" => 0,
        zone if zone.len() == 6 && zone.as_bytes()[3] == b':' => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (number(at + 1..at + 3)? * 60 + number(at + 4..at + 6)?)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    u64::try_from(seconds * 1000 + millis).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Refuses `--archive-*` options together with `--no-archive`.
pub(super) fn check_no_archive(args: &ArchiveArgs, no_archive: bool) -> anyhow::Result<()> {
    if no_archive && args.settings().is_some() {
        bail!("--no-archive cannot be combined with other archive options");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_ms_or_rfc3339() {
        assert_eq!(parse_time("1700000000123"), Ok(1_700_000_000_123));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Ok(1_700_000_000_500));
        assert_eq!(
            parse_time("2023-11-14T23:13:20.123+01:00"),
            Ok(1_700_000_000_123)
        );
        assert_eq!(parse_time("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
        assert!(parse_time("2023-13-14T22:13:20Z").is_err());
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2023-11-14T22:13:20").is_err());
    }

    #[test]
    fn progress_bar_fills_with_the_scan() {
        let mut job: Replay = serde_json::from_value(serde_json::json!({
            "id": "j", "topic": "t", "queue": "q", "from_position": 0, "to_position": 10,
            "state": "running", "scanned": 5, "matched": 2, "total": 10, "created_at_ms": 0
        }))
        .unwrap();
        let line = progress_line(&job);
        assert!(
            line.starts_with(&format!("[{}{}]", "#".repeat(15), ".".repeat(15))),
            "{line}"
        );
        assert!(line.contains(" 50%"), "{line}");
        job.scanned = 10;
        job.state = switchyard_client::ReplayState::Done;
        assert!(progress_line(&job).contains("100%"));
    }
}
