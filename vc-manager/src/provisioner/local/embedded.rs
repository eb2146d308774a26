//! The embedded API server (the `apiserver` crate) as a tenant control plane, in-process, with
//! SQLite under the tenant's state directory and the tenant's own PKI.
//!
//! The server reads its certificates from its certificate directory; writing the tenant PKI
//! there first makes it serve with `apiserver-ca`, trust `root-ca` for clients (so the
//! published `admin-kubeconfig` works), sign service-account tokens with `serviceaccount-rsa`
//! and present `kubelet-client` to kubelets.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use apiserver::{ServerBuilder, ServerHandle};
use k8s_openapi::api::core::v1::Secret;

use super::ports::Ports;
use crate::pki::PkiItem;
use crate::pki::kubeconfig;
use crate::pki::secrets::{read_string, read_tls};
use crate::provisioner::error::ProvisionError;
use crate::provisioner::tenant::Tenant;

fn missing(what: &str) -> ProvisionError {
    ProvisionError::Local(format!("secret {what} is missing or incomplete"))
}

/// Writes the tenant PKI in the layout of the embedded server's certificate directory.
pub fn write_cert_dir(
    dir: &Path,
    secrets: &BTreeMap<String, Secret>,
) -> Result<(), ProvisionError> {
    let tls = |item: PkiItem| {
        secrets
            .get(item.secret_name())
            .and_then(read_tls)
            .ok_or_else(|| missing(item.secret_name()))
    };
    let (ca_cert, ca_key) = tls(PkiItem::RootCa)?;
    let (api_cert, api_key) = tls(PkiItem::ApiServer)?;
    let (_, sa_key) = tls(PkiItem::ServiceAccount)?;
    let admin = PkiItem::AdminKubeconfig;
    let admin_text = secrets
        .get(admin.secret_name())
        .and_then(|s| read_string(s, admin.secret_name()))
        .ok_or_else(|| missing(admin.secret_name()))?;
    let parsed = kubeconfig::parse(&admin_text)?;
    let (Some(admin_cert), Some(admin_key)) = (parsed.client_cert_pem, parsed.client_key_pem)
    else {
        return Err(missing(admin.secret_name()));
    };
    let files = [
        ("ca.crt", ca_cert.as_str(), 0o644),
        ("ca.key", ca_key.as_str(), 0o600),
        ("client-ca.crt", ca_cert.as_str(), 0o644),
        ("client-ca.key", ca_key.as_str(), 0o600),
        ("apiserver.crt", api_cert.as_str(), 0o644),
        ("apiserver.key", api_key.as_str(), 0o600),
        ("admin.crt", admin_cert.as_str(), 0o644),
        ("admin.key", admin_key.as_str(), 0o600),
        ("sa.key", sa_key.as_str(), 0o600),
    ];
    std::fs::create_dir_all(dir).map_err(|source| ProvisionError::Io {
        action: format!("creating {}", dir.display()),
        source,
    })?;
    for (name, content, mode) in files {
        super::binaries::write_file(&dir.join(name), content, mode).map_err(|source| {
            ProvisionError::Io {
                action: format!("writing {}", dir.join(name).display()),
                source,
            }
        })?;
    }
    Ok(())
}

/// Starts the embedded API server of a tenant.
pub async fn start(
    t: &Tenant,
    ports: &Ports,
    bind: IpAddr,
    root: &Path,
    secrets: &BTreeMap<String, Secret>,
) -> Result<ServerHandle, ProvisionError> {
    let cert_dir = root.join("pki");
    write_cert_dir(&cert_dir, secrets)?;
    let (kubelet_cert, kubelet_key) = secrets
        .get(PkiItem::KubeletClient.secret_name())
        .and_then(read_tls)
        .ok_or_else(|| missing(PkiItem::KubeletClient.secret_name()))?;
    ServerBuilder::new()
        .listen(SocketAddr::new(bind, ports.apiserver))
        .data_dir(root.join("data"))
        .cert_dir(cert_dir)
        .service_cluster_ip_range(&t.spec.service_cidr.to_string())
        .kubelet_client_cert(kubelet_cert, kubelet_key)
        .service_account_issuer(&format!(
            "https://kubernetes.default.svc.{}",
            t.spec.cluster_domain
        ))
        .name(t.name())
        .start()
        .await
        .map_err(|e| {
            ProvisionError::Local(format!(
                "the embedded API server of {} did not start on {bind}:{}: {e}",
                t.namespace(),
                ports.apiserver
            ))
        })
}
