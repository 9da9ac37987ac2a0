//! Misbehaves on request, to test how the server contains a faulty plugin. Each message's
//! JSON payload `{"mode": ...}` says what to do:
//!
//! - `ok`: ack.
//! - `loop`: spin forever (until the server's fuel or time limit stops it).
//! - `oom`: allocate and touch memory in 1 MiB chunks until the server's memory cap stops it.
//! - `panic`: panic (a trap in wasm).
//! - `forbidden-http`, `slow-http`: `GET` the payload's `url` (default `http://127.0.0.1:9/`);
//!   when the call fails (a host not on `allowed_hosts` fails with `http_denied`),
//!   dead-letter with the error, whose reason then contains `http_denied`; when it succeeds,
//!   ack. Pointed at a host that never answers, the call blocks until the deadline.
//! - `kv-bomb`: write `size` bytes (default 1 MiB) under ever new keys until a write fails
//!   (then dead-letter with its error) or the server's byte budget stops the invocation.
//! - `publish-bomb`: publish `size`-byte messages (default 256 KiB) to `topic` until a
//!   publish fails (then dead-letter with its error) or the byte budget stops the invocation.
//! - `log-bomb`: log `lines` lines (default 100 000) of 1 KiB and print 1 MiB to stdout and to
//!   stderr, then ack: a chatty plugin must not fault for it.
//! - `sleep`: sleep `ms` milliseconds (default 120 000) blocked in the host, then publish
//!   `{"id": <message id>}` to `topic` when one is given, and ack.
//!
//! Any other mode, or a payload that is not such JSON, is dead-lettered. Uses no config keys.

use std::hint::black_box;
use std::time::Duration;

use switchyard_sdk::http::Request;
use switchyard_sdk::{Batch, Outcome, handler, info, kv, publish};

#[derive(serde::Deserialize)]
struct Command {
    mode: String,
    url: Option<String>,
    size: Option<usize>,
    topic: Option<String>,
    lines: Option<usize>,
    ms: Option<u64>,
}

const DEFAULT_URL: &str = "http://127.0.0.1:9/";

/// Does what each message asks.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    batch.map(|message| {
        let command: Command = match message.json() {
            Ok(command) => command,
            Err(error) => return Outcome::dead_letter(error.to_string()),
        };
        match command.mode.as_str() {
            "ok" => Outcome::Ack,
            "loop" => spin(),
            "oom" => exhaust_memory(),
            "panic" => panic!("faulty: asked to panic by message {}", message.id),
            "forbidden-http" | "slow-http" => {
                let url = command.url.as_deref().unwrap_or(DEFAULT_URL);
                match Request::new("GET", url).send() {
                    Ok(_) => Outcome::Ack,
                    Err(error) => Outcome::dead_letter(format!("GET {url} failed: {error}")),
                }
            }
            "kv-bomb" => {
                let value = vec![7_u8; command.size.unwrap_or(1 << 20)];
                let error = (0_u64..)
                    .find_map(|n| kv::set(&format!("bomb:{}:{n}", message.id), &value).err())
                    .expect("the key space is endless");
                Outcome::dead_letter(format!("a key-value write failed: {error}"))
            }
            "publish-bomb" => {
                let topic = command.topic.as_deref().unwrap_or("bombed");
                let payload = vec![b'x'; command.size.unwrap_or(256 << 10)];
                let error = std::iter::repeat_with(|| publish(topic, payload.clone()))
                    .find_map(Result::err)
                    .expect("publishing goes on until it fails");
                Outcome::dead_letter(format!("a publish failed: {error}"))
            }
            "log-bomb" => {
                let line = "y".repeat(1024);
                for n in 0..command.lines.unwrap_or(100_000) {
                    info(&format!("{n} {line}"));
                }
                let block = format!("{line}\n").repeat(1024);
                print!("{block}");
                eprint!("{block}");
                Outcome::Ack
            }
            "sleep" => {
                std::thread::sleep(Duration::from_millis(command.ms.unwrap_or(120_000)));
                match command.topic {
                    Some(topic) => {
                        let effect = format!(r#"{{"id":"{}"}}"#, message.id);
                        publish(&topic, effect).into()
                    }
                    None => Outcome::Ack,
                }
            }
            other => Outcome::dead_letter(format!("unknown mode {other:?}")),
        }
    })
}

fn spin() -> ! {
    let mut turns = 0_u64;
    loop {
        turns = black_box(turns.wrapping_add(1));
    }
}

fn exhaust_memory() -> ! {
    const MIB: usize = 1 << 20;
    let mut chunks = Vec::new();
    loop {
        let mut chunk = vec![0_u8; MIB];
        // Write every page, so the memory is really used and not just reserved.
        chunk.iter_mut().step_by(4096).for_each(|byte| *byte = 1);
        chunks.push(black_box(chunk));
    }
}

#[cfg(test)]
mod tests {
    use switchyard_sdk::Outcome;
    use switchyard_sdk::testing::{TestHost, message};

    fn run(host: &mut TestHost, payload: &str) -> Outcome {
        host.run(super::handle, vec![message(payload)]).remove(0)
    }

    #[test]
    fn ok_acks() {
        assert_eq!(run(&mut TestHost::new(), r#"{"mode":"ok"}"#), Outcome::Ack);
    }

    #[test]
    fn a_denied_call_is_dead_lettered_with_http_denied() {
        let mut host = TestHost::new();
        let Outcome::DeadLetter { reason } = run(&mut host, r#"{"mode":"forbidden-http"}"#) else {
            panic!("expected a dead letter");
        };
        assert!(reason.contains("http_denied"), "{reason}");
        assert_eq!(host.requests().len(), 1);
        assert_eq!(host.requests()[0].method, "GET");
        assert_eq!(host.requests()[0].url, super::DEFAULT_URL);
    }

    #[test]
    fn an_allowed_call_acks() {
        let mut host = TestHost::new().allow_host("http://example.com");
        let outcome = run(
            &mut host,
            r#"{"mode":"forbidden-http","url":"http://example.com/x"}"#,
        );
        assert_eq!(outcome, Outcome::Ack);
        assert_eq!(host.requests()[0].url, "http://example.com/x");
    }

    #[test]
    fn unknown_modes_and_bad_payloads_are_dead_lettered() {
        let mut host = TestHost::new();
        assert_eq!(
            run(&mut host, r#"{"mode":"explode"}"#),
            Outcome::dead_letter(r#"unknown mode "explode""#)
        );
        assert!(matches!(
            run(&mut host, "not json"),
            Outcome::DeadLetter { .. }
        ));
        assert!(matches!(
            run(&mut host, r#"{"url":"x"}"#),
            Outcome::DeadLetter { .. }
        ));
        assert!(host.requests().is_empty());
    }

    #[test]
    #[should_panic(expected = "budget fault")]
    fn a_kv_bomb_goes_over_the_budget() {
        run(&mut TestHost::new(), r#"{"mode":"kv-bomb"}"#);
    }

    #[test]
    #[should_panic(expected = "budget fault")]
    fn a_publish_bomb_goes_over_the_budget() {
        run(&mut TestHost::new(), r#"{"mode":"publish-bomb"}"#);
    }

    #[test]
    fn small_publications_stop_at_the_count_limit() {
        let mut host = TestHost::new();
        let outcome = run(&mut host, r#"{"mode":"publish-bomb","size":10}"#);
        let Outcome::DeadLetter { reason } = outcome else {
            panic!("expected a dead letter");
        };
        assert!(reason.contains("too_many_publications"), "{reason}");
        assert_eq!(
            host.published().len(),
            switchyard_sdk::limits::MAX_PUBLICATIONS
        );
    }

    #[test]
    fn a_log_bomb_acks_with_its_logs_capped() {
        let mut host = TestHost::new();
        assert_eq!(
            run(&mut host, r#"{"mode":"log-bomb","lines":1000}"#),
            Outcome::Ack
        );
        assert_eq!(host.logs().len(), switchyard_sdk::limits::MAX_LOG_LINES);
    }

    #[test]
    fn sleep_publishes_its_effect_and_acks() {
        let mut host = TestHost::new();
        let outcome = run(&mut host, r#"{"mode":"sleep","ms":1,"topic":"effects"}"#);
        assert_eq!(outcome, Outcome::Ack);
        assert_eq!(host.published().len(), 1);
        assert_eq!(host.published()[0].topic, "effects");
    }

    #[test]
    #[should_panic(expected = "faulty: asked to panic")]
    fn panic_panics() {
        run(&mut TestHost::new(), r#"{"mode":"panic"}"#);
    }
}
