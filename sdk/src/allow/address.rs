//! Which addresses are not on the public internet, and what kind each is: the addresses an
//! allowed name may resolve to only when they are listed themselves.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
}
