//! Network addresses a tenant writes into services and endpoints, checked against what the
//! VirtualCluster lets it claim in the shared super cluster.

use std::net::IpAddr;

use ipnet::IpNet;

use super::ConvertError;

/// Why an address may never be used as an endpoint (upstream's wording), if it may not.
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    let multicast_link_local = match ip {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => (v6.segments()[0] & 0xff0f) == 0xff02,
    };
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if ip.is_unspecified() {
        Some("may not be unspecified (0.0.0.0, ::)")
    } else if ip.is_loopback() {
        Some("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    } else if link_local {
        Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    } else if multicast_link_local {
        Some("may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
    } else {
        None
    }
}

/// Parses a CIDR list from the VirtualCluster; a bare IP counts as a single-address CIDR.
pub fn parse_cidrs(field: &str, cidrs: &[String]) -> Result<Vec<IpNet>, ConvertError> {
    cidrs
        .iter()
        .map(|c| {
            c.parse::<IpNet>()
                .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConvertError::Invalid(format!(
                        "the VirtualCluster's {field} entry {c:?} is not a CIDR"
                    ))
                })
        })
        .collect()
}

/// Whether `ip` lies in one of `nets`.
pub fn in_nets(ip: IpAddr, nets: &[IpNet]) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

/// Parses an IP a tenant wrote at `path`.
pub fn parse_ip(path: &str, text: &str) -> Result<IpAddr, ConvertError> {
    text.parse::<IpAddr>()
        .map_err(|_| ConvertError::Invalid(format!("{path}: {text:?} is not a valid IP address")))
}

/// Whether DNS name `name` matches one of `patterns` (`*.example.com` matches every name below
/// `example.com`, not `example.com` itself); case-insensitive, a trailing dot ignored.
pub fn name_allowed(name: &str, patterns: &[String]) -> bool {
    let norm = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    let name = norm(name);
    if name.is_empty() {
        return false;
    }
    patterns.iter().any(|p| {
        let p = norm(p);
        match p.strip_prefix("*.") {
            Some(suffix) => name
                .strip_suffix(suffix)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            None => p == name,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn special_ranges() {
        assert!(special_range(ip("127.0.0.1")).is_some());
        assert!(special_range(ip("::1")).is_some());
        assert!(special_range(ip("169.254.169.254")).is_some());
        assert!(special_range(ip("fe80::1")).is_some());
        assert!(special_range(ip("224.0.0.5")).is_some());
        assert!(special_range(ip("ff02::1")).is_some());
        assert!(special_range(ip("0.0.0.0")).is_some());
        assert_eq!(special_range(ip("10.1.2.3")), None);
        assert_eq!(special_range(ip("192.0.2.10")), None);
        assert_eq!(special_range(ip("224.0.1.5")), None);
    }

    #[test]
    fn cidrs_and_names() {
        let nets = parse_cidrs("x", &["192.0.2.0/24".into(), "198.51.100.7".into()]).expect("ok");
        assert!(in_nets(ip("192.0.2.99"), &nets));
        assert!(in_nets(ip("198.51.100.7"), &nets));
        assert!(!in_nets(ip("198.51.100.8"), &nets));
        assert!(parse_cidrs("x", &["nope".into()]).is_err());
        let pats = vec!["*.example.com".to_string(), "db.corp".to_string()];
        assert!(name_allowed("a.example.com", &pats));
        assert!(name_allowed("A.B.Example.com.", &pats));
        assert!(!name_allowed("example.com", &pats));
        assert!(!name_allowed("evilexample.com", &pats));
        assert!(name_allowed("db.corp", &pats));
        assert!(!name_allowed("kubernetes.default.svc.cluster.local", &pats));
    }
}
