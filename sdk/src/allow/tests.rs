//! Entries parsed, printed and matched against requests; names checked against what they
//! resolve to.

use super::*;

fn origin(url: &str) -> Origin {
    let (scheme, authority) = url.split_once("://").expect("a url");
    Origin::parse(scheme, authority).expect("an origin")
}

/// Checks whether each entry allows each URL as expected.
fn check(cases: &[(&str, &str, bool)]) {
    for &(entry, url, expected) in cases {
        let parsed = Entry::parse_stored(entry).expect("an entry");
        assert_eq!(parsed.allows(&origin(url)), expected, "{entry} vs {url}");
    }
}

#[test]
fn an_entry_matches_its_scheme_host_and_effective_port() {
    check(&[
        ("https://api.test", "https://api.test", true),
        ("https://api.test", "https://api.test:443", true),
        ("https://api.test:443", "https://api.test", true),
        ("http://api.test", "http://api.test:80", true),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", true),
        ("https://api.test", "http://api.test", false),
        ("https://api.test", "https://api.test:8443", false),
        ("http://api.test", "http://api.test:443", false),
        ("https://api.test", "https://test", false),
        ("https://test", "https://api.test", false),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8081", false),
    ]);
}

#[test]
fn names_match_in_any_case_and_addresses_by_value() {
    check(&[
        ("HTTPS://API.Test", "https://api.test", true),
        ("https://api.test", "HTTPS://Api.TEST", true),
        ("http://[::1]:8080", "http://[0:0::1]:8080", true),
        ("http://[2001:DB8::1]", "http://[2001:db8::0:1]:80", true),
        ("http://[::1]:8080", "http://[::1]:8081", false),
        ("http://127.0.0.1", "http://[::ffff:127.0.0.1]", false),
        ("http://localhost", "http://127.0.0.1", false),
        ("http://127.0.0.1", "http://localhost", false),
    ]);
}

#[test]
fn entries_print_in_their_canonical_form() {
    for (text, shown) in [
        ("HTTPS://Api.Example.com:443", "https://api.example.com"),
        ("http://[0::1]:8080", "http://[::1]:8080"),
        ("http://10.0.0.5:80", "http://10.0.0.5"),
        ("Example.com:8080", "example.com:8080"),
    ] {
        assert_eq!(Entry::parse_stored(text).unwrap().to_string(), shown);
    }
}

#[test]
fn malformed_entries_are_refused_with_the_reason() {
    for (text, error) in [
        ("https://api.example.com/", EntryError::Path),
        ("https://api.example.com/v1", EntryError::Path),
        ("https://api.example.com?x", EntryError::Path),
        ("https://api.example.com#x", EntryError::Path),
        ("https://user@api.example.com", EntryError::UserInfo),
        ("https://user:pw@api.example.com", EntryError::UserInfo),
        ("ftp://api.example.com", EntryError::Scheme),
        ("api.example.com/v1", EntryError::Scheme),
        ("https://", EntryError::Host),
        ("https://api..example.com", EntryError::Host),
        ("https://-api.example.com", EntryError::Host),
        ("https://api_1.example.com", EntryError::Host),
        ("https://api.example.com.", EntryError::Host),
        ("https://1.2.3", EntryError::Host),
        ("https://0x7f.1", EntryError::Host),
        ("https://2130706433", EntryError::Host),
        ("http://::1", EntryError::Host),
        ("http://[::1", EntryError::Host),
        ("http://[127.0.0.1]", EntryError::Host),
        ("http://[fe80::1%25eth0]", EntryError::Host),
        ("https://api.example.com:", EntryError::Port),
        ("https://api.example.com:0", EntryError::Port),
        ("https://api.example.com:65536", EntryError::Port),
        ("https://api.example.com:+1", EntryError::Port),
        ("https://api.example.com:https", EntryError::Port),
    ] {
        assert_eq!(Entry::parse(text), Err(error), "{text}");
    }
}

#[test]
fn a_new_entry_without_a_scheme_is_refused_with_a_hint() {
    let error = Entry::parse("API.example.com:8443").unwrap_err();
    assert_eq!(
        error,
        EntryError::NoScheme {
            suggestion: "api.example.com:8443".into()
        }
    );
    assert!(
        error
            .to_string()
            .contains("write https://api.example.com:8443"),
        "{error}"
    );
    assert!(Entry::parse("127.0.0.1:8080").is_err());
}

#[test]
fn stored_bare_entries_match_either_scheme_as_before() {
    check(&[
        ("api.test", "https://api.test", true),
        ("api.test", "http://api.test:8080", true),
        ("127.0.0.1:8080", "http://127.0.0.1:8080", true),
        ("127.0.0.1:8080", "https://127.0.0.1:8080", true),
        ("api.test:443", "https://api.test", true),
        ("127.0.0.1:8080", "http://127.0.0.1:8081", false),
        ("api.test", "https://test", false),
    ]);
    assert_eq!(
        Entry::parse_stored("api.example.com/v1"),
        Err(EntryError::Scheme)
    );
}

#[test]
fn a_list_ignores_stored_entries_that_no_longer_parse() {
    let list = AllowList::from_stored(&["not a host", "http://127.0.0.1:9"]);
    assert_eq!(list.entries.len(), 1);
    assert!(list.allows(&origin("http://127.0.0.1:9")));
}

#[test]
fn request_authorities_parse_like_entries() {
    assert_eq!(
        origin("https://Api.Example.com"),
        Origin {
            scheme: Scheme::Https,
            host: Host::Name("api.example.com".into()),
            port: 443
        }
    );
    assert_eq!(
        origin("http://[::1]:8080").host,
        Host::Ip("::1".parse().unwrap())
    );
    assert_eq!(origin("http://[::1]:8080").to_string(), "http://[::1]:8080");
    assert_eq!(
        origin("https://example.com:443").to_string(),
        "https://example.com"
    );
    assert!(Origin::parse("ftp", "example.com").is_err());
    assert!(Origin::parse("http", "user@example.com").is_err());
    assert!(Origin::parse("http", "example.com:99999").is_err());
}

#[test]
fn a_name_may_resolve_to_a_non_global_address_only_if_it_is_listed() {
    let list = AllowList::from_stored(&[
        "http://localhost:8080",
        "https://api.example.com",
        "http://127.0.0.1:8080",
    ]);
    let localhost = origin("http://localhost:8080");
    let api = origin("https://api.example.com");
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let private: IpAddr = "10.0.0.5".parse().unwrap();
    let public: IpAddr = "93.184.215.14".parse().unwrap();
    assert_eq!(list.check_resolved(&localhost, [loopback]), Ok(()));
    assert_eq!(list.check_resolved(&api, [public]), Ok(()));
    let refusal = list.check_resolved(&api, [public, private]).unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "api.example.com resolves to 10.0.0.5, a private address, not on allowed_hosts"
    );
    // Listed for another port or scheme is not listed.
    let other_port = origin("http://localhost:8081");
    let mut wider = list.clone();
    wider.push(Entry::parse("http://localhost:8081").unwrap());
    assert!(wider.check_resolved(&other_port, [loopback]).is_err());
    // An address in the URL is checked by matching alone.
    assert_eq!(
        list.check_resolved(&origin("http://10.0.0.5"), [private]),
        Ok(())
    );
}
