//! Kubeconfig files with embedded certificates: written for tenant users, read back to decide
//! whether they still match the PKI and the endpoint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::pki::{CertKey, PkiError};

/// What goes into a client-certificate kubeconfig.
#[derive(Clone, Debug)]
pub struct KubeconfigParams<'a> {
    /// Name of the cluster entry (the VirtualCluster's name).
    pub cluster_name: &'a str,
    /// API server URL.
    pub server: &'a str,
    /// PEM CA the server certificate is checked against.
    pub ca_pem: &'a str,
    /// Name of the user entry.
    pub user: &'a str,
    /// The client certificate and key.
    pub client: &'a CertKey,
}

/// Renders a kubeconfig with everything embedded, its current context selected.
pub fn render(p: &KubeconfigParams<'_>) -> Result<String, PkiError> {
    let context = format!("{}@{}", p.user, p.cluster_name);
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": p.cluster_name,
            "cluster": {
                "server": p.server,
                "certificate-authority-data": STANDARD.encode(p.ca_pem),
            }
        }],
        "users": [{
            "name": p.user,
            "user": {
                "client-certificate-data": STANDARD.encode(&p.client.cert_pem),
                "client-key-data": STANDARD.encode(&p.client.key_pem),
            }
        }],
        "contexts": [{
            "name": context,
            "context": {"cluster": p.cluster_name, "user": p.user}
        }],
        "current-context": context,
        "preferences": {},
    });
    serde_yaml::to_string(&doc).map_err(|e| PkiError::Invalid {
        what: "kubeconfig".into(),
        reason: e.to_string(),
    })
}

/// The current context of a kubeconfig, with embedded data decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedKubeconfig {
    /// API server URL.
    pub server: String,
    /// PEM CA, when embedded.
    pub ca_pem: Option<String>,
    /// PEM client certificate, when embedded.
    pub client_cert_pem: Option<String>,
    /// PEM client key, when embedded.
    pub client_key_pem: Option<String>,
}

/// Reads the current context's cluster and user of a kubeconfig.
pub fn parse(yaml: &str) -> Result<ParsedKubeconfig, PkiError> {
    let bad = |reason: String| PkiError::Invalid {
        what: "kubeconfig".into(),
        reason,
    };
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).map_err(|e| bad(e.to_string()))?;
    let current = value
        .get("current-context")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("current-context is not set".into()))?;
    let context = find_named(&value, "contexts", current, "context")
        .ok_or_else(|| bad(format!("context {current:?} is not defined")))?;
    let cluster_name = context
        .get("cluster")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let user_name = context.get("user").and_then(|v| v.as_str()).unwrap_or("");
    let cluster = find_named(&value, "clusters", cluster_name, "cluster")
        .ok_or_else(|| bad(format!("cluster {cluster_name:?} is not defined")))?;
    let user = find_named(&value, "users", user_name, "user");
    let decode =
        |node: Option<&serde_yaml::Value>, key: &str| -> Result<Option<String>, PkiError> {
            match node.and_then(|n| n.get(key)).and_then(|v| v.as_str()) {
                None => Ok(None),
                Some(data) => {
                    let bytes = STANDARD
                        .decode(data.trim())
                        .map_err(|e| bad(format!("{key} is not base64: {e}")))?;
                    String::from_utf8(bytes)
                        .map(Some)
                        .map_err(|_| bad(format!("{key} is not PEM text")))
                }
            }
        };
    Ok(ParsedKubeconfig {
        server: cluster
            .get("server")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        ca_pem: decode(Some(cluster), "certificate-authority-data")?,
        client_cert_pem: decode(user, "client-certificate-data")?,
        client_key_pem: decode(user, "client-key-data")?,
    })
}

fn find_named<'a>(
    doc: &'a serde_yaml::Value,
    list: &str,
    name: &str,
    field: &str,
) -> Option<&'a serde_yaml::Value> {
    doc.get(list)?
        .as_sequence()?
        .iter()
        .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(name))?
        .get(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse() {
        let client = CertKey {
            cert_pem: "CERT".into(),
            key_pem: "KEY".into(),
        };
        let text = render(&KubeconfigParams {
            cluster_name: "demo",
            server: "https://127.0.0.1:6443",
            ca_pem: "CA",
            user: "admin",
            client: &client,
        })
        .unwrap();
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.server, "https://127.0.0.1:6443");
        assert_eq!(parsed.ca_pem.as_deref(), Some("CA"));
        assert_eq!(parsed.client_cert_pem.as_deref(), Some("CERT"));
        assert_eq!(parsed.client_key_pem.as_deref(), Some("KEY"));
        // kube-rs reads what we write.
        let kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("admin@demo"));
    }

    #[test]
    fn parse_reports_missing_context() {
        let err = parse("apiVersion: v1\nkind: Config\ncurrent-context: x\n").unwrap_err();
        assert!(err.to_string().contains("context \"x\""), "{err}");
    }
}
