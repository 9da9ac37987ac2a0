//! The grammar of a consumer's `allowed_hosts` entries and how they match a request, in one
//! place: the server's HTTP gate and its validation use it, and so does the native test kit,
//! so a handler that passes its tests is not denied once deployed.
//!
//! An entry is an origin: a scheme, a host and an optional port, nothing else.
//!
//! ```
//! use switchyard_sdk::allow::{Entry, Origin};
//!
//! let entry = Entry::parse("https://api.example.com").unwrap();
//! assert!(entry.allows(&Origin::parse("https", "API.example.com:443").unwrap()));
//! assert!(!entry.allows(&Origin::parse("http", "api.example.com").unwrap()));
//! assert!(Entry::parse("api.example.com").is_err()); // write https://api.example.com
//! ```
//!
//! - The scheme is `http` or `https`; the port defaults to 80 or 443 by scheme; the host is a
//!   DNS name (matched case-insensitively), an IPv4 address or a bracketed IPv6 address
//!   (`http://[::1]:8080`). No path, query, fragment or user info.
//! - An entry matches a request of the same scheme, host and effective port.
//! - Entries stored before schemes were required, `name` or `name:port`, still load
//!   ([`Entry::parse_stored`]): they match either scheme, `name` on any port.
//! - A name is a name: the entry `https://api.example.com` does not allow a request to the
//!   address it resolves to, and a name that resolves to a loopback, private, link-local or
//!   otherwise non-global address is refused unless that address is listed itself
//!   ([`AllowList::check_resolved`], [`non_global`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP, port 80 unless given.
    Http,
    /// HTTP over TLS, port 443 unless given.
    Https,
}

impl Scheme {
    /// Parses `http` or `https`, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if text.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A DNS name (lower-case) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lower-case, without a trailing dot.
    Name(String),
    /// An IP address, written as itself (IPv6 in brackets).
    Ip(IpAddr),
}

impl Host {
    /// Parses a host as it appears in a URL: a DNS name, an IPv4 address, or an IPv6
    /// address in brackets.
    pub fn parse(text: &str) -> Result<Self, EntryError> {
        if let Some(inner) = text.strip_prefix('[') {
            return inner
                .strip_suffix(']')
                .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
                .map(|ip| Host::Ip(IpAddr::V6(ip)))
                .ok_or(EntryError::Host);
        }
        if let Ok(ip) = text.parse::<Ipv4Addr>() {
            return Ok(Host::Ip(IpAddr::V4(ip)));
        }
        let labels_ok = text.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        // A numeric last label would make resolvers read the name as an address (`1.2.3`,
        // `0x7f.1`), so such names are refused as URL parsers refuse them.
        let numeric_tail = text
            .rsplit('.')
            .next()
            .is_some_and(|tail| tail.bytes().all(|b| b.is_ascii_digit()));
        if text.len() > 253 || !labels_ok || numeric_tail {
            return Err(EntryError::Host);
        }
        Ok(Host::Name(text.to_ascii_lowercase()))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// Where a request goes: scheme, host and effective port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The scheme.
    pub scheme: Scheme,
    /// The host.
    pub host: Host,
    /// The port, the scheme's default when the URL has none.
    pub port: u16,
}

impl Origin {
    /// The origin of a request with this scheme and authority (`host` or `host:port`).
    pub fn parse(scheme: &str, authority: &str) -> Result<Self, EntryError> {
        let scheme = Scheme::parse(scheme).ok_or(EntryError::Scheme)?;
        let (host, port) = split_port(authority)?;
        Ok(Origin {
            scheme,
            host: Host::parse(host)?,
            port: port.unwrap_or(scheme.default_port()),
        })
    }

    /// The same origin with `ip` as its host.
    pub fn at(&self, ip: IpAddr) -> Self {
        Origin {
            host: Host::Ip(ip),
            ..self.clone()
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// One `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// `None` only for an entry stored without a scheme: either scheme matches.
    scheme: Option<Scheme>,
    host: Host,
    /// `None` only for a stored bare `name`: any port matches.
    port: Option<u16>,
}

impl Entry {
    /// Parses an entry as a new consumer setting must be written: `scheme://host[:port]`.
    pub fn parse(text: &str) -> Result<Self, EntryError> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(if text.contains(['/', '?', '#', '@']) {
                EntryError::Scheme
            } else {
                EntryError::NoScheme {
                    suggestion: text.to_ascii_lowercase(),
                }
            });
        };
        let scheme = Scheme::parse(scheme).ok_or(EntryError::Scheme)?;
        if rest.contains('@') {
            return Err(EntryError::UserInfo);
        }
        if rest.contains(['/', '?', '#']) {
            return Err(EntryError::Path);
        }
        let (host, port) = split_port(rest)?;
        Ok(Entry {
            scheme: Some(scheme),
            host: Host::parse(host)?,
            port: Some(port.unwrap_or(scheme.default_port())),
        })
    }

    /// Parses an entry as stored: [`Entry::parse`]'s form, or the bare `name` or
    /// `name:port` of consumers created before schemes were required, which matches either
    /// scheme (a bare `name` on any port, as it always has).
    pub fn parse_stored(text: &str) -> Result<Self, EntryError> {
        match Entry::parse(text) {
            Err(EntryError::NoScheme { .. }) => {
                let (host, port) = split_port(text)?;
                Ok(Entry {
                    scheme: None,
                    host: Host::parse(host)?,
                    port,
                })
            }
            parsed => parsed,
        }
    }

    /// Whether a request to `origin` passes this entry.
    pub fn allows(&self, origin: &Origin) -> bool {
        self.scheme.is_none_or(|scheme| scheme == origin.scheme)
            && self.host == origin.host
            && self.port.is_none_or(|port| port == origin.port)
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.scheme, self.port) {
            (Some(scheme), Some(port)) => fmt::Display::fmt(
                &Origin {
                    scheme,
                    host: self.host.clone(),
                    port,
                },
                f,
            ),
            (None, Some(port)) => write!(f, "{}:{port}", self.host),
            (_, None) => write!(f, "{}", self.host),
        }
    }
}

/// Why a text is not an entry (or a request's authority is not one we can match).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryError {
    /// A bare host: entries name their scheme now.
    NoScheme {
        /// The host as written, lower-case, for the hint.
        suggestion: String,
    },
    /// A scheme other than `http` or `https`.
    Scheme,
    /// Something after the host and port.
    Path,
    /// `user@` before the host.
    UserInfo,
    /// Not a DNS name, an IPv4 address or a bracketed IPv6 address.
    Host,
    /// Not a port in 1..=65535.
    Port,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::NoScheme { suggestion } => write!(
                f,
                "an entry names its scheme: write https://{suggestion} (or http://{suggestion})"
            ),
            EntryError::Scheme => f.write_str("the scheme must be http:// or https://"),
            EntryError::Path => {
                f.write_str("an entry is a scheme, a host and an optional port, with no path")
            }
            EntryError::UserInfo => f.write_str("an entry carries no user info (user@)"),
            EntryError::Host => f.write_str(
                "the host must be a DNS name, an IPv4 address or an IPv6 address in brackets",
            ),
            EntryError::Port => f.write_str("the port must be a number in 1..=65535"),
        }
    }
}

impl std::error::Error for EntryError {}

/// `host` and the optional port of `host:port` (`[v6]:port` for IPv6).
fn split_port(authority: &str) -> Result<(&str, Option<u16>), EntryError> {
    let port_at = match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') => at,
        _ => return Ok((authority, None)),
    };
    let (host, port) = (&authority[..port_at], &authority[port_at + 1..]);
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EntryError::Port);
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok((host, Some(port))),
        _ => Err(EntryError::Port),
    }
}

/// A consumer's `allowed_hosts`, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
}

impl AllowList {
    /// The list of these stored entries ([`Entry::parse_stored`]); an entry that does not
    /// parse allows nothing.
    pub fn from_stored<S: AsRef<str>>(entries: &[S]) -> Self {
        AllowList {
            entries: entries
                .iter()
                .filter_map(|entry| Entry::parse_stored(entry.as_ref()).ok())
                .collect(),
        }
    }

    /// Adds an entry.
    pub fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    /// Whether some entry allows a request to `origin`.
    pub fn allows(&self, origin: &Origin) -> bool {
        self.entries.iter().any(|entry| entry.allows(origin))
    }

    /// Checks the addresses `origin`'s name resolved to: each must be a global address or
    /// itself allowed for the origin's scheme and port. The first one that is neither is the
    /// refusal. (For an origin whose host is an address, nothing is left to check.)
    pub fn check_resolved(
        &self,
        origin: &Origin,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), Refusal> {
        let Host::Name(name) = &origin.host else {
            return Ok(());
        };
        for address in addresses {
            if let Some(class) = non_global(address)
                && !self.allows(&origin.at(address))
            {
                return Err(Refusal {
                    name: name.clone(),
                    address,
                    class,
                });
            }
        }
        Ok(())
    }
}

/// An allowed name that resolved to a non-global address not on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The name.
    pub name: String,
    /// The address refused.
    pub address: IpAddr,
    /// What kind of address, e.g. `a private address` ([`non_global`]).
    pub class: &'static str,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves to {}, {}, not on allowed_hosts",
            self.name, self.address, self.class
        )
    }
}

impl std::error::Error for Refusal {}

/// What kind of non-global address `ip` is (`a loopback address`, `a private address`, ...),
/// or `None` for an address reachable on the public internet. IPv4 addresses mapped into
/// IPv6 (`::ffff:a.b.c.d`, and NAT64's `64:ff9b::/96`) are judged as the IPv4 address.
pub fn non_global(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => non_global_v4(ip),
        IpAddr::V6(ip) => non_global_v6(ip),
    }
}

fn non_global_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address",
        _ if ip.is_link_local() => "a link-local address",
        (100, 64..=127, _) => "a shared (carrier-grade NAT) address",
        _ if ip.is_multicast() => "a multicast address",
        _ if ip.is_broadcast() => "a broadcast address",
        _ if ip.is_documentation() => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        (0, _, _) | (192, 0, 0) | (240..=255, _, _) => "a reserved address",
        _ => return None,
    })
}

fn non_global_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_global_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_global_v4(Ipv4Addr::from_bits(
            (u32::from(segments[6]) << 16) | u32::from(segments[7]),
        ));
    }
    Some(match segments[0] {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        0xfc00..=0xfdff => "a private address",
        0xfe80..=0xfebf => "a link-local address",
        0xff00..=0xffff => "a multicast address",
        0x2001 if segments[1] == 0x0db8 => "a documentation address",
        0x3fff if segments[1] <= 0x0fff => "a documentation address",
        // The rest of ::/8 (IPv4-compatible, NAT64's local-use 64:ff9b:1::/48), discard-only
        // 100::/64, IETF protocol assignments (2001::/23: Teredo, benchmarking, ORCHID),
        // 6to4 and site-local.
        0x0000..=0x00ff | 0x0100 | 0x2002 | 0xfec0..=0xfeff => "a reserved address",
        0x2001 if segments[1] < 0x0200 => "a reserved address",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
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
    fn non_global_addresses_are_named() {
        for (ip, class) in [
            ("127.0.0.1", Some("a loopback address")),
            ("127.8.9.10", Some("a loopback address")),
            ("::1", Some("a loopback address")),
            ("10.0.0.5", Some("a private address")),
            ("172.16.0.1", Some("a private address")),
            ("172.31.255.255", Some("a private address")),
            ("192.168.1.1", Some("a private address")),
            ("fc00::1", Some("a private address")),
            ("fd12:3456::1", Some("a private address")),
            ("169.254.169.254", Some("a link-local address")),
            ("fe80::1", Some("a link-local address")),
            ("0.0.0.0", Some("an unspecified address")),
            ("::", Some("an unspecified address")),
            ("100.64.0.1", Some("a shared (carrier-grade NAT) address")),
            ("224.0.0.1", Some("a multicast address")),
            ("ff02::1", Some("a multicast address")),
            ("255.255.255.255", Some("a broadcast address")),
            ("192.0.2.1", Some("a documentation address")),
            ("2001:db8::1", Some("a documentation address")),
            ("198.18.0.1", Some("a benchmarking address")),
            ("0.1.2.3", Some("a reserved address")),
            ("240.0.0.1", Some("a reserved address")),
            ("2001::1", Some("a reserved address")),
            ("2002:a00:5::1", Some("a reserved address")),
            ("::ffff:10.0.0.5", Some("a private address")),
            ("::ffff:127.0.0.1", Some("a loopback address")),
            ("64:ff9b::a00:5", Some("a private address")),
            ("64:ff9b::808:808", None),
            ("::ffff:8.8.8.8", None),
            ("8.8.8.8", None),
            ("172.32.0.1", None),
            ("93.184.215.14", None),
            ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None),
            ("2001:4860:4860::8888", None),
        ] {
            assert_eq!(non_global(ip.parse().unwrap()), class, "{ip}");
        }
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
}
