//! The SSRF guard: which addresses a delivery may connect to.
//!
//! Every address a webhook's host resolves to is checked when the connection is made,
//! by the resolver the HTTP client uses ([`GuardedResolver`]), so a name that resolved to
//! a public address at creation and to `127.0.0.1` now (DNS rebinding) is still refused.
//! Literal IP hosts never reach a resolver; [`AddressPolicy::check_url`] checks them after
//! the URL parser has normalised every spelling (`2130706433`, `0x7f.1`, `127.1`,
//! `[::ffff:127.0.0.1]`) to one address. It also refuses names that can only mean an
//! internal host (`localhost`, `*.internal`, `*.local`, single labels such as `metadata`,
//! cloud metadata names), which the parser has lower-cased and IDNA-mapped first, so
//! `LOCALHOST.`, `ｌｏｃａｌｈｏｓｔ` and `localhost.` are all `localhost`.

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

/// Why a URL's host is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Address(#[from] Blocked),
    #[error(
        "{name} is {reason}; deliveries go only to public hosts (allow a range with [delivery] allow_private_cidrs)"
    )]
    Name { name: String, reason: &'static str },
}

/// Cloud metadata services' names: refused unless their address is allowed.
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
    "metadata.platformequinix.com",
];

/// Top-level names that are never on the public internet: special-use (RFC 6761,
/// RFC 6762, RFC 7686, RFC 8375, RFC 9476) and the private-use ones common inside
/// networks (ICANN's `.internal`; `.localdomain`, `.lan`, `.intranet`, `.corp`, `.home`).
const INTERNAL_SUFFIXES: &[&str] = &[
    "local",
    "internal",
    "localdomain",
    "home.arpa",
    "lan",
    "intranet",
    "corp",
    "home",
    "private",
    "test",
    "example",
    "invalid",
    "onion",
    "alt",
];

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

    /// Checks a URL's host: a literal address, or a name that can only be internal.
    /// Other names are checked at resolution, on every address they resolve to.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        match url.host() {
            Some(Host::Ipv4(a)) => Ok(self.check(IpAddr::V4(a))?),
            Some(Host::Ipv6(a)) => Ok(self.check(IpAddr::V6(a))?),
            Some(Host::Domain(name)) => self.check_name(name),
            None => Ok(()),
        }
    }

    /// Refuses names that cannot be a public host, unless the deployment allows the
    /// range they would reach: `localhost` with loopback allowed, internal names with
    /// any private range allowed (their addresses are still checked at connect time),
    /// metadata names with the metadata address allowed.
    ///
    /// Runs before every attempt, so it allocates nothing unless it refuses.
    pub fn check_name(&self, name: &str) -> Result<(), Refused> {
        let name = name.trim_end_matches('.');
        let refuse = |reason| Err(Refused::Name { name: name.to_ascii_lowercase(), reason });
        // `name` is `suffix`, or ends with `.suffix`, in any case.
        let under = |suffix: &str| {
            let Some(start) = name.len().checked_sub(suffix.len()) else { return false };
            name.get(start..).is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                && (start == 0 || name.as_bytes()[start - 1] == b'.')
        };
        if under("localhost") {
            let loopback_allowed =
                self.allowed(IpAddr::V4(Ipv4Addr::LOCALHOST)) || self.allowed(IpAddr::V6(Ipv6Addr::LOCALHOST));
            return if loopback_allowed { Ok(()) } else { refuse("a loopback name") };
        }
        if METADATA_NAMES.iter().any(|m| m.eq_ignore_ascii_case(name)) {
            return if self.allowed(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))) {
                Ok(())
            } else {
                refuse("a cloud metadata service's name")
            };
        }
        if self.allow.is_empty() {
            if !name.contains('.') {
                return refuse("a single-label name, which resolves only inside a network");
            }
            if INTERNAL_SUFFIXES.iter().any(|s| under(s)) {
                return refuse("a special-use or internal name");
            }
        }
        Ok(())
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
    use std::str::FromStr;

    use super::*;

    fn verdict(policy: &AddressPolicy, url: &str) -> Result<(), Refused> {
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
            assert!(matches!(err, Refused::Address(_)), "{u}: {err}");
        }
        assert!(verdict(&p, "https://example.com/").is_ok(), "names are checked at resolution");
        assert!(verdict(&p, "https://8.8.8.8/").is_ok());
    }

    /// Every spelling of a non-public target we know of, as a webhook URL: each is
    /// refused by the check registration and every attempt run, before any connection.
    /// (docs/security.md lists them.)
    const HOSTILE_URLS: &[&str] = &[
        // IPv4 loopback in integer, octal, hex, short and mixed forms
        "http://2130706433/",
        "http://017700000001/",
        "http://0x7f000001/",
        "http://0x7f.0.0.1/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://0177.1/",
        "http://127.1/",
        "http://127.0.1/",
        "http://127.000.000.001/",
        "http://0x7F.0x00.0x00.0x01/",
        "http://127.0.0.1./",
        "http://0/",
        "http://0.0.0.0/",
        // private, CGNAT, link-local and metadata addresses
        "http://10.0.0.1/",
        "http://012.0.0.1/",
        "http://167772161/",
        "http://172.16.0.1/",
        "http://192.168.0.1/",
        "http://100.100.100.200/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://0251.0376.0251.0376/",
        "http://169.254.169.254.:80/",
        // IPv6: loopback, unspecified, IPv4-mapped and -compatible, NAT64, 6to4, Teredo, ULA, link-local
        "http://[::1]/",
        "http://[0:0:0:0:0:0:0:1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::127.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[64:ff9b:1::a00:1]/",
        "http://[2002:7f00:1::]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        // names: loopback, special-use, internal, single-label and metadata, in every case,
        // with trailing dots, full-width letters and IDNA
        "http://localhost/",
        "http://LOCALHOST/",
        "http://localhost./",
        "http://localhost../",
        "http://api.localhost/",
        "http://ｌｏｃａｌｈｏｓｔ/",
        "http://ＬＯＣＡＬＨＯＳＴ./",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.GOOGLE.INTERNAL./",
        "http://metadata/",
        "http://metadata.goog/",
        "http://instance-data/",
        "http://kubernetes/",
        "http://kubernetes.default.svc.cluster.local/",
        "http://printer.local/",
        "http://db.internal/",
        "http://host.localdomain/",
        "http://router.home.arpa/",
        "http://x.test/",
        "http://x.invalid/",
        "http://x.example/",
        "http://duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion/",
        // full-width digits and dots in an address
        "http://１２７．０．０．１/",
        "http://１０．０．０．１/",
        // user-info and fragment tricks: the host is what follows the last @
        "http://example.com@127.0.0.1/",
        "http://example.com:80@127.0.0.1/",
        "http://user@[::1]/",
        "http://127.0.0.1#@example.com/",
        "http://127.0.0.1:80\\@example.com/",
        // other schemes reach the same hosts: the guard looks only at the host
        "https://127.0.0.1/",
        "https://[::1]:8443/",
    ];

    #[test]
    fn every_spelling_of_a_non_public_target_is_refused() {
        let p = AddressPolicy::default();
        for u in HOSTILE_URLS {
            let url = Url::parse(u).unwrap_or_else(|e| panic!("{u} does not parse ({e}); take it off the list"));
            assert!(p.check_url(&url).is_err(), "{u} (host {:?}) must be refused", url.host());
        }
    }

    #[test]
    fn public_names_pass_and_are_checked_at_resolution() {
        let p = AddressPolicy::default();
        for u in [
            "https://example.com/",
            "https://hooks.example.com./x",
            "https://localhost.example.com/",
            "https://internal.example.com/",
            "https://xn--bcher-kva.example/",
            "https://a.b.c.d.example.org/",
        ] {
            let url = Url::parse(u).unwrap();
            if u.contains(".example/") {
                assert!(p.check_url(&url).is_err(), "{u}: the .example TLD is reserved");
            } else {
                assert!(p.check_url(&url).is_ok(), "{u}: {:?}", p.check_url(&url));
            }
        }
    }

    #[test]
    fn names_match_whole_labels_in_any_case() {
        let p = AddressPolicy::default();
        for refused in ["Printer.LOCAL.", "METADATA", "Api.LocalHost", "x.Internal"] {
            assert!(p.check_name(refused).is_err(), "{refused} must be refused");
        }
        for passes in ["notlocalhost.com", "local.example.com", "internal-tools.io", "metadata.example.org"] {
            assert!(p.check_name(passes).is_ok(), "{passes}: {:?}", p.check_name(passes));
        }
    }

    #[test]
    fn names_open_with_the_ranges_they_reach() {
        let loopback = AddressPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(loopback.check_name("localhost").is_ok());
        assert!(loopback.check_name("printer.local").is_ok(), "internal names with a private range allowed");
        assert!(loopback.check_name("metadata.google.internal").is_err(), "metadata stays refused");
        let private = AddressPolicy::new(vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(private.check_name("localhost").is_err(), "loopback names need loopback allowed");
        assert!(private.check_name("db.internal").is_ok());
        let metadata = AddressPolicy::new(vec!["169.254.169.254/32".parse().unwrap()]);
        assert!(metadata.check_name("metadata.google.internal").is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_a_refused_address() {
        // `localhost` resolves from /etc/hosts, with no network: to loopback, which a
        // deployment allowing only 10.0.0.0/8 refuses at connect time.
        let policy = Arc::new(AddressPolicy::new(vec!["10.0.0.0/8".parse().unwrap()]));
        let resolver = GuardedResolver::new(policy.clone());
        let err = match resolver.resolve(Name::from_str("localhost").unwrap()).await {
            Ok(addrs) => panic!("localhost resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("loopback"), "{err}");
        // The egress proxy the operator named is trusted.
        let resolver = GuardedResolver::new(policy).trusting("localhost");
        assert!(resolver.resolve(Name::from_str("localhost").unwrap()).await.is_ok());
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
