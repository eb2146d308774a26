//! The CSR signing controller (kube-controller-manager's `csrsigning`): an approved
//! CertificateSigningRequest for one of the signers Kubernetes itself runs gets its certificate
//! from the cluster CA, after the request is checked as upstream's signer checks it; a request
//! that breaks the signer's rules gets a `Failed` condition (`SignerValidationFailure`)
//! instead. Requests for other signers are left to their own signers.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::pki::{Ca, Grant, RequestInfo, Usage, parse_request_pem};
use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue, keys_of, write_status};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::storage;

const CSRS: &str = "certificates.k8s.io/certificatesigningrequests";

/// Client certificates for the API server.
pub const KUBE_APISERVER_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
/// Kubelet client certificates for the API server.
pub const KUBE_APISERVER_CLIENT_KUBELET: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// Kubelet serving certificates.
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";

/// Upstream's `--cluster-signing-duration` default: one year.
pub const DEFAULT_SIGNING_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// How far a certificate's validity starts in the past (clock skew between machines).
const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// Below this lifetime the backdate counts against the lifetime, as upstream's signer does.
const SHORT: Duration = Duration::from_secs(8 * 3600);

/// Signs approved requests of the built-in signers with `ca`.
pub struct CsrSigner {
    ca: Arc<Ca>,
    max_duration: Duration,
}

impl CsrSigner {
    /// A signer issuing from `ca`, certificates living at most `max_duration`.
    pub fn new(ca: Arc<Ca>, max_duration: Duration) -> Self {
        CsrSigner { ca, max_duration }
    }
}

/// The usages a built-in signer grants for `requested`, or why the request breaks its rules;
/// `None` when `signer` is not a built-in signer.
pub fn check_request(
    signer: &str,
    info: &RequestInfo,
    requested: &[String],
) -> Option<Result<Vec<Usage>, String>> {
    let result = match signer {
        KUBE_APISERVER_CLIENT => api_server_client_usages(requested),
        KUBE_APISERVER_CLIENT_KUBELET => kubelet_client(info, requested),
        KUBELET_SERVING => kubelet_serving(info, requested),
        _ => return None,
    };
    Some(result.and_then(|()| to_usages(requested)))
}

fn to_usages(requested: &[String]) -> Result<Vec<Usage>, String> {
    requested
        .iter()
        .map(|u| match u.as_str() {
            "digital signature" => Ok(Usage::DigitalSignature),
            "key encipherment" => Ok(Usage::KeyEncipherment),
            "client auth" => Ok(Usage::ClientAuth),
            "server auth" => Ok(Usage::ServerAuth),
            other => Err(format!("unsupported usage: {other}")),
        })
        .collect()
}

fn api_server_client_usages(requested: &[String]) -> Result<(), String> {
    let mut client_auth = false;
    for u in requested {
        match u.as_str() {
            "digital signature" | "key encipherment" => {}
            "client auth" => client_auth = true,
            other => return Err(format!("invalid usage for client certificate: {other}")),
        }
    }
    if !client_auth {
        return Err("missing required usage for client certificate: client auth".into());
    }
    Ok(())
}

/// Whether `requested` is exactly one of the allowed usage sets.
fn usages_match(requested: &[String], allowed: &[&[&str]]) -> bool {
    let mut got: Vec<&str> = requested.iter().map(String::as_str).collect();
    got.sort_unstable();
    got.dedup();
    allowed.iter().any(|set| {
        let mut want = set.to_vec();
        want.sort_unstable();
        want == got
    })
}

fn kubelet_client(info: &RequestInfo, requested: &[String]) -> Result<(), String> {
    if info.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if !info.dns_names.is_empty() {
        return Err("DNS subjectAltNames are not allowed".into());
    }
    if !info.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !info.ip_addresses.is_empty() {
        return Err("IP subjectAltNames are not allowed".into());
    }
    if !info.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    let allowed: &[&[&str]] = &[
        &["digital signature", "key encipherment", "client auth"],
        &["digital signature", "client auth"],
    ];
    if !usages_match(requested, allowed) {
        return Err("usages did not match [client auth digital signature key encipherment]".into());
    }
    if !info.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    Ok(())
}

fn kubelet_serving(info: &RequestInfo, requested: &[String]) -> Result<(), String> {
    if info.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if !info.emails.is_empty() {
        return Err("Email subjectAltNames are not allowed".into());
    }
    if !info.uris.is_empty() {
        return Err("URI subjectAltNames are not allowed".into());
    }
    if info.dns_names.is_empty() && info.ip_addresses.is_empty() {
        return Err("DNS or IP subjectAltName is required".into());
    }
    let allowed: &[&[&str]] = &[
        &["digital signature", "key encipherment", "server auth"],
        &["digital signature", "server auth"],
    ];
    if !usages_match(requested, allowed) {
        return Err("usages did not match [digital signature key encipherment server auth]".into());
    }
    if !info.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    Ok(())
}

/// The validity upstream's signer gives: backdated by five minutes; a lifetime under eight
/// hours counts from the backdated start, a longer one from now.
pub fn validity(now: jiff::Timestamp, ttl: Duration) -> (jiff::Timestamp, jiff::Timestamp) {
    let span = |d: Duration| jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX);
    let not_before = now - span(BACKDATE);
    let not_after = if ttl < SHORT {
        not_before + span(ttl)
    } else {
        now + span(ttl)
    };
    (not_before, not_after)
}

fn has_condition(csr: &Value, kind: &str) -> bool {
    csr.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] != "False")
}

impl Controller for CsrSigner {
    fn name(&self) -> &'static str {
        "csrsigning"
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        if change.storage == CSRS && !change.deleted {
            vec![(String::new(), change.name.clone())]
        } else {
            Vec::new()
        }
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, CSRS)
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let def = storage::def(&api, "certificates.k8s.io", "certificatesigningrequests")?;
        let Some(csr) = storage::get(&api, &def, "", &key.1) else {
            return Ok(None);
        };
        let issued = csr
            .pointer("/status/certificate")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty());
        if issued
            || !has_condition(&csr, "Approved")
            || has_condition(&csr, "Denied")
            || has_condition(&csr, "Failed")
        {
            return Ok(None);
        }
        let signer = csr["spec"]["signerName"].as_str().unwrap_or_default();
        let Some(pem) = csr["spec"]["request"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return Ok(None);
        };
        let info = match parse_request_pem(&pem) {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(csr = %key.1, error = %e, "unparseable certificate request");
                return Ok(None);
            }
        };
        let requested: Vec<String> = csr["spec"]["usages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_string))
            .collect();
        let status = match check_request(signer, &info, &requested) {
            None => return Ok(None),
            Some(Err(why)) => failed(&csr, &why),
            Some(Ok(usages)) => self.issue(&csr, &pem, usages)?,
        };
        write_status(
            &api,
            &def,
            &csr,
            "certificatesigningrequest-signing-controller",
            status,
        )
        .await?;
        Ok(None)
    }
}

impl CsrSigner {
    /// The status with the signed certificate.
    fn issue(&self, csr: &Value, pem: &str, usages: Vec<Usage>) -> Result<Value, ApiError> {
        let requested = csr["spec"]["expirationSeconds"]
            .as_u64()
            .map(|s| Duration::from_secs(s.max(600)));
        let ttl = requested.map_or(self.max_duration, |r| r.min(self.max_duration));
        let (not_before, not_after) = validity(jiff::Timestamp::now(), ttl);
        let grant = Grant {
            usages,
            not_before,
            not_after,
        };
        let cert = self
            .ca
            .sign_request(pem, &grant)
            .map_err(|e| ApiError::internal(format!("signing certificate: {e}")))?;
        let mut status = csr.get("status").cloned().unwrap_or_else(|| json!({}));
        status["certificate"] = json!(base64::engine::general_purpose::STANDARD.encode(cert));
        Ok(status)
    }
}

/// The status with a `Failed` condition saying why the signer refuses.
fn failed(csr: &Value, why: &str) -> Value {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut status = csr.get("status").cloned().unwrap_or_else(|| json!({}));
    let condition = json!({
        "type": "Failed", "status": "True", "reason": "SignerValidationFailure",
        "message": why, "lastUpdateTime": now, "lastTransitionTime": now,
    });
    match status["conditions"].as_array_mut() {
        Some(list) => list.push(condition),
        None => status["conditions"] = json!([condition]),
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(cn: &str, dns: &[&str]) -> RequestInfo {
        RequestInfo {
            common_name: cn.into(),
            organizations: vec!["system:nodes".into()],
            dns_names: dns.iter().map(|d| d.to_string()).collect(),
            ..RequestInfo::default()
        }
    }

    fn usages(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn each_signer_checks_as_upstream() {
        let alice = RequestInfo {
            common_name: "alice".into(),
            ..RequestInfo::default()
        };
        let client = usages(&["client auth", "digital signature"]);
        assert_eq!(
            check_request(KUBE_APISERVER_CLIENT, &alice, &client),
            Some(Ok(vec![Usage::ClientAuth, Usage::DigitalSignature]))
        );
        assert_eq!(
            check_request(KUBE_APISERVER_CLIENT, &alice, &usages(&["server auth"])),
            Some(Err(
                "invalid usage for client certificate: server auth".into()
            ))
        );
        assert_eq!(
            check_request(
                KUBE_APISERVER_CLIENT,
                &alice,
                &usages(&["digital signature"])
            ),
            Some(Err(
                "missing required usage for client certificate: client auth".into()
            ))
        );
        assert_eq!(
            check_request(KUBE_APISERVER_CLIENT_KUBELET, &alice, &client),
            Some(Err("subject organization is not system:nodes".into()))
        );
        assert!(matches!(
            check_request(
                KUBE_APISERVER_CLIENT_KUBELET,
                &node("system:node:n1", &[]),
                &client
            ),
            Some(Ok(_))
        ));
        let serving = usages(&["digital signature", "key encipherment", "server auth"]);
        assert_eq!(
            check_request(KUBELET_SERVING, &node("system:node:n1", &[]), &serving),
            Some(Err("DNS or IP subjectAltName is required".into()))
        );
        assert_eq!(
            check_request(KUBELET_SERVING, &node("n1", &["n1.local"]), &serving),
            Some(Err(
                "subject common name does not begin with system:node:".into()
            ))
        );
        assert!(matches!(
            check_request(
                KUBELET_SERVING,
                &node("system:node:n1", &["n1.local"]),
                &serving
            ),
            Some(Ok(_))
        ));
        assert_eq!(check_request("example.com/other", &alice, &client), None);
    }

    #[test]
    fn validity_is_backdated_and_short_lifetimes_count_from_the_backdate() {
        let now = jiff::Timestamp::from_second(1_000_000).unwrap_or_default();
        let (nb, na) = validity(now, Duration::from_secs(3600));
        assert_eq!(nb.as_second(), 1_000_000 - 300);
        assert_eq!(na.as_second(), 1_000_000 - 300 + 3600);
        let (_, na) = validity(now, DEFAULT_SIGNING_DURATION);
        assert_eq!(na.as_second(), 1_000_000 + 365 * 24 * 3600);
    }
}
