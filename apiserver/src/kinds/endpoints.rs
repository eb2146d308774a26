//! Endpoints and EndpointSlices: address validation as upstream v1.28 does it
//! (`validateEndpointAddress` / `ValidateNonSpecialIP` in core, `validateEndpoints` in
//! discovery): addresses must be IPs, of the slice's family, and neither unspecified, loopback,
//! link-local unicast nor link-local multicast.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Value, json};

use crate::error::Cause;
use crate::registry::def::{Origin, Strategy};

/// `validation.IsValidIP` (apimachinery v1.28).
const NOT_AN_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
/// `ValidateNonSpecialIP` on a value that does not parse.
const NOT_AN_IP_SHORT: &str = "must be a valid IP address";
const NOT_IPV4: &str = "must be a valid IPv4 address";
const NOT_IPV6: &str = "must be a valid IPv6 address";
const LOOPBACK: &str = "may not be in the loopback range (127.0.0.0/8, ::1/128)";
const LINK_LOCAL: &str = "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
const LINK_LOCAL_MULTICAST: &str =
    "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)";

/// Parses an IP as Go's `netutils.ParseIPSloppy` does: IPv4 octets may carry leading zeros
/// (read as decimal), and IPv4-mapped IPv6 addresses count as IPv4 (Go's `To4()`), which is
/// how every check below classifies them.
pub fn parse_ip_sloppy(s: &str) -> Option<IpAddr> {
    let ip = if s.contains(':') {
        IpAddr::V6(parse_v6_sloppy(s)?)
    } else {
        IpAddr::V4(parse_v4_sloppy(s)?)
    };
    Some(match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    })
}

fn parse_v4_sloppy(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = part.trim_start_matches('0');
        *o = if digits.is_empty() {
            0
        } else if digits.len() > 3 {
            return None;
        } else {
            digits.parse().ok()?
        };
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

fn parse_v6_sloppy(s: &str) -> Option<Ipv6Addr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    // An embedded IPv4 tail with leading zeros (`::ffff:010.1.2.3`) is accepted sloppily too.
    let (head, tail) = s.rsplit_once(':')?;
    if !tail.contains('.') {
        return None;
    }
    let v4 = parse_v4_sloppy(tail)?;
    format!("{head}:{v4}").parse().ok()
}

/// Upstream's `ValidateNonSpecialIP`: `value` must be an IP that is not unspecified, loopback,
/// link-local unicast or link-local multicast.
pub fn non_special_ip(field: &str, value: &str) -> Vec<Cause> {
    let v = json!(value);
    let Some(ip) = parse_ip_sloppy(value) else {
        return vec![Cause::invalid(field, &v, NOT_AN_IP_SHORT)];
    };
    let mut out = Vec::new();
    if ip.is_unspecified() {
        out.push(Cause::invalid(
            field,
            &v,
            &format!("may not be unspecified ({value})"),
        ));
    }
    if ip.is_loopback() {
        out.push(Cause::invalid(field, &v, LOOPBACK));
    }
    if is_link_local_unicast(ip) {
        out.push(Cause::invalid(field, &v, LINK_LOCAL));
    }
    if is_link_local_multicast(ip) {
        out.push(Cause::invalid(field, &v, LINK_LOCAL_MULTICAST));
    }
    out
}

/// Go's `IsLinkLocalUnicast`: 169.254.0.0/16, fe80::/10.
fn is_link_local_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// Go's `IsLinkLocalMulticast`: 224.0.0.0/24, and IPv6 multicast of link-local scope (ff02::/16
/// and the same scope with other flags, ff12::, ff32::...).
fn is_link_local_multicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            o[0] == 224 && o[1] == 0 && o[2] == 0
        }
        IpAddr::V6(v6) => v6.segments()[0] & 0xff0f == 0xff02,
    }
}

/// The elements of a JSON array, with their indexes (none when absent or not an array).
fn indexed(v: Option<&Value>) -> impl Iterator<Item = (usize, &Value)> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().enumerate())
        .into_iter()
        .flatten()
}

/// Address checks of `v1 Endpoints` (upstream `validateEndpointSubsets` /
/// `validateEndpointAddress`): every `ip` of `addresses` and `notReadyAddresses`.
pub fn validate_endpoints(ep: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    for (i, subset) in indexed(ep.get("subsets")) {
        for list in ["addresses", "notReadyAddresses"] {
            for (j, addr) in indexed(subset.get(list)) {
                let field = format!("subsets[{i}].{list}[{j}].ip");
                let ip = addr.get("ip").and_then(Value::as_str).unwrap_or_default();
                if parse_ip_sloppy(ip).is_none() {
                    out.push(Cause::invalid(&field, &json!(ip), NOT_AN_IP));
                }
                out.extend(non_special_ip(&field, ip));
            }
        }
    }
    out
}

/// Address checks of `discovery.k8s.io/v1 EndpointSlice` (upstream `validateEndpoints`):
/// `IPv4`/`IPv6` slices take addresses of their family that are not special; the deprecated
/// `IP` type takes any IP; `FQDN` and unknown types are not checked here.
pub fn validate_endpoint_slice(es: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let address_type = es
        .get("addressType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    for (i, endpoint) in indexed(es.get("endpoints")) {
        for (j, addr) in indexed(endpoint.get("addresses")) {
            let field = format!("endpoints[{i}].addresses[{j}]");
            let a = addr.as_str().unwrap_or_default();
            let parsed = parse_ip_sloppy(a);
            match address_type {
                "IP" if parsed.is_none() => {
                    out.push(Cause::invalid(&field, &json!(a), NOT_AN_IP));
                }
                "IPv4" => {
                    if !parsed.is_some_and(|ip| ip.is_ipv4()) {
                        out.push(Cause::invalid(&field, &json!(a), NOT_IPV4));
                    }
                    out.extend(non_special_ip(&field, a));
                }
                "IPv6" => {
                    if !parsed.is_some_and(|ip| ip.is_ipv6()) {
                        out.push(Cause::invalid(&field, &json!(a), NOT_IPV6));
                    }
                    out.extend(non_special_ip(&field, a));
                }
                _ => {}
            }
        }
    }
    out
}

/// The Endpoints strategy: client-written addresses are validated; a PUT creates.
#[derive(Debug)]
pub struct Endpoints;

impl Strategy for Endpoints {
    fn validate(&self, _old: Option<&Value>, new: &Value, origin: Origin) -> Vec<Cause> {
        match origin {
            Origin::Client => validate_endpoints(new),
            Origin::Server => Vec::new(),
        }
    }
    fn allow_create_on_update(&self) -> bool {
        true
    }
}

/// The EndpointSlice strategy: client-written addresses are validated.
#[derive(Debug)]
pub struct EndpointSlice;

impl Strategy for EndpointSlice {
    fn validate(&self, _old: Option<&Value>, new: &Value, origin: Origin) -> Vec<Cause> {
        match origin {
            Origin::Client => validate_endpoint_slice(new),
            Origin::Server => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(Cause::display).collect()
    }

    #[test]
    fn sloppy_parsing_matches_go() {
        assert_eq!(
            parse_ip_sloppy("010.001.002.003"),
            Some(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)))
        );
        assert_eq!(
            parse_ip_sloppy("::ffff:127.0.0.1"),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "IPv4-mapped addresses are IPv4"
        );
        assert_eq!(
            parse_ip_sloppy("::ffff:010.0.0.1"),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert!(parse_ip_sloppy("2001:db8::1").is_some_and(|ip| ip.is_ipv6()));
        for bad in [
            "",
            "foo",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.4 ",
            "1..2.3",
            "fe80::1%eth0",
            "10.0.0.0/8",
            "-1.2.3.4",
        ] {
            assert_eq!(parse_ip_sloppy(bad), None, "{bad}");
        }
    }

    #[test]
    fn special_ranges_are_rejected_with_upstream_messages() {
        let cases = [
            ("0.0.0.0", "may not be unspecified (0.0.0.0)"),
            ("::", "may not be unspecified (::)"),
            ("127.0.0.1", LOOPBACK),
            ("127.255.0.9", LOOPBACK),
            ("::1", LOOPBACK),
            ("::ffff:127.0.0.1", LOOPBACK),
            ("169.254.169.254", LINK_LOCAL),
            ("fe80::1", LINK_LOCAL),
            ("febf::1", LINK_LOCAL),
            ("224.0.0.251", LINK_LOCAL_MULTICAST),
            ("ff02::1", LINK_LOCAL_MULTICAST),
            ("ff12::1", LINK_LOCAL_MULTICAST),
            ("bogus", NOT_AN_IP_SHORT),
        ];
        for (ip, msg) in cases {
            let c = non_special_ip("f", ip);
            assert_eq!(
                messages(&c),
                vec![format!("f: Invalid value: {ip:?}: {msg}")],
                "{ip}"
            );
            assert_eq!(c[0].reason, "FieldValueInvalid");
        }
        for ok in [
            "10.1.2.3",
            "192.0.2.10",
            "224.0.1.1",
            "169.253.1.1",
            "2001:db8::1",
            "fec0::1",
            "ff05::1",
        ] {
            assert!(non_special_ip("f", ok).is_empty(), "{ok}");
        }
    }

    #[test]
    fn endpoints_addresses_and_not_ready_addresses() {
        let ep = json!({"subsets": [
            {"addresses": [{"ip": "10.1.2.3"}, {"ip": "127.0.0.1"}], "ports": [{"port": 80}]},
            {"notReadyAddresses": [{"ip": "nope"}, {"ip": "169.254.1.1"}]},
        ]});
        assert_eq!(
            messages(&validate_endpoints(&ep)),
            vec![
                format!("subsets[0].addresses[1].ip: Invalid value: \"127.0.0.1\": {LOOPBACK}"),
                format!("subsets[1].notReadyAddresses[0].ip: Invalid value: \"nope\": {NOT_AN_IP}"),
                format!(
                    "subsets[1].notReadyAddresses[0].ip: Invalid value: \"nope\": {NOT_AN_IP_SHORT}"
                ),
                format!(
                    "subsets[1].notReadyAddresses[1].ip: Invalid value: \"169.254.1.1\": {LINK_LOCAL}"
                ),
            ]
        );
        assert!(validate_endpoints(&json!({})).is_empty());
        assert!(
            validate_endpoints(
                &json!({"subsets": [{"addresses": [{"ip": "192.0.2.10"}, {"ip": "2001:db8::5"}]}]})
            )
            .is_empty()
        );
    }

    #[test]
    fn endpoint_slices_check_family_and_special_ranges() {
        let slice =
            |t: &str, addrs: Value| json!({"addressType": t, "endpoints": [{"addresses": addrs}]});
        assert!(
            validate_endpoint_slice(&slice("IPv4", json!(["10.1.2.3", "192.0.2.10"]))).is_empty()
        );
        assert!(validate_endpoint_slice(&slice("IPv6", json!(["2001:db8::1"]))).is_empty());
        assert_eq!(
            messages(&validate_endpoint_slice(&slice(
                "IPv4",
                json!(["10.1.2.3", "2001:db8::1", "::1", "x"])
            ))),
            vec![
                format!("endpoints[0].addresses[1]: Invalid value: \"2001:db8::1\": {NOT_IPV4}"),
                format!("endpoints[0].addresses[2]: Invalid value: \"::1\": {NOT_IPV4}"),
                format!("endpoints[0].addresses[2]: Invalid value: \"::1\": {LOOPBACK}"),
                format!("endpoints[0].addresses[3]: Invalid value: \"x\": {NOT_IPV4}"),
                format!("endpoints[0].addresses[3]: Invalid value: \"x\": {NOT_AN_IP_SHORT}"),
            ]
        );
        assert_eq!(
            messages(&validate_endpoint_slice(&slice(
                "IPv6",
                json!(["10.0.0.1", "::ffff:10.0.0.1", "fe80::2"])
            ))),
            vec![
                format!("endpoints[0].addresses[0]: Invalid value: \"10.0.0.1\": {NOT_IPV6}"),
                format!(
                    "endpoints[0].addresses[1]: Invalid value: \"::ffff:10.0.0.1\": {NOT_IPV6}"
                ),
                format!("endpoints[0].addresses[2]: Invalid value: \"fe80::2\": {LINK_LOCAL}"),
            ]
        );
        assert_eq!(
            messages(&validate_endpoint_slice(&slice(
                "IP",
                json!(["127.0.0.1", "x"])
            ))),
            vec![format!(
                "endpoints[0].addresses[1]: Invalid value: \"x\": {NOT_AN_IP}"
            )],
            "the deprecated IP type only checks syntax"
        );
        assert!(
            validate_endpoint_slice(&slice("FQDN", json!(["example.com", "127.0.0.1"]))).is_empty()
        );
    }
}
