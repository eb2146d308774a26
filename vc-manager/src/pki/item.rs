//! The pieces of the tenant PKI and the secrets they are stored in.

/// One piece of the tenant PKI, stored in its own secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PkiItem {
    /// The tenant root CA.
    RootCa,
    /// The API server's serving certificate.
    ApiServer,
    /// The etcd serving/peer certificate.
    Etcd,
    /// The front-proxy client certificate.
    FrontProxy,
    /// The client certificate the API server presents to kubelets (and vn-agent).
    KubeletClient,
    /// The service-account token signing key.
    ServiceAccount,
    /// The admin kubeconfig.
    AdminKubeconfig,
    /// The controller-manager kubeconfig.
    ControllerManagerKubeconfig,
}

impl PkiItem {
    /// Every item, CA first (leaves depend on it).
    pub const ALL: [PkiItem; 8] = [
        PkiItem::RootCa,
        PkiItem::ApiServer,
        PkiItem::Etcd,
        PkiItem::FrontProxy,
        PkiItem::KubeletClient,
        PkiItem::ServiceAccount,
        PkiItem::AdminKubeconfig,
        PkiItem::ControllerManagerKubeconfig,
    ];

    /// Name of the secret holding the item (from the tenancy contract).
    pub fn secret_name(self) -> &'static str {
        use crds::tenancy::keys::*;
        match self {
            PkiItem::RootCa => SECRET_ROOT_CA,
            PkiItem::ApiServer => SECRET_APISERVER_CA,
            PkiItem::Etcd => SECRET_ETCD_CA,
            PkiItem::FrontProxy => SECRET_FRONT_PROXY_CA,
            PkiItem::KubeletClient => SECRET_KUBELET_CLIENT,
            PkiItem::ServiceAccount => SECRET_SERVICE_ACCOUNT_RSA,
            PkiItem::AdminKubeconfig => SECRET_ADMIN_KUBECONFIG,
            PkiItem::ControllerManagerKubeconfig => SECRET_CONTROLLER_MANAGER_KUBECONFIG,
        }
    }

    /// Whether the item is a kubeconfig (stored under a data key named like the secret).
    pub fn is_kubeconfig(self) -> bool {
        matches!(
            self,
            PkiItem::AdminKubeconfig | PkiItem::ControllerManagerKubeconfig
        )
    }
}

impl std::fmt::Display for PkiItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.secret_name())
    }
}
