//! The SSRF guard: which addresses a delivery may connect to.
//!
//! Every address a webhook's host resolves to is checked when the connection is made,
//! by the resolver the HTTP client uses ([`GuardedResolver`]), so a name that resolved to
//! a public address at creation and to `127.0.0.1` now (DNS rebinding) is still refused.
//! Literal IP hosts never reach a resolver; [`AddressPolicy::check_url`] checks them after
//! the URL parser has normalised every spelling (`2130706433`, `0x7f.1`, `127.1`,
//! `[::ffff:127.0.0.1]`) to one address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{addr} is a {reason} address; deliveries go only to public addresses (allow a range with [delivery] allow_private_cidrs)")]
pub struct Blocked {
    pub addr: IpAddr,
    pub reason: &'static str,
}

/// The addresses deliveries may reach: public ones, plus any allowed ranges.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
}

impl AddressPolicy {
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    pub fn check(&self, addr: IpAddr) -> Result<(), Blocked> {
        if self.allowed(addr) {
            return Ok(());
        }
        match non_public(addr) {
            None => Ok(()),
            Some(reason) => {
                // An address embedding an allowed IPv4 one (::ffff:127.0.0.1 when loopback
                // is allowed) is as allowed as the address it embeds.
                if let Some(v4) = embedded_v4(addr) {
                    if self.allowed(IpAddr::V4(v4)) && non_public(IpAddr::V4(v4)).is_some() {
                        return Ok(());
                    }
                }
                Err(Blocked { addr, reason })
            }
        }
    }

    /// Checks a URL whose host is a literal address; names are checked at resolution.
    pub fn check_url(&self, url: &Url) -> Result<(), Blocked> {
        match url.host() {
            Some(Host::Ipv4(a)) => self.check(IpAddr::V4(a)),
            Some(Host::Ipv6(a)) => self.check(IpAddr::V6(a)),
            _ => Ok(()),
        }
    }

    fn allowed(&self, addr: IpAddr) -> bool {
        self.allow.iter().any(|n| n.contains(&addr))
    }
}

/// Why `addr` is not a public address, or `None` when it is.
pub fn non_public(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(a) => non_public_v4(a),
        IpAddr::V6(a) => non_public_v6(a),
    }
}

fn in_v4(a: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    (u32::from(a) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn non_public_v4(a: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u8, &str)] = &[
        ([0, 0, 0, 0], 8, "unspecified (\"this network\")"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 169, 254], 32, "cloud metadata"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol assignment"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "6to4 relay"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([255, 255, 255, 255], 32, "broadcast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    RANGES.iter().find(|(net, p, _)| in_v4(a, *net, *p)).map(|(_, _, why)| *why)
}

fn non_public_v6(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    if a.is_unspecified() {
        return Some("unspecified");
    }
    if a.is_loopback() {
        return Some("loopback");
    }
    // Forms that carry an IPv4 address: the verdict is the embedded address's.
    if let Some(v4) = embedded_v4(IpAddr::V6(a)) {
        return non_public_v4(v4).or(match s[0] {
            // The local-use NAT64 prefix is never public, whatever it embeds.
            0x64 if s[1] == 0xff9b && s[2] == 1 => Some("local-use NAT64"),
            _ => None,
        });
    }
    let first = s[0];
    match () {
        _ if first & 0xfe00 == 0xfc00 => Some("unique local"),
        _ if first & 0xffc0 == 0xfe80 => Some("link-local"),
        _ if first & 0xffc0 == 0xfec0 => Some("site-local"),
        _ if first & 0xff00 == 0xff00 => Some("multicast"),
        _ if first == 0x2001 && s[1] == 0x0db8 => Some("documentation"),
        _ if first == 0x3fff && s[1] & 0xf000 == 0 => Some("documentation"),
        _ if first == 0x2001 && s[1] == 0x0002 && s[2] == 0 => Some("benchmarking"),
        _ if first == 0x2001 && (s[1] & 0xfff0 == 0x0010 || s[1] & 0xfff0 == 0x0020) => Some("ORCHID"),
        _ if first == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0 => Some("discard-only"),
        _ if first == 0x2001 && s[1] < 0x0200 && s[1] != 0 => Some("IETF protocol assignment"),
        _ if first & 0xe000 != 0x2000 => Some("reserved (not global unicast)"),
        _ => None,
    }
}

/// The IPv4 address carried by an IPv6 address: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`), 6to4
/// (`2002:AABB:CCDD::/48`) and Teredo (`2001:0::/32`, client address inverted).
pub fn embedded_v4(addr: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(a) = addr else { return None };
    let s = a.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || (s[5] == 0 && u32::from(low) > 1)) {
        return Some(low);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0, 0, 0, 0] || s[2] == 1) {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some(Ipv4Addr::from(!u32::from(low)));
    }
    None
}

/// A resolver for the HTTP client that refuses names resolving to refused addresses.
/// Allowed addresses are kept and the refused ones dropped; when none is left the
/// connection fails with a [`Blocked`] error in its chain.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
    /// A name whose addresses are not checked: the egress proxy the operator configured.
    trusted: Option<String>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy, trusted: None }
    }

    /// Resolves `host` (the configured egress proxy) without the address check.
    pub fn trusting(mut self, host: &str) -> Self {
        self.trusted = Some(host.trim_end_matches('.').to_ascii_lowercase());
        self
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let trusted = self.trusted.as_deref() == Some(name.as_str().trim_end_matches('.'));
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if trusted {
                return Ok(Box::new(addrs.into_iter()) as Addrs);
            }
            let mut first_block = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(b) => {
                        first_block.get_or_insert(b);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = match first_block {
                    Some(b) => Box::new(b),
                    None => format!("{host} has no addresses").into(),
                };
                return Err(err);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(policy: &AddressPolicy, url: &str) -> Result<(), Blocked> {
        policy.check_url(&Url::parse(url).unwrap())
    }

    #[test]
    fn every_non_public_range_is_refused() {
        let p = AddressPolicy::default();
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "169.254.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "2001:2::1",
            "2001:10::1",
            "100::1",
            "2001:100::1",
            "4000::1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(p.check(ip).is_err(), "{a} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let p = AddressPolicy::default();
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "172.32.0.1",
            "100.128.0.1",
            "11.0.0.1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert!(p.check(ip).is_ok(), "{a} must pass: {:?}", p.check(ip));
        }
    }

    #[test]
    fn every_spelling_of_a_literal_address_is_normalised_first() {
        let p = AddressPolicy::default();
        for u in [
            "https://2130706433/",
            "https://0x7f.1/",
            "https://127.1/",
            "https://0177.0.0.1/",
            "https://0x7f000001/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[0:0:0:0:0:ffff:127.0.0.1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://0/",
        ] {
            let err = verdict(&p, u).expect_err(u);
            assert!(!err.reason.is_empty());
        }
        assert!(verdict(&p, "https://example.com/").is_ok(), "names are checked at resolution");
        assert!(verdict(&p, "https://8.8.8.8/").is_ok());
    }

    #[test]
    fn allowed_ranges_open_exactly_themselves() {
        let p = AddressPolicy::new(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        assert!(p.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check("::1".parse().unwrap()).is_ok());
        assert!(p.check("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check("10.0.0.1".parse().unwrap()).is_err());
        assert!(p.check("169.254.169.254".parse().unwrap()).is_err());
        let p = AddressPolicy::new(vec!["10.1.0.0/16".parse().unwrap()]);
        assert!(p.check("10.1.2.3".parse().unwrap()).is_ok());
        assert!(p.check("10.2.0.1".parse().unwrap()).is_err());
    }

    #[test]
    fn the_message_says_what_to_do() {
        let e = AddressPolicy::default().check("10.0.0.1".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("allow_private_cidrs") && e.to_string().contains("private"));
    }
}
