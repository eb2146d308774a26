//! How PKI items are laid out in secrets (upstream's layout): certificate/key pairs as
//! `kubernetes.io/tls` secrets with `tls.crt`/`tls.key`, kubeconfigs as `Opaque` secrets whose
//! data key is the secret's name.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use common::pki::CertKey;

use super::item::PkiItem;

/// Data key of certificates.
pub const TLS_CERT_KEY: &str = "tls.crt";
/// Data key of private keys.
pub const TLS_PRIVATE_KEY_KEY: &str = "tls.key";
/// Type of certificate/key secrets.
pub const SECRET_TYPE_TLS: &str = "kubernetes.io/tls";
/// Type of kubeconfig secrets.
pub const SECRET_TYPE_OPAQUE: &str = "Opaque";
/// Label on everything vc-manager creates in a root namespace.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "vc-manager";

/// Where and how the PKI secrets of one tenant are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretLayout {
    /// The tenant's root namespace.
    pub namespace: String,
}

impl SecretLayout {
    fn meta(&self, item: PkiItem) -> ObjectMeta {
        ObjectMeta {
            name: Some(item.secret_name().to_string()),
            namespace: Some(self.namespace.clone()),
            labels: Some(BTreeMap::from([
                (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
                ("app.kubernetes.io/component".to_string(), "pki".to_string()),
            ])),
            ..Default::default()
        }
    }

    /// A `kubernetes.io/tls` secret holding `pair`.
    pub fn tls(&self, item: PkiItem, pair: &CertKey) -> Secret {
        Secret {
            metadata: self.meta(item),
            type_: Some(SECRET_TYPE_TLS.to_string()),
            data: Some(BTreeMap::from([
                (
                    TLS_CERT_KEY.to_string(),
                    ByteString(pair.cert_pem.as_bytes().to_vec()),
                ),
                (
                    TLS_PRIVATE_KEY_KEY.to_string(),
                    ByteString(pair.key_pem.as_bytes().to_vec()),
                ),
            ])),
            ..Default::default()
        }
    }

    /// An `Opaque` secret holding a kubeconfig under the secret's own name.
    pub fn kubeconfig(&self, item: PkiItem, text: &str) -> Secret {
        Secret {
            metadata: self.meta(item),
            type_: Some(SECRET_TYPE_OPAQUE.to_string()),
            data: Some(BTreeMap::from([(
                item.secret_name().to_string(),
                ByteString(text.as_bytes().to_vec()),
            )])),
            ..Default::default()
        }
    }
}

/// A data value as UTF-8 text.
pub fn read_string(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

/// The `tls.crt` and `tls.key` of a secret.
pub fn read_tls(secret: &Secret) -> Option<(String, String)> {
    Some((
        read_string(secret, TLS_CERT_KEY)?,
        read_string(secret, TLS_PRIVATE_KEY_KEY)?,
    ))
}
