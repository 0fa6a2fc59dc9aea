//! `host:port` addresses as written in the config file and on the command line.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use super::ValueError;

/// Longest host name accepted (the DNS limit for a full name).
const MAX_HOST_LEN: usize = 253;

/// Where something listens or is dialed: a host name or IP literal and a port.
///
/// Written `127.0.0.1:7001`, `[::1]:7001` (IPv6 literals must be in brackets) or
/// `localhost:7001`. Port 0 is accepted here (a listener then gets a free port);
/// keys that dial reject it themselves.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or IP literal; IPv6 literals are stored without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// Resolves the host (DNS for names) to socket addresses; never returns an
    /// empty list.
    pub fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        let addresses: Vec<SocketAddr> =
            (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        if addresses.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{self} resolves to no address"),
            ));
        }
        Ok(addresses)
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(address: SocketAddr) -> Endpoint {
        Endpoint {
            host: address.ip().to_string(),
            port: address.port(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Endpoint {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Endpoint, ValueError> {
        let fail = |problem: &str| ValueError::endpoint(text, problem);
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| fail("`[` without `]`"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| fail("no `:PORT` after the `]`"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(fail("brackets must hold an IPv6 address"));
            }
            (host, port)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(|| fail("no port"))?;
            if host.contains(':') {
                return Err(fail("an IPv6 host needs brackets, as in [::1]:7001"));
            }
            check_host(host).map_err(fail)?;
            (host, port)
        };
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|_| port.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| fail("the port must be a number from 0 to 65535"))?;
        Ok(Endpoint {
            host: host.to_string(),
            port,
        })
    }
}

/// Checks an unbracketed host: an IPv4 literal or a plausible host name.
fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("empty host");
    }
    if host.len() > MAX_HOST_LEN {
        return Err("host name longer than 253 characters");
    }
    let name_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
    if !host.bytes().all(name_char) {
        return Err("a host may contain only letters, digits, `.`, `-` and `_`");
    }
    let looks_numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if looks_numeric && host.parse::<Ipv4Addr>().is_err() {
        return Err("not a valid IPv4 address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            port,
        }
    }

    fn error(text: &str) -> String {
        match text.parse::<Endpoint>() {
            Ok(parsed) => panic!("{text:?} parsed as {parsed:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn parses_ipv4_with_port() {
        assert_eq!("127.0.0.1:7001".parse(), Ok(endpoint("127.0.0.1", 7001)));
        assert_eq!("0.0.0.0:0".parse(), Ok(endpoint("0.0.0.0", 0)));
    }

    #[test]
    fn parses_bracketed_ipv6_and_stores_it_without_brackets() {
        assert_eq!("[::1]:7001".parse(), Ok(endpoint("::1", 7001)));
        assert_eq!(
            "[2001:db8::7]:65535".parse(),
            Ok(endpoint("2001:db8::7", 65535))
        );
    }

    #[test]
    fn parses_host_names() {
        assert_eq!("localhost:7001".parse(), Ok(endpoint("localhost", 7001)));
        assert_eq!(
            "node-1.example_net.org:6001".parse(),
            Ok(endpoint("node-1.example_net.org", 6001))
        );
    }

    #[test]
    fn display_re_adds_brackets_for_ipv6_only() {
        assert_eq!(endpoint("::1", 7001).to_string(), "[::1]:7001");
        assert_eq!(endpoint("10.0.0.1", 6001).to_string(), "10.0.0.1:6001");
        assert_eq!(endpoint("localhost", 1).to_string(), "localhost:1");
        let round_trip: Endpoint = endpoint("fe80::1", 9).to_string().parse().expect("valid");
        assert_eq!(round_trip, endpoint("fe80::1", 9));
    }

    #[test]
    fn converts_from_a_socket_address() {
        let address: SocketAddr = "[::1]:5".parse().expect("valid literal");
        assert_eq!(Endpoint::from(address), endpoint("::1", 5));
    }

    #[test]
    fn a_missing_port_is_an_error() {
        assert_eq!(
            error("localhost"),
            "expected HOST:PORT, got \"localhost\" (no port)"
        );
        assert!(error("localhost:").contains("the port must be a number from 0 to 65535"));
        assert!(error("[::1]").contains("no `:PORT` after the `]`"));
    }

    #[test]
    fn a_port_that_is_not_a_number_or_too_large_is_an_error() {
        for text in ["h:abc", "h:65536", "h:-1", "h:+1", "h: 1", "h:99999999999"] {
            assert!(
                error(text).contains("the port must be a number from 0 to 65535"),
                "{text}"
            );
        }
    }

    #[test]
    fn an_empty_host_is_an_error() {
        assert_eq!(
            error(":7001"),
            "expected HOST:PORT, got \":7001\" (empty host)"
        );
    }

    #[test]
    fn an_unbracketed_ipv6_address_is_an_error() {
        assert!(error("::1:7001").contains("an IPv6 host needs brackets, as in [::1]:7001"));
    }

    #[test]
    fn malformed_brackets_and_hosts_are_errors() {
        assert!(error("[::1:7001").contains("`[` without `]`"));
        assert!(error("[::1]7001").contains("no `:PORT`"));
        assert!(error("[1.2.3.4]:7001").contains("brackets must hold an IPv6 address"));
        assert!(error("my host:7001").contains("only letters, digits"));
        assert!(error("300.1.1.1:7001").contains("not a valid IPv4 address"));
        assert!(error(&format!("{}:1", "a".repeat(254))).contains("longer than 253"));
    }

    #[test]
    fn resolve_returns_the_literal_address() {
        let addresses = endpoint("127.0.0.1", 7001)
            .resolve()
            .expect("a literal resolves");
        assert_eq!(
            addresses,
            vec!["127.0.0.1:7001".parse::<SocketAddr>().expect("valid")]
        );
    }
}
