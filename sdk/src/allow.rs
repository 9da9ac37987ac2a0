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

mod address;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use address::non_global;

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

#[cfg(test)]
mod tests;
