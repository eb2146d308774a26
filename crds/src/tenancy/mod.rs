//! The tenancy contract: one implementation of names, keys and metadata rules for every program.
//!
//! Reverse mapping (super object → tenant object) never parses names: it reads the annotations
//! written by [`TenantId::object_annotations`] and [`TenantId::namespace_annotations`].

mod error;
pub mod keys;
pub mod meta;
pub mod naming;

pub use error::ContractError;
pub use keys::*;
pub use meta::{MetaRules, TenantId, TenantOrigin, owned_by};
pub use naming::{
    DNS1123_LABEL_MAX, cluster_key, cluster_key_for, is_dns1123_label, is_dns1123_subdomain,
    label_value, short_hash, super_namespace,
};

/// The `admin-kubeconfig` secret of a root namespace, as vc-manager writes it and the syncer
/// reads it (for tenants registered by hand, e.g. imported ones and tests).
pub fn admin_kubeconfig_secret(kubeconfig_yaml: &str) -> k8s_openapi::api::core::v1::Secret {
    k8s_openapi::api::core::v1::Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(SECRET_ADMIN_KUBECONFIG.into()),
            ..Default::default()
        },
        data: Some(std::collections::BTreeMap::from([(
            SECRET_ADMIN_KUBECONFIG.to_string(),
            k8s_openapi::ByteString(kubeconfig_yaml.as_bytes().to_vec()),
        )])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
