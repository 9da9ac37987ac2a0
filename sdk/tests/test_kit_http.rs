//! The test kit's HTTP gate matches `allowed_hosts` entries as the server does: by scheme,
//! host and effective port, refusing bare entries, and refusing `localhost` names unless
//! the loopback addresses are listed too.

use switchyard_sdk::http::Request;
use switchyard_sdk::testing::{TestHost, message};
use switchyard_sdk::{Batch, Outcome};

/// GETs each message's payload as a URL: acks on an answer, dead-letters with the error.
fn fetch(batch: Batch) -> Vec<Outcome> {
    batch.map(|m| {
        let url = m.text().unwrap_or_default().to_string();
        match Request::new("GET", &url).send() {
            Ok(_) => Outcome::Ack,
            Err(error) => Outcome::dead_letter(error.to_string()),
        }
    })
}

/// The outcome of fetching each URL on a host allowing `entries`.
fn outcomes(entries: &[&str], urls: &[&str]) -> Vec<Outcome> {
    let mut host = entries
        .iter()
        .fold(TestHost::new(), |host, entry| host.allow_host(entry));
    host.run(fetch, urls.iter().map(|url| message(*url)).collect())
}

fn denied(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::DeadLetter { reason } if reason.contains("http_denied"))
}

#[test]
fn an_entry_allows_its_scheme_host_and_effective_port_only() {
    let got = outcomes(
        &["https://api.example.com", "http://[::1]:8080"],
        &[
            "https://api.example.com/v1/things?x=1",
            "https://API.example.com:443/",
            "http://api.example.com/v1",
            "https://api.example.com:8443/v1",
            "https://example.com/",
            "http://[::1]:8080/hook",
            "http://[0:0::1]:8080",
            "http://[::1]/hook",
        ],
    );
    let allowed: Vec<bool> = got.iter().map(|o| !denied(o)).collect();
    assert_eq!(
        allowed,
        [true, true, false, false, false, true, true, false],
        "{got:?}"
    );
}

#[test]
fn a_localhost_name_needs_the_loopback_addresses_listed_too() {
    let [named] = &outcomes(&["http://localhost:8080"], &["http://localhost:8080/x"])[..] else {
        panic!("one outcome");
    };
    let Outcome::DeadLetter { reason } = named else {
        panic!("denied: {named:?}");
    };
    assert!(
        reason.contains("localhost resolves to 127.0.0.1, a loopback address") && denied(named),
        "{reason}"
    );
    let pinned = outcomes(
        &[
            "http://localhost:8080",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
        ],
        &["http://localhost:8080/x", "http://LOCALHOST:8080/y"],
    );
    assert_eq!(pinned, vec![Outcome::Ack; 2]);
    let address = outcomes(&["http://127.0.0.1:8080"], &["http://127.0.0.1:8080/x"]);
    assert_eq!(address, vec![Outcome::Ack], "an address listed is allowed");
}

#[test]
#[should_panic(expected = "write https://api.example.com")]
fn a_bare_entry_is_refused_with_a_hint() {
    let _ = TestHost::new().allow_host("api.example.com");
}

#[test]
#[should_panic(expected = "no path")]
fn an_entry_with_a_path_is_refused() {
    let _ = TestHost::new().allow_host("https://api.example.com/v1");
}
