//! Cluster keys and super-namespace names.
//!
//! A cluster key is `<vc-namespace>-<first 6 hex of sha256(vc uid)>-<vc-name>` (or the VC's
//! `status.clusterNamespace` when set). The super namespace of tenant namespace `ns` is
//! `<cluster-key>-<ns>`. Any result longer than a DNS-1123 label is shortened to its first 57
//! characters, `-`, and the first 5 hex digits of the sha256 of the full name, as upstream does.

use sha2::{Digest, Sha256};

use super::error::ContractError;
use crate::VirtualCluster;

/// Longest DNS-1123 label (and namespace name).
pub const DNS1123_LABEL_MAX: usize = 63;
/// Characters kept from a too-long name before its hash suffix.
const SHORTENED_PREFIX: usize = 57;

/// Whether `s` is a valid DNS-1123 label: 1-63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= DNS1123_LABEL_MAX
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Whether `s` is a valid DNS-1123 subdomain: 1-253 characters, dot-separated labels.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// First `n` hex digits of sha256(`input`).
pub fn short_hash(input: &str, n: usize) -> String {
    let digest = hex::encode(Sha256::digest(input.as_bytes()));
    digest[..n.min(digest.len())].to_string()
}

/// Shortens a name of `[a-z0-9-]` characters to a DNS-1123 label when it is too long.
fn shorten(full: &str) -> String {
    if full.len() <= DNS1123_LABEL_MAX {
        return full.to_string();
    }
    format!("{}-{}", &full[..SHORTENED_PREFIX], short_hash(full, 5))
}

/// Cluster key of a VirtualCluster given its namespace, name and uid.
///
/// Dots (allowed in VC names) become `-` so the key is a namespace name; the hash suffix of
/// shortening is computed over the dotted form so that `a.b` and `a-b` stay distinct.
pub fn cluster_key_for(
    vc_namespace: &str,
    vc_name: &str,
    vc_uid: &str,
) -> Result<String, ContractError> {
    if !is_dns1123_label(vc_namespace) {
        return Err(ContractError::InvalidName {
            what: "VirtualCluster namespace",
            value: vc_namespace.to_string(),
        });
    }
    if !is_dns1123_subdomain(vc_name) {
        return Err(ContractError::InvalidName {
            what: "VirtualCluster name",
            value: vc_name.to_string(),
        });
    }
    if vc_uid.is_empty() {
        return Err(ContractError::MissingField("VirtualCluster metadata.uid"));
    }
    let raw = format!("{vc_namespace}-{}-{vc_name}", short_hash(vc_uid, 6));
    if !raw.contains('.') {
        return Ok(shorten(&raw));
    }
    let flat = raw.replace('.', "-");
    if flat.len() <= DNS1123_LABEL_MAX {
        // Keep distinctness from an undotted twin by hashing whenever dots were replaced.
        let cut = flat.len().min(SHORTENED_PREFIX);
        return Ok(format!("{}-{}", &flat[..cut], short_hash(&raw, 5)));
    }
    Ok(format!(
        "{}-{}",
        &flat[..SHORTENED_PREFIX],
        short_hash(&raw, 5)
    ))
}

/// Cluster key of a VirtualCluster: `status.clusterNamespace` when set, else computed.
pub fn cluster_key(vc: &VirtualCluster) -> Result<String, ContractError> {
    if let Some(ns) = vc
        .status
        .as_ref()
        .and_then(|s| s.cluster_namespace.as_deref())
        .filter(|ns| !ns.is_empty())
    {
        if !is_dns1123_label(ns) {
            return Err(ContractError::InvalidName {
                what: "VirtualCluster status.clusterNamespace",
                value: ns.to_string(),
            });
        }
        return Ok(ns.to_string());
    }
    let namespace = vc
        .metadata
        .namespace
        .as_deref()
        .ok_or(ContractError::MissingField(
            "VirtualCluster metadata.namespace",
        ))?;
    let name = vc
        .metadata
        .name
        .as_deref()
        .ok_or(ContractError::MissingField("VirtualCluster metadata.name"))?;
    let uid = vc
        .metadata
        .uid
        .as_deref()
        .ok_or(ContractError::MissingField("VirtualCluster metadata.uid"))?;
    cluster_key_for(namespace, name, uid)
}

/// Super-cluster namespace holding the objects of tenant namespace `tenant_ns`.
pub fn super_namespace(cluster_key: &str, tenant_ns: &str) -> Result<String, ContractError> {
    if !is_dns1123_label(cluster_key) {
        return Err(ContractError::InvalidName {
            what: "cluster key",
            value: cluster_key.to_string(),
        });
    }
    if !is_dns1123_label(tenant_ns) {
        return Err(ContractError::InvalidName {
            what: "tenant namespace",
            value: tenant_ns.to_string(),
        });
    }
    Ok(shorten(&format!("{cluster_key}-{tenant_ns}")))
}

/// A label value for a name that may be longer than 63 characters (VC names may be 253).
pub fn label_value(name: &str) -> String {
    let flat = name.replace('.', "-");
    if name.len() <= DNS1123_LABEL_MAX {
        return name.to_string();
    }
    format!("{}-{}", &flat[..SHORTENED_PREFIX], short_hash(name, 5))
}
