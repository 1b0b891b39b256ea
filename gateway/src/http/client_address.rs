//! Which address a request comes from, for the per-client join budget.
//!
//! By default it is the TCP peer, and `X-Forwarded-For` is ignored: any
//! client can write that header, so believing it would let one machine take
//! as many join budgets as it likes. Behind a reverse proxy or load balancer
//! every peer is the proxy, so all buyers would share one budget; the
//! operator then lists the proxies (`trusted_proxies`), and for a request
//! whose peer is one of them the client is the rightmost address of
//! `X-Forwarded-For` that is not itself a trusted proxy: the last hop a
//! trusted machine vouches for. Addresses further left were written by the
//! client and are not read.

use std::net::IpAddr;

use hyper::HeaderMap;
use ipnet::IpNet;

/// The most `X-Forwarded-For` entries looked at, from the right: a chain of
/// proxies is a handful long, and a client must not make the server scan an
/// arbitrarily long header. Past it, the peer address is used.
pub const MAX_FORWARDED_HOPS: usize = 16;

/// The most trusted proxy ranges a server takes (each request may compare
/// its peer with all of them).
pub const MAX_TRUSTED_PROXIES: usize = 256;

/// The proxies whose `X-Forwarded-For` is believed: addresses and CIDR ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn new(ranges: Vec<IpNet>) -> Result<Self, String> {
        if ranges.len() > MAX_TRUSTED_PROXIES {
            return Err(format!("at most {MAX_TRUSTED_PROXIES} trusted proxies may be listed"));
        }
        Ok(Self { ranges })
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    fn trusts(&self, address: IpAddr) -> bool {
        // IPv4 peers of a server listening on [::] arrive as ::ffff:a.b.c.d.
        let address = address.to_canonical();
        self.ranges.iter().any(|range| range.contains(&address))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy
    /// and `X-Forwarded-For` names a client it vouches for.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.is_empty() || !self.trusts(peer) {
            return peer;
        }
        self.forwarded_client(headers).unwrap_or(peer)
    }

    /// The rightmost untrusted address of `X-Forwarded-For` (several header
    /// lines read as one list, in order). `None` (use the peer) when the
    /// header is absent, not text, or an entry met before that address is
    /// not an address. Every hop being a trusted proxy gives the leftmost one.
    fn forwarded_client(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let mut lines = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            lines.push(value.to_str().ok()?);
        }
        let hops = lines.iter().rev().flat_map(|line| line.rsplit(','));
        let mut leftmost_trusted = None;
        for (seen, hop) in hops.enumerate() {
            if seen == MAX_FORWARDED_HOPS {
                return None;
            }
            let address = parse_hop(hop.trim())?;
            if !self.trusts(address) {
                return Some(address);
            }
            leftmost_trusted = Some(address);
        }
        leftmost_trusted
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port
/// (`192.0.2.7:5123`, `[2001:db8::1]:443`), as some proxies write.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

/// One `trusted_proxies` entry: a CIDR range (`10.0.0.0/8`) or one address.
pub fn parse_trusted_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a CIDR range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|p| parse_trusted_proxy(p).unwrap()).collect()).unwrap()
    }

    fn forwarded(lines: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_bytes(line).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let headers = forwarded(&[b"203.0.113.9"]);
        assert_eq!(TrustedProxies::default().client_address(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_writes() {
        let headers = forwarded(&[b"203.0.113.9"]);
        assert_eq!(proxies(&["10.0.0.0/8"]).client_address(ip("198.51.100.4"), &headers), ip("198.51.100.4"));
    }

    #[test]
    fn the_rightmost_address_that_is_not_a_proxy_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // The client forged the first entry; the proxies appended the rest.
        let headers = forwarded(&[b"1.2.3.4, 203.0.113.9, 192.0.2.1"]);
        assert_eq!(trusted.client_address(ip("10.1.2.3"), &headers), ip("203.0.113.9"));
        // The same list over two header lines, and with ports.
        let headers = forwarded(&[b"1.2.3.4", b"[2001:db8::7]:443 , 192.0.2.1:80"]);
        assert_eq!(trusted.client_address(ip("10.1.2.3"), &headers), ip("2001:db8::7"));
    }

    #[test]
    fn an_ipv4_peer_mapped_into_ipv6_is_recognised() {
        let headers = forwarded(&[b"203.0.113.9"]);
        assert_eq!(proxies(&["10.0.0.0/8"]).client_address(ip("::ffff:10.0.0.1"), &headers), ip("203.0.113.9"));
    }

    #[test]
    fn a_malformed_or_missing_header_falls_back_to_the_peer() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        for line in [&b"not-an-address"[..], b"", b" , ", b"203.0.113.9, garbage", b"\xff\xfe", b"1.2.3.4/24"] {
            assert_eq!(trusted.client_address(peer, &forwarded(&[line])), peer, "{line:?}");
        }
        assert_eq!(trusted.client_address(peer, &HeaderMap::new()), peer);
        // Garbage left of the client is the client's own business.
        assert_eq!(trusted.client_address(peer, &forwarded(&[b"garbage, 203.0.113.9"])), ip("203.0.113.9"));
    }

    #[test]
    fn only_the_last_hops_are_read_and_all_trusted_gives_the_leftmost() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let long = vec!["10.0.0.2"; MAX_FORWARDED_HOPS + 1].join(",");
        assert_eq!(trusted.client_address(peer, &forwarded(&[long.as_bytes()])), peer);
        assert_eq!(trusted.client_address(peer, &forwarded(&[b"10.9.9.9, 10.0.0.2"])), ip("10.9.9.9"));
    }

    #[test]
    fn proxies_are_addresses_or_ranges() {
        assert_eq!(parse_trusted_proxy("192.0.2.1").unwrap(), "192.0.2.1/32".parse::<IpNet>().unwrap());
        assert_eq!(parse_trusted_proxy(" fd00::/8 ").unwrap(), "fd00::/8".parse::<IpNet>().unwrap());
        assert!(parse_trusted_proxy("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxy("proxy.example").is_err());
    }
}
