//! Protocol names and negotiation, as the kubelet offers them.

/// `X-Stream-Protocol-Version` values for remote command over SPDY, preferred first.
pub const SPDY_REMOTECOMMAND: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// `X-Stream-Protocol-Version` for port-forward over SPDY.
pub const SPDY_PORTFORWARD: &[&str] = &["portforward.k8s.io"];
/// WebSocket subprotocols for remote command, preferred first.
pub const WS_REMOTECOMMAND: &[&str] = &[
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
];
/// WebSocket subprotocols for port-forward. `SPDY/3.1+portforward.k8s.io` is kubectl 1.31+'s
/// SPDY-over-WebSocket tunnel.
pub const WS_PORTFORWARD: &[&str] = &[
    "SPDY/3.1+portforward.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "portforward.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
];

/// Version-dependent behaviour of a remote-command protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavor {
    /// Error stream carries a JSON `Status` (v4+) rather than text.
    pub json_status: bool,
    /// Resize stream/channel exists (v3+).
    pub resize: bool,
    /// Client may half-close stdin with the close signal (WebSocket v5).
    pub close_signal: bool,
    /// Channel payloads are base64 text (WebSocket base64 protocols).
    pub base64: bool,
}

/// Behaviour of a negotiated remote-command protocol (an empty name is the legacy protocol).
pub fn flavor(name: &str) -> Flavor {
    let base64 = name.contains("base64");
    match name {
        n if n.starts_with("v5.") => Flavor {
            json_status: true,
            resize: true,
            close_signal: true,
            base64,
        },
        n if n.starts_with("v4.") => Flavor {
            json_status: true,
            resize: true,
            close_signal: false,
            base64,
        },
        n if n.starts_with("v3.") => Flavor {
            json_status: false,
            resize: true,
            close_signal: false,
            base64,
        },
        _ => Flavor {
            json_status: false,
            resize: false,
            close_signal: false,
            base64,
        },
    }
}

/// Splits header values that may be repeated and/or comma-separated.
pub fn split_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// SPDY negotiation as the kubelet does it: the first client protocol the server supports; a
/// client that offers none gets the legacy protocol (`Ok(None)`).
pub fn negotiate_spdy(client: &[String], server: &[&str]) -> Result<Option<String>, String> {
    if client.is_empty() {
        return Ok(None);
    }
    client
        .iter()
        .find(|c| server.contains(&c.as_str()))
        .map(|c| Some(c.clone()))
        .ok_or_else(|| {
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports {client:?}, server supports {server:?}"
            )
        })
}

/// WebSocket negotiation: the first offered subprotocol the server supports.
pub fn negotiate_ws(client: &[String], server: &[&str]) -> Option<String> {
    client
        .iter()
        .find(|c| server.contains(&c.as_str()))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_client_order() {
        let client = split_values(["v5.channel.k8s.io, v4.channel.k8s.io"]);
        assert_eq!(
            negotiate_ws(&client, WS_REMOTECOMMAND).as_deref(),
            Some("v5.channel.k8s.io")
        );
        let client = split_values(["v9.channel.k8s.io", "v2.channel.k8s.io"]);
        assert_eq!(
            negotiate_spdy(&client, SPDY_REMOTECOMMAND)
                .unwrap()
                .as_deref(),
            Some("v2.channel.k8s.io")
        );
        assert_eq!(negotiate_spdy(&[], SPDY_REMOTECOMMAND).unwrap(), None);
        let err = negotiate_spdy(&["x".into()], SPDY_REMOTECOMMAND).unwrap_err();
        assert!(err.contains("unable to negotiate protocol"));
    }

    #[test]
    fn flavors() {
        assert!(flavor("v5.channel.k8s.io").close_signal);
        assert!(flavor("v4.base64.channel.k8s.io").base64);
        assert!(!flavor("v3.channel.k8s.io").json_status);
        assert!(flavor("v3.channel.k8s.io").resize);
        assert!(!flavor("channel.k8s.io").resize);
        assert!(!flavor("").json_status);
    }
}
