//! Outbound request policy for URLs that come from users (webhook URLs, later
//! Mastodon instances and Bluesky PDS hosts). Such a URL must not let a user make
//! Herald call its own network: private, loopback, link-local and similar
//! addresses are refused unless the operator allowed them
//! (`HERALD_ALLOWED_PRIVATE_NETS`). Provider API bases set by the operator in
//! configuration are trusted and do not go through this policy.
//!
//! The check happens twice: on the URL's host before sending (IP literals never
//! reach a resolver), and in the DNS resolver of the guarded HTTP client, so a
//! name that resolves to a private address (or re-binds to one) is refused too.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error(
        "address {0} is private, loopback or link-local and not in HERALD_ALLOWED_PRIVATE_NETS"
    )]
    Forbidden(IpAddr),
    #[error("host {0} did not resolve")]
    Unresolved(String),
    #[error("URL has no host")]
    NoHost,
}

#[derive(Clone, Debug, Default)]
pub struct OutboundPolicy {
    allowed_private: Arc<Vec<IpNet>>,
}

/// Addresses a user-supplied URL may not reach by default.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let seg = v6.segments();
            let seg0 = seg[0];
            let low_v4 = Ipv4Addr::new(
                (seg[6] >> 8) as u8,
                seg[6] as u8,
                (seg[7] >> 8) as u8,
                seg[7] as u8,
            );
            // IPv4 inside IPv6: NAT64 64:ff9b::/96 and IPv4-compatible ::a.b.c.d.
            if (seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0])
                || (seg[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified())
            {
                return is_internal_v4(low_v4);
            }
            // 6to4 2002:a.b.c.d::/48 carries the IPv4 address in segments 1-2.
            if seg0 == 0x2002 {
                let v4 = Ipv4Addr::new(
                    (seg[1] >> 8) as u8,
                    seg[1] as u8,
                    (seg[2] >> 8) as u8,
                    seg[2] as u8,
                );
                return is_internal_v4(v4);
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (seg0 == 0x2001 && seg[1] == 0) // Teredo 2001::/32 (hides its IPv4 peer)
                || v6 == Ipv6Addr::from_bits(0) // ::
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // carrier-grade NAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

impl OutboundPolicy {
    pub fn new(allowed_private: Vec<IpNet>) -> Self {
        OutboundPolicy {
            allowed_private: Arc::new(allowed_private),
        }
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allowed_private.iter().any(|n| n.contains(&ip))
    }

    /// Checks a user-supplied URL's host: an IP literal directly, a name by
    /// resolving it (every address must be allowed).
    pub async fn check_url(&self, url: &url::Url) -> Result<(), OutboundError> {
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            None => Err(OutboundError::NoHost),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => {
                self.resolve(name, port).await?;
                Ok(())
            }
        }
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), OutboundError> {
        if self.allows(ip) {
            Ok(())
        } else {
            Err(OutboundError::Forbidden(ip))
        }
    }

    /// Resolves `name`; refuses when any address is forbidden.
    pub async fn resolve(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| OutboundError::Unresolved(name.to_owned()))?
            .collect();
        if addrs.is_empty() {
            return Err(OutboundError::Unresolved(name.to_owned()));
        }
        for a in &addrs {
            self.check_ip(a.ip())?;
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for OutboundPolicy {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.clone();
        Box::pin(async move {
            let addrs = OutboundPolicy::resolve(&policy, name.as_str(), 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_addresses_are_refused_by_default() {
        let p = OutboundPolicy::default();
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!p.allows(ip(bad)), "{bad} should be refused");
        }
        for good in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "1.1.1.1",
        ] {
            assert!(p.allows(ip(good)), "{good} should be allowed");
        }
    }

    #[test]
    fn allowed_nets_open_exactly_what_they_name() {
        let p = OutboundPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        assert!(p.allows(ip("127.0.0.1")));
        assert!(!p.allows(ip("127.0.0.2")));
        assert!(!p.allows(ip("10.0.0.1")));
    }

    #[tokio::test]
    async fn literal_and_resolved_hosts_are_checked() {
        let p = OutboundPolicy::default();
        let u = url::Url::parse("http://127.0.0.1:9/x").unwrap();
        assert_eq!(
            p.check_url(&u).await,
            Err(OutboundError::Forbidden(ip("127.0.0.1")))
        );
        let u = url::Url::parse("http://[::1]/x").unwrap();
        assert!(p.check_url(&u).await.is_err());
        let u = url::Url::parse("http://localhost:9/x").unwrap();
        assert!(matches!(
            p.check_url(&u).await,
            Err(OutboundError::Forbidden(_))
        ));
        let allowed = OutboundPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        assert!(
            allowed
                .check_url(&url::Url::parse("http://localhost:9/x").unwrap())
                .await
                .is_ok()
        );
    }
}
