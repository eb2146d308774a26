//! Where a service is reached from this server: a ready endpoint of the service port's target,
//! else the super cluster's clusterIP (back-populated by the syncer), else the clusterIP; an
//! `ExternalName` service is its external name. Admission webhooks and aggregated API servers
//! are both called through it.

use serde_json::Value;

use crate::api::Api;

/// The host and port serving service `ns/name` on service port `port`; `Err` says why there
/// is none (as upstream's resolver words it where it has a word for it).
pub fn service_address(
    api: &Api,
    ns: &str,
    name: &str,
    port: u16,
) -> Result<(String, u16), String> {
    let svc = api
        .store
        .get("/services", ns, name)
        .and_then(|o| o.value().ok())
        .ok_or_else(|| format!("service \"{name}\" not found"))?;
    if svc.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName") {
        let host = svc
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim_end_matches('.');
        return Ok((host.to_string(), port));
    }
    let svc_port = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("port").and_then(Value::as_u64) == Some(u64::from(port)))
        .cloned()
        .ok_or_else(|| format!("service \"{name}\" has no port {port}"))?;
    let port_name = svc_port
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(ep) = api
        .store
        .get("/endpoints", ns, name)
        .and_then(|o| o.value().ok())
    {
        for subset in ep
            .get("subsets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ip = subset
                .get("addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(|a| a.get("ip"))
                .and_then(Value::as_str);
            let target = subset
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|p| p.get("name").and_then(Value::as_str).unwrap_or_default() == port_name)
                .and_then(|p| p.get("port"))
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok());
            if let (Some(ip), Some(target)) = (ip, target) {
                return Ok((ip.to_string(), target));
            }
        }
    }
    let cluster_ip = svc
        .pointer("/metadata/annotations/transparency.tenancy.x-k8s.io~1clusterIP")
        .or_else(|| svc.pointer("/spec/clusterIP"))
        .and_then(Value::as_str)
        .filter(|ip| !ip.is_empty() && *ip != "None");
    match cluster_ip {
        Some(ip) => Ok((ip.to_string(), port)),
        None => Err(format!("service \"{name}\" has no ready endpoints")),
    }
}

/// An I/O error worded as Go's dialer words it.
pub fn go_dial_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        std::io::ErrorKind::TimedOut => "i/o timeout".into(),
        std::io::ErrorKind::AddrNotAvailable => "connect: cannot assign requested address".into(),
        _ => e.to_string(),
    }
}
