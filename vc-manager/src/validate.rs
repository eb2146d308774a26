//! Spec validation: a pure check of a VirtualCluster against what exists, returning either the
//! settings to provision with or a problem whose message says exactly what to fix.

use std::collections::HashSet;

use crds::tenancy::is_dns1123_subdomain;
use crds::{ClusterVersion, Provisioner, VirtualCluster};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Secret;

/// Data key of the kubeconfig in an import secret.
pub const IMPORT_KUBECONFIG_KEY: &str = "kubeconfig";
/// Longest accepted `pkiExpireDays` (100 years).
pub const MAX_PKI_EXPIRE_DAYS: i64 = 36_500;

/// Something looked up by name: found, or known not to exist.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup<T> {
    /// The object exists.
    Found(T),
    /// No object has that name.
    NotFound,
}

/// The spec, checked, with defaults applied.
#[derive(Clone, Debug)]
pub struct ValidSpec {
    /// The provisioner in charge.
    pub provisioner: Provisioner,
    /// The tenant service CIDR.
    pub service_cidr: IpNet,
    /// The tenant DNS domain.
    pub cluster_domain: String,
    /// Validity of leaf certificates in days.
    pub pki_expire_days: i64,
    /// The ClusterVersion named by the spec; only `native` needs one (and always has it),
    /// `local` and `import` never use it, so it may not exist for them.
    pub cluster_version: Option<ClusterVersion>,
    /// For `import`: the kubeconfig of the imported cluster.
    pub import_kubeconfig: Option<String>,
}

/// Why a spec cannot be provisioned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecProblem {
    /// CamelCase reason for status and events.
    pub reason: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// What validation needs to know about the world.
#[derive(Clone, Debug)]
pub struct SpecInputs<'a> {
    /// The provisioner when the spec names none.
    pub default_provisioner: Provisioner,
    /// Provisioners this vc-manager runs.
    pub enabled: &'a HashSet<Provisioner>,
    /// The ClusterVersion the spec names.
    pub cluster_version: &'a Lookup<ClusterVersion>,
    /// Names of all ClusterVersions (to suggest one).
    pub known_cluster_versions: &'a [String],
    /// For `import`: the secret named by `importKubeconfigSecret`, when one is named.
    pub import_secret: Option<&'a Lookup<Secret>>,
}

fn problem(reason: &'static str, message: String) -> SpecProblem {
    SpecProblem { reason, message }
}

/// Checks `vc`'s spec.
pub fn validate(vc: &VirtualCluster, inputs: &SpecInputs<'_>) -> Result<ValidSpec, SpecProblem> {
    let spec = &vc.spec;
    let provisioner = spec.provisioner.unwrap_or(inputs.default_provisioner);
    if !inputs.enabled.contains(&provisioner) {
        let mut enabled: Vec<&str> = inputs.enabled.iter().map(|p| p.as_str()).collect();
        enabled.sort_unstable();
        return Err(problem(
            "ProvisionerNotEnabled",
            format!(
                "spec.provisioner {:?} is not enabled in this vc-manager (enabled: {}); set \
                 spec.provisioner to one of those, or start vc-manager with --provisioners \
                 including {:?}",
                provisioner.as_str(),
                enabled.join(", "),
                provisioner.as_str()
            ),
        ));
    }
    let cluster_version = check_cluster_version(vc, provisioner, inputs)?;
    let service_cidr = check_service_cidr(spec.service_cidr())?;
    let cluster_domain = spec.cluster_domain().to_string();
    if !is_dns1123_subdomain(&cluster_domain) {
        return Err(problem(
            "InvalidClusterDomain",
            format!(
                "spec.clusterDomain {cluster_domain:?} is not a DNS domain (lowercase letters, \
                 digits, '-' and '.'), e.g. \"cluster.local\""
            ),
        ));
    }
    let pki_expire_days = match spec.pki_expire_days {
        None => crds::virtualcluster::DEFAULT_PKI_EXPIRE_DAYS,
        Some(d) if (1..=MAX_PKI_EXPIRE_DAYS).contains(&d) => d,
        Some(d) => {
            return Err(problem(
                "InvalidPKIExpireDays",
                format!(
                    "spec.pkiExpireDays is {d}: it must be between 1 and {MAX_PKI_EXPIRE_DAYS} \
                     (default 365)"
                ),
            ));
        }
    };
    let import_kubeconfig = match provisioner {
        Provisioner::Import => Some(check_import(vc, inputs)?),
        _ => None,
    };
    Ok(ValidSpec {
        provisioner,
        service_cidr,
        cluster_domain,
        pki_expire_days,
        cluster_version,
        import_kubeconfig,
    })
}

fn check_cluster_version(
    vc: &VirtualCluster,
    provisioner: Provisioner,
    inputs: &SpecInputs<'_>,
) -> Result<Option<ClusterVersion>, SpecProblem> {
    if provisioner != Provisioner::Native {
        // Only native renders the ClusterVersion's workloads; the others never read it.
        return Ok(match inputs.cluster_version {
            Lookup::Found(cv) => Some(cv.clone()),
            Lookup::NotFound => None,
        });
    }
    let name = vc.spec.cluster_version_name.trim();
    let known = if inputs.known_cluster_versions.is_empty() {
        "none exists yet; create one (see config/samples/)".to_string()
    } else {
        format!("existing: {}", inputs.known_cluster_versions.join(", "))
    };
    if name.is_empty() {
        return Err(problem(
            "ClusterVersionNotSet",
            format!("spec.clusterVersionName is empty: name a ClusterVersion ({known})"),
        ));
    }
    let cv = match inputs.cluster_version {
        Lookup::Found(cv) => cv.clone(),
        Lookup::NotFound => {
            return Err(problem(
                "ClusterVersionNotFound",
                format!(
                    "ClusterVersion {name:?} named by spec.clusterVersionName does not exist: \
                     create it or name another ({known})"
                ),
            ));
        }
    };
    crate::provisioner::native::render::check_cluster_version(&cv).map_err(|what| {
        problem(
            "InvalidClusterVersion",
            format!(
                "ClusterVersion {name:?} cannot be provisioned natively: {what}; fix the \
                 ClusterVersion or name another in spec.clusterVersionName"
            ),
        )
    })?;
    Ok(Some(cv))
}

/// Parses a service CIDR the way kube-apiserver accepts it.
pub fn check_service_cidr(text: &str) -> Result<IpNet, SpecProblem> {
    let bad = |why: String| {
        problem(
            "InvalidServiceCIDR",
            format!("spec.serviceCidr {text:?} {why}"),
        )
    };
    let net: IpNet = text
        .trim()
        .parse()
        .map_err(|_| bad("is not a CIDR; write it like \"10.32.0.0/16\"".into()))?;
    if net.network() != net.addr() {
        return Err(bad(format!(
            "has host bits set; did you mean \"{}\"?",
            net.trunc()
        )));
    }
    // kube-apiserver refuses ranges of more than 2^20 addresses, and needs a few to allocate.
    let (min, max) = match net {
        IpNet::V4(_) => (12, 28),
        IpNet::V6(_) => (108, 124),
    };
    if net.prefix_len() < min || net.prefix_len() > max {
        return Err(bad(format!(
            "must have a prefix length between /{min} and /{max}"
        )));
    }
    Ok(net)
}

fn check_import(vc: &VirtualCluster, inputs: &SpecInputs<'_>) -> Result<String, SpecProblem> {
    let ns = vc.metadata.namespace.as_deref().unwrap_or_default();
    let Some(name) = vc
        .spec
        .import_kubeconfig_secret
        .as_deref()
        .filter(|n| !n.is_empty())
    else {
        return Err(problem(
            "ImportSecretNotSet",
            format!(
                "spec.provisioner is \"import\" but spec.importKubeconfigSecret is not set: name \
                 a secret in namespace {ns:?} whose key {IMPORT_KUBECONFIG_KEY:?} holds the \
                 cluster's admin kubeconfig"
            ),
        ));
    };
    let secret = match inputs.import_secret {
        Some(Lookup::Found(s)) => s,
        _ => {
            return Err(problem(
                "ImportSecretNotFound",
                format!(
                    "secret {name:?} named by spec.importKubeconfigSecret does not exist in \
                     namespace {ns:?}: create it with `kubectl -n {ns} create secret generic \
                     {name} --from-file={IMPORT_KUBECONFIG_KEY}=PATH`"
                ),
            ));
        }
    };
    let text = crate::pki::secrets::read_string(secret, IMPORT_KUBECONFIG_KEY)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            problem(
                "ImportSecretInvalid",
                format!(
                    "secret {ns}/{name} has no key {IMPORT_KUBECONFIG_KEY:?}: put the imported \
                     cluster's kubeconfig under that key"
                ),
            )
        })?;
    kube::config::Kubeconfig::from_yaml(&text).map_err(|e| {
        problem(
            "ImportSecretInvalid",
            format!("secret {ns}/{name} key {IMPORT_KUBECONFIG_KEY:?} is not a kubeconfig: {e}"),
        )
    })?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;

    use super::*;

    fn vc(provisioner: Provisioner) -> VirtualCluster {
        let mut vc = VirtualCluster::new(
            "demo",
            crds::VirtualClusterSpec {
                cluster_version_name: "v1.31".into(),
                provisioner: Some(provisioner),
                ..Default::default()
            },
        );
        vc.metadata.namespace = Some("team-a".into());
        vc
    }

    fn cv() -> ClusterVersion {
        serde_yaml::from_str(include_str!("../../config/samples/clusterversion.yaml")).unwrap()
    }

    fn check(
        vc: &VirtualCluster,
        cv: &Lookup<ClusterVersion>,
        import: Option<&Lookup<Secret>>,
    ) -> Result<ValidSpec, SpecProblem> {
        let enabled = HashSet::from([Provisioner::Native, Provisioner::Import]);
        validate(
            vc,
            &SpecInputs {
                default_provisioner: Provisioner::Native,
                enabled: &enabled,
                cluster_version: cv,
                known_cluster_versions: &["v1.31".to_string()],
                import_secret: import,
            },
        )
    }

    #[test]
    fn a_good_spec_gets_its_defaults() {
        let v = check(&vc(Provisioner::Native), &Lookup::Found(cv()), None).unwrap();
        assert_eq!(v.service_cidr.to_string(), "10.32.0.0/16");
        assert_eq!(v.cluster_domain, "cluster.local");
        assert_eq!(v.pki_expire_days, 365);
    }

    #[test]
    fn each_problem_names_its_fix() {
        let e = check(&vc(Provisioner::Native), &Lookup::NotFound, None).unwrap_err();
        assert_eq!(e.reason, "ClusterVersionNotFound");
        assert!(e.message.contains("existing: v1.31"), "{}", e.message);

        let e = check(&vc(Provisioner::Local), &Lookup::Found(cv()), None).unwrap_err();
        assert_eq!(e.reason, "ProvisionerNotEnabled");
        assert!(
            e.message.contains("enabled: import, native"),
            "{}",
            e.message
        );

        let mut bad = vc(Provisioner::Native);
        bad.spec.service_cidr = Some("10.32.0.0/33".into());
        assert_eq!(
            check(&bad, &Lookup::Found(cv()), None).unwrap_err().reason,
            "InvalidServiceCIDR"
        );
        bad.spec.service_cidr = None;
        bad.spec.pki_expire_days = Some(0);
        assert_eq!(
            check(&bad, &Lookup::Found(cv()), None).unwrap_err().reason,
            "InvalidPKIExpireDays"
        );
        bad.spec.pki_expire_days = None;
        bad.spec.cluster_domain = Some("Not_A_Domain".into());
        assert_eq!(
            check(&bad, &Lookup::Found(cv()), None).unwrap_err().reason,
            "InvalidClusterDomain"
        );

        let mut empty = cv();
        empty.spec.api_server = None;
        let e = check(
            &vc(Provisioner::Native),
            &Lookup::Found(empty.clone()),
            None,
        )
        .unwrap_err();
        assert_eq!(e.reason, "InvalidClusterVersion");
        // Only native needs the ClusterVersion's workloads.
        let mut imp = vc(Provisioner::Import);
        imp.spec.import_kubeconfig_secret = Some("kc".into());
        let secret = Lookup::Found(Secret {
            data: Some(BTreeMap::from([(
                "kubeconfig".to_string(),
                ByteString(b"apiVersion: v1\nkind: Config\nclusters: []\n".to_vec()),
            )])),
            ..Default::default()
        });
        assert!(check(&imp, &Lookup::Found(empty), Some(&secret)).is_ok());
        // ... and only native needs it to exist.
        assert!(check(&imp, &Lookup::NotFound, Some(&secret)).is_ok());
    }

    #[test]
    fn local_does_not_need_the_cluster_version() {
        let enabled = HashSet::from([Provisioner::Local]);
        let mut v = vc(Provisioner::Local);
        for name in ["does-not-exist", ""] {
            v.spec.cluster_version_name = name.into();
            let ok = validate(
                &v,
                &SpecInputs {
                    default_provisioner: Provisioner::Local,
                    enabled: &enabled,
                    cluster_version: &Lookup::NotFound,
                    known_cluster_versions: &[],
                    import_secret: None,
                },
            )
            .unwrap();
            assert!(ok.cluster_version.is_none());
        }
    }

    #[test]
    fn the_samples_are_valid() {
        let enabled = HashSet::from([Provisioner::Native, Provisioner::Import, Provisioner::Local]);
        let kubeconfig = Lookup::Found(Secret {
            data: Some(BTreeMap::from([(
                "kubeconfig".to_string(),
                ByteString(b"apiVersion: v1\nkind: Config\n".to_vec()),
            )])),
            ..Default::default()
        });
        for text in [
            include_str!("../../config/samples/virtualcluster-native.yaml"),
            include_str!("../../config/samples/virtualcluster-local.yaml"),
            include_str!("../../config/samples/virtualcluster-import.yaml"),
        ] {
            let vc: VirtualCluster = serde_yaml::from_str(text).unwrap();
            let cv = Lookup::Found(cv());
            assert_eq!(Some(vc.spec.cluster_version_name.as_str()), cv_name(&cv));
            let inputs = SpecInputs {
                default_provisioner: Provisioner::Native,
                enabled: &enabled,
                cluster_version: &cv,
                known_cluster_versions: &[],
                import_secret: Some(&kubeconfig),
            };
            validate(&vc, &inputs).unwrap();
        }
    }

    fn cv_name(cv: &Lookup<ClusterVersion>) -> Option<&str> {
        match cv {
            Lookup::Found(cv) => cv.metadata.name.as_deref(),
            Lookup::NotFound => None,
        }
    }

    #[test]
    fn import_secrets_are_checked() {
        let mut v = vc(Provisioner::Import);
        let cv = Lookup::Found(cv());
        assert_eq!(
            check(&v, &cv, None).unwrap_err().reason,
            "ImportSecretNotSet"
        );
        v.spec.import_kubeconfig_secret = Some("kc".into());
        let e = check(&v, &cv, Some(&Lookup::NotFound)).unwrap_err();
        assert_eq!(e.reason, "ImportSecretNotFound");
        assert!(
            e.message
                .contains("kubectl -n team-a create secret generic kc")
        );
        let wrong_key = Lookup::Found(Secret {
            data: Some(BTreeMap::from([(
                "config".to_string(),
                ByteString(b"x".to_vec()),
            )])),
            ..Default::default()
        });
        let e = check(&v, &cv, Some(&wrong_key)).unwrap_err();
        assert_eq!(e.reason, "ImportSecretInvalid");
        assert!(e.message.contains("no key \"kubeconfig\""), "{}", e.message);
        let garbage = Lookup::Found(Secret {
            data: Some(BTreeMap::from([(
                "kubeconfig".to_string(),
                ByteString(b"{{{".to_vec()),
            )])),
            ..Default::default()
        });
        let e = check(&v, &cv, Some(&garbage)).unwrap_err();
        assert!(e.message.contains("is not a kubeconfig"), "{}", e.message);
    }

    #[test]
    fn service_cidrs() {
        assert!(check_service_cidr("10.32.0.0/16").is_ok());
        assert!(check_service_cidr("fd00::/112").is_ok());
        let e = check_service_cidr("10.32.0.5/16").unwrap_err();
        assert!(
            e.message.contains("did you mean \"10.32.0.0/16\""),
            "{}",
            e.message
        );
        let e = check_service_cidr("10.0.0.0/8").unwrap_err();
        assert!(e.message.contains("/12 and /28"), "{}", e.message);
        let e = check_service_cidr("banana").unwrap_err();
        assert_eq!(e.reason, "InvalidServiceCIDR");
        assert!(e.message.contains("\"banana\""));
    }
}
