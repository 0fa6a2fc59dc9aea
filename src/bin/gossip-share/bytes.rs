//! Reading and writing the fields shared by the index item and the piece
//! protocol: a bounds-checked cursor over untrusted bytes and socket
//! addresses as `family u8 (4 | 6), ip (4 | 16 bytes), port u16`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The input ended before a field was complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncated;

/// A field that is not what its format allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The input ended first.
    Truncated,
    /// An address family (given) other than 4 or 6.
    Family(u8),
}

impl From<Truncated> for FieldError {
    fn from(_: Truncated) -> FieldError {
        FieldError::Truncated
    }
}

/// A cursor over untrusted bytes; every read is bounds-checked.
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader(bytes)
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.0
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        if self.0.len() < n {
            return Err(Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Truncated> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// The next byte.
    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.array::<1>()?[0])
    }

    /// The next big-endian u16.
    pub fn u16(&mut self) -> Result<u16, Truncated> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// The next big-endian u32.
    pub fn u32(&mut self) -> Result<u32, Truncated> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// The next big-endian u64.
    pub fn u64(&mut self) -> Result<u64, Truncated> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The next socket address.
    pub fn addr(&mut self) -> Result<SocketAddr, FieldError> {
        let ip = match self.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>()?)),
            other => return Err(FieldError::Family(other)),
        };
        Ok(SocketAddr::new(ip, self.u16()?))
    }
}

/// Appends a socket address.
pub fn put_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_and_bad_families_or_truncations_are_refused() {
        for text in ["10.1.2.3:7080", "[2001:db8::1]:1"] {
            let addr: SocketAddr = text.parse().unwrap();
            let mut out = Vec::new();
            put_addr(&mut out, addr);
            assert_eq!(Reader::new(&out).addr(), Ok(addr));
            for len in 0..out.len() {
                assert_eq!(Reader::new(&out[..len]).addr(), Err(FieldError::Truncated));
            }
        }
        assert_eq!(Reader::new(&[5, 0, 0]).addr(), Err(FieldError::Family(5)));
    }
}
