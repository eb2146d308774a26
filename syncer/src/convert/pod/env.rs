//! How a super pod talks to its tenant: service env vars, host aliases and DNS pointing at the
//! tenant, and the tenant's service-account tokens instead of the super cluster's.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Container, EnvVar, HostAlias, KeyToPath, PodDNSConfig, PodDNSConfigOption, PodSpec,
    SecretVolumeSource, ServicePort,
};

use super::inputs::{ApiEndpoint, KUBE_API_ACCESS_PREFIX, PodInputs, ServiceEnv};
use crate::convert::{ConvertError, TenantCtx};

/// Environment variables of a service as the kubelet writes them.
pub fn service_env_vars(svc: &ServiceEnv) -> Vec<EnvVar> {
    let Some(first) = svc.ports.first() else {
        return Vec::new();
    };
    let prefix = env_name(&svc.name);
    let host = if svc.cluster_ip.contains(':') {
        format!("[{}]", svc.cluster_ip)
    } else {
        svc.cluster_ip.clone()
    };
    let var = |name: String, value: String| EnvVar {
        name,
        value: Some(value),
        value_from: None,
    };
    let proto = |p: &ServicePort| p.protocol.clone().unwrap_or_else(|| "TCP".into());
    let mut out = vec![
        var(format!("{prefix}_SERVICE_HOST"), svc.cluster_ip.clone()),
        var(format!("{prefix}_SERVICE_PORT"), first.port.to_string()),
    ];
    for p in &svc.ports {
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            out.push(var(
                format!("{prefix}_SERVICE_PORT_{}", env_name(name)),
                p.port.to_string(),
            ));
        }
    }
    out.push(var(
        format!("{prefix}_PORT"),
        format!("{}://{host}:{}", proto(first).to_lowercase(), first.port),
    ));
    for p in &svc.ports {
        let pr = proto(p);
        let base = format!("{prefix}_PORT_{}_{}", p.port, pr.to_uppercase());
        out.push(var(
            base.clone(),
            format!("{}://{host}:{}", pr.to_lowercase(), p.port),
        ));
        out.push(var(format!("{base}_PROTO"), pr.to_lowercase()));
        out.push(var(format!("{base}_PORT"), p.port.to_string()));
        out.push(var(format!("{base}_ADDR"), svc.cluster_ip.clone()));
    }
    out
}

pub(super) fn env_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// Adds service env vars (when service links are on) and the tenant API server's
/// `KUBERNETES_*` vars to every container; variables the container defines itself win.
pub(super) fn inject_env(tenant_ns: &str, spec: &mut PodSpec, inputs: &PodInputs<'_>) {
    let mut vars: Vec<EnvVar> = Vec::new();
    if spec.enable_service_links != Some(false) {
        let mut services: Vec<&ServiceEnv> = inputs
            .services
            .iter()
            .filter(|s| !(tenant_ns == "default" && s.name == "kubernetes"))
            .filter(|s| !s.cluster_ip.is_empty() && s.cluster_ip != "None")
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        for s in services {
            vars.extend(service_env_vars(s));
        }
    }
    if let Some(api) = inputs.apiserver {
        vars.extend(service_env_vars(&ServiceEnv {
            name: "kubernetes".into(),
            cluster_ip: api.ip.clone(),
            ports: vec![ServicePort {
                name: Some("https".into()),
                port: i32::from(api.port),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }],
        }));
    }
    // The super kubelet would add the super cluster's services; ours replace them.
    spec.enable_service_links = Some(false);
    if vars.is_empty() {
        return;
    }
    let add = |c: &mut Container| {
        let own: BTreeSet<String> = c.env.iter().flatten().map(|e| e.name.clone()).collect();
        let mut env: Vec<EnvVar> = vars
            .iter()
            .filter(|v| !own.contains(&v.name))
            .cloned()
            .collect();
        env.extend(c.env.take().unwrap_or_default());
        c.env = Some(env);
    };
    spec.containers.iter_mut().for_each(add);
    spec.init_containers.iter_mut().flatten().for_each(add);
}

/// Makes `kubernetes.default.svc` resolve to the tenant API server inside the pod.
pub(super) fn set_host_aliases(ctx: &TenantCtx, spec: &mut PodSpec, api: Option<&ApiEndpoint>) {
    let Some(api) = api else {
        return;
    };
    if spec.host_network == Some(true) {
        return;
    }
    let hostnames = vec![
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        format!("kubernetes.default.svc.{}", ctx.cluster_domain),
    ];
    let aliases = spec.host_aliases.get_or_insert_default();
    aliases.retain(|a| a.ip != api.ip);
    aliases.push(HostAlias {
        ip: api.ip.clone(),
        hostnames: Some(hostnames),
    });
}

/// Points cluster DNS at the tenant's DNS service, with the tenant's search path.
pub(super) fn set_dns(ctx: &TenantCtx, tenant_ns: &str, spec: &mut PodSpec, dns_ip: Option<&str>) {
    let Some(ip) = dns_ip else {
        return;
    };
    let host_network = spec.host_network == Some(true);
    let applies = match spec.dns_policy.as_deref() {
        None | Some("ClusterFirst") => !host_network,
        Some("ClusterFirstWithHostNet") => true,
        _ => false,
    };
    if !applies {
        return;
    }
    let domain = &ctx.cluster_domain;
    let user = spec.dns_config.take().unwrap_or_default();
    let mut searches = vec![
        format!("{tenant_ns}.svc.{domain}"),
        format!("svc.{domain}"),
        domain.clone(),
    ];
    for s in user.searches.into_iter().flatten() {
        if !searches.contains(&s) {
            searches.push(s);
        }
    }
    let mut nameservers = vec![ip.to_string()];
    nameservers.extend(user.nameservers.into_iter().flatten().filter(|n| n != ip));
    let mut options = vec![PodDNSConfigOption {
        name: Some("ndots".into()),
        value: Some("5".into()),
    }];
    for o in user.options.into_iter().flatten() {
        if o.name.as_deref() == Some("ndots") {
            options[0] = o;
        } else {
            options.push(o);
        }
    }
    spec.dns_policy = Some("None".into());
    spec.dns_config = Some(PodDNSConfig {
        nameservers: Some(nameservers),
        searches: Some(searches),
        options: Some(options),
    });
}

/// Replaces the projected service-account volume by the super secret holding a tenant token,
/// and maps legacy token-secret volumes to their super copies.
pub(super) fn map_token_volumes(
    spec: &mut PodSpec,
    inputs: &PodInputs<'_>,
) -> Result<(), ConvertError> {
    for v in spec.volumes.iter_mut().flatten() {
        if v.projected.is_some() && v.name.starts_with(KUBE_API_ACCESS_PREFIX) {
            let secret = inputs.token_secret.ok_or_else(|| {
                ConvertError::NotReady(format!(
                    "the service-account token for volume {:?} is not issued yet",
                    v.name
                ))
            })?;
            let mode = v.projected.as_ref().and_then(|p| p.default_mode);
            let item = |k: &str| KeyToPath {
                key: k.into(),
                path: k.into(),
                mode: None,
            };
            v.projected = None;
            v.secret = Some(SecretVolumeSource {
                secret_name: Some(secret.to_string()),
                default_mode: mode,
                items: Some(vec![item("token"), item("ca.crt"), item("namespace")]),
                optional: Some(false),
            });
        } else if let Some(sv) = v.secret.as_mut()
            && let Some(mapped) = sv
                .secret_name
                .as_ref()
                .and_then(|n| inputs.legacy_token_secrets.get(n))
        {
            sv.secret_name = Some(mapped.clone());
        }
    }
    Ok(())
}
