//! ClusterIP and NodePort allocation for services.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;

/// Why an allocation failed (upstream's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The address is not in the service range.
    #[error("the provided IP ({ip}) is not in the valid range. The range of valid IPs is {range}")]
    OutOfRange {
        /// Requested address.
        ip: String,
        /// Configured range.
        range: String,
    },
    /// The address or port is in use.
    #[error("provided {0} is already allocated")]
    Taken(&'static str),
    /// Nothing is left.
    #[error("range is full")]
    Full,
    /// Not an IPv4 address.
    #[error("failed to parse IP {0:?}")]
    Invalid(String),
    /// The port is outside the node-port range.
    #[error("provided port is not in the valid range. The range of valid ports is 30000-32767")]
    PortOutOfRange,
}

/// Tracks used service IPs and node ports.
#[derive(Debug)]
pub struct ServiceAllocator {
    net: Ipv4Net,
    used_ips: BTreeSet<u32>,
    used_ports: BTreeSet<u16>,
    next_ip: u32,
    next_port: u16,
}

/// Lowest node port.
pub const NODE_PORT_MIN: u16 = 30000;
/// Highest node port.
pub const NODE_PORT_MAX: u16 = 32767;

impl ServiceAllocator {
    /// An allocator for `range` (e.g. `10.96.0.0/12`).
    pub fn new(range: Ipv4Net) -> Self {
        ServiceAllocator {
            net: range,
            used_ips: BTreeSet::new(),
            used_ports: BTreeSet::new(),
            next_ip: 0,
            next_port: NODE_PORT_MIN,
        }
    }

    /// The configured range.
    pub fn range(&self) -> Ipv4Net {
        self.net
    }

    /// The first usable address (given to the `kubernetes` service).
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.net.network()) + 1)
    }

    fn bounds(&self) -> (u32, u32) {
        let lo = u32::from(self.net.network()) + 1;
        let hi = u32::from(self.net.broadcast()).saturating_sub(1);
        (lo, hi)
    }

    /// Marks an existing address as used (at start, from stored services).
    pub fn mark_ip(&mut self, ip: &str) {
        if let Ok(a) = ip.parse::<Ipv4Addr>()
            && self.net.contains(&a)
        {
            self.used_ips.insert(u32::from(a));
        }
    }

    /// Marks an existing node port as used.
    pub fn mark_port(&mut self, port: u16) {
        self.used_ports.insert(port);
    }

    /// Allocates `requested` or the next free address.
    pub fn allocate_ip(&mut self, requested: Option<&str>) -> Result<String, AllocError> {
        let (lo, hi) = self.bounds();
        if let Some(r) = requested {
            let a: Ipv4Addr = match r.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => a,
                _ => return Err(AllocError::Invalid(r.to_string())),
            };
            let n = u32::from(a);
            if !self.net.contains(&a) || n < lo || n > hi {
                return Err(AllocError::OutOfRange {
                    ip: r.to_string(),
                    range: self.net.to_string(),
                });
            }
            if !self.used_ips.insert(n) {
                return Err(AllocError::Taken("IP"));
            }
            return Ok(a.to_string());
        }
        let size = hi.saturating_sub(lo) + 1;
        // Skip the first addresses (`kubernetes`, and DNS's conventional .10) when scanning.
        for i in 0..size {
            let n = lo + (self.next_ip + i) % size;
            if n - lo < 10 && size > 20 {
                continue;
            }
            if self.used_ips.insert(n) {
                self.next_ip = (n - lo + 1) % size;
                return Ok(Ipv4Addr::from(n).to_string());
            }
        }
        Err(AllocError::Full)
    }

    /// Frees an address.
    pub fn release_ip(&mut self, ip: &str) {
        if let Ok(a) = ip.parse::<Ipv4Addr>() {
            self.used_ips.remove(&u32::from(a));
        }
    }

    /// Allocates `requested` or the next free node port.
    pub fn allocate_port(&mut self, requested: Option<u16>) -> Result<u16, AllocError> {
        if let Some(p) = requested {
            if !(NODE_PORT_MIN..=NODE_PORT_MAX).contains(&p) {
                return Err(AllocError::PortOutOfRange);
            }
            if !self.used_ports.insert(p) {
                return Err(AllocError::Taken("port"));
            }
            return Ok(p);
        }
        let span = NODE_PORT_MAX - NODE_PORT_MIN + 1;
        for i in 0..span {
            let p = NODE_PORT_MIN + (self.next_port - NODE_PORT_MIN + i) % span;
            if self.used_ports.insert(p) {
                self.next_port = NODE_PORT_MIN + (p - NODE_PORT_MIN + 1) % span;
                return Ok(p);
            }
        }
        Err(AllocError::Full)
    }

    /// Frees a node port.
    pub fn release_port(&mut self, port: u16) {
        self.used_ports.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_unique_addresses_in_range() {
        let mut a = ServiceAllocator::new("10.96.0.0/28".parse().unwrap_or_default());
        assert_eq!(a.first_ip().to_string(), "10.96.0.1");
        assert_eq!(a.allocate_ip(Some("10.96.0.1")), Ok("10.96.0.1".into()));
        assert_eq!(
            a.allocate_ip(Some("10.96.0.1")),
            Err(AllocError::Taken("IP"))
        );
        assert!(matches!(
            a.allocate_ip(Some("10.1.0.1")),
            Err(AllocError::OutOfRange { .. })
        ));
        let mut seen = BTreeSet::new();
        while let Ok(ip) = a.allocate_ip(None) {
            assert!(seen.insert(ip));
        }
        assert_eq!(seen.len(), 13);
        a.release_ip("10.96.0.5");
        assert_eq!(a.allocate_ip(None), Ok("10.96.0.5".into()));
    }

    #[test]
    fn node_ports() {
        let mut a = ServiceAllocator::new("10.96.0.0/12".parse().unwrap_or_default());
        assert_eq!(a.allocate_port(Some(30080)), Ok(30080));
        assert_eq!(a.allocate_port(Some(30080)), Err(AllocError::Taken("port")));
        assert_eq!(a.allocate_port(Some(80)), Err(AllocError::PortOutOfRange));
        assert_eq!(a.allocate_port(None), Ok(30000));
    }
}
