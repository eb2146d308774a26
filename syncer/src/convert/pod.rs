//! Pods: the super pod for a tenant pod (validated against the pod policy and mutated so that it
//! runs on the super cluster but talks to its tenant), the updates that can follow, and status,
//! binding and readiness gates in both directions.

use std::collections::{BTreeMap, BTreeSet};

use crds::tenancy;
use k8s_openapi::api::core::v1::{
    Affinity, Binding, Container, EnvVar, EphemeralContainer, HostAlias, KeyToPath,
    ObjectReference, Pod, PodAffinityTerm, PodCondition, PodDNSConfig, PodDNSConfigOption, PodSpec,
    PodStatus, SecretVolumeSource, ServicePort, Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{ConvertError, TenantCtx, kv, placement, policy, super_meta};

/// Name prefix of the projected service-account volume the tenant's admission adds.
pub const KUBE_API_ACCESS_PREFIX: &str = "kube-api-access-";
/// Mount path of service-account credentials in a pod.
pub const SA_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A tenant service as seen from a super pod: its name, the super cluster IP and its ports.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceEnv {
    /// Service name in the tenant.
    pub name: String,
    /// The cluster IP of its super copy.
    pub cluster_ip: String,
    /// Its ports.
    pub ports: Vec<ServicePort>,
}

/// Where in-pod clients reach the tenant API server from the super cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiEndpoint {
    /// An IP address routable from super pods.
    pub ip: String,
    /// Its port.
    pub port: u16,
}

/// Everything besides the tenant pod that shapes its super copy.
#[derive(Clone, Copy, Debug)]
pub struct PodInputs<'a> {
    /// Services of the pod's tenant namespace with their super cluster IPs (for env vars).
    pub services: &'a [ServiceEnv],
    /// The tenant API server as reachable from super pods.
    pub apiserver: Option<&'a ApiEndpoint>,
    /// The super cluster IP of the tenant's `kube-system/kube-dns`.
    pub dns_ip: Option<&'a str>,
    /// The super secret holding a tenant token for the pod's service account (replaces the
    /// projected `kube-api-access-*` volume).
    pub token_secret: Option<&'a str>,
    /// Tenant service-account token secrets (tenant name → super name).
    pub legacy_token_secrets: &'a BTreeMap<String, String>,
}

static NO_SECRETS: BTreeMap<String, String> = BTreeMap::new();

impl Default for PodInputs<'_> {
    fn default() -> Self {
        PodInputs {
            services: &[],
            apiserver: None,
            dns_ip: None,
            token_secret: None,
            legacy_token_secrets: &NO_SECRETS,
        }
    }
}

/// Rejects a tenant pod the syncer must not run: a preset `spec.nodeName` or anything the pod
/// policy forbids (checked after default requests are applied).
pub fn validate(ctx: &TenantCtx, vpod: &Pod) -> Result<(), ConvertError> {
    let spec = vpod
        .spec
        .as_ref()
        .ok_or_else(|| ConvertError::Invalid("pod has no spec".into()))?;
    if spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) && !is_bound_by_syncer(vpod) {
        return Err(ConvertError::NotSupported(
            "spec.nodeName is set: tenant pods are placed by the super cluster's scheduler; \
             remove spec.nodeName (use nodeSelector or affinity instead)"
                .into(),
        ));
    }
    placement::check(&ctx.placement, &ctx.pod_policy, spec)?;
    let spec = check_policy(ctx, vpod, spec)?;
    for v in spec.volumes.iter().flatten() {
        let Some(projected) = &v.projected else {
            continue;
        };
        let has_token = projected
            .sources
            .iter()
            .flatten()
            .any(|s| s.service_account_token.is_some());
        if has_token && !v.name.starts_with(KUBE_API_ACCESS_PREFIX) {
            return Err(ConvertError::NotSupported(format!(
                "projected volume {:?} requests a service-account token with a custom audience or \
                 path; only the standard kube-api-access volume is supported",
                v.name
            )));
        }
    }
    Ok(())
}

/// Runs the pod policy on `spec` with the policy's default requests applied (they only matter
/// to the shape check, so most pods need no copy); returns the spec that was checked.
fn check_policy<'a>(
    ctx: &TenantCtx,
    vpod: &Pod,
    spec: &'a PodSpec,
) -> Result<std::borrow::Cow<'a, PodSpec>, ConvertError> {
    let spec = if ctx.pod_policy.default_requests.is_empty() {
        std::borrow::Cow::Borrowed(spec)
    } else {
        let mut owned = spec.clone();
        policy::apply_default_requests(&ctx.pod_policy, &mut owned);
        std::borrow::Cow::Owned(owned)
    };
    policy::check(&ctx.pod_policy, &vpod.metadata, &spec)?;
    Ok(spec)
}

/// Whether the tenant pod carries a node name because the syncer bound it (its status shows a
/// scheduled pod), as opposed to a node name the tenant set itself.
pub fn is_bound_by_syncer(vpod: &Pod) -> bool {
    vpod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "PodScheduled" && c.status == "True")
        })
        || vpod
            .status
            .as_ref()
            .and_then(|s| s.host_ip.as_ref())
            .is_some()
}

/// The name of the projected token volume of a pod, if it has one.
pub fn token_volume(vpod: &Pod) -> Option<&Volume> {
    vpod.spec
        .as_ref()?
        .volumes
        .iter()
        .flatten()
        .find(|v| v.projected.is_some() && v.name.starts_with(KUBE_API_ACCESS_PREFIX))
}

/// The service account a pod runs as.
pub fn service_account(vpod: &Pod) -> &str {
    vpod.spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
}

/// Tenant secrets a pod's volumes reference by name.
pub fn secret_volume_names(vpod: &Pod) -> impl Iterator<Item = &str> {
    vpod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.secret.as_ref()?.secret_name.as_deref())
}

/// The super pod for tenant pod `vpod`. Call [`validate`] first.
pub fn desired(
    ctx: &TenantCtx,
    vpod: &Pod,
    inputs: PodInputs<'_>,
    existing: Option<&ObjectMeta>,
) -> Result<Pod, ConvertError> {
    let vspec = vpod
        .spec
        .as_ref()
        .ok_or_else(|| ConvertError::Invalid("pod has no spec".into()))?;
    let tenant_ns = vpod.metadata.namespace.as_deref().unwrap_or_default();
    let mut spec = vspec.clone();
    policy::apply_default_requests(&ctx.pod_policy, &mut spec);
    spec.node_name = None;
    // Admission in the super cluster recomputes these from its own classes.
    spec.priority = None;
    spec.preemption_policy = None;
    spec.overhead = None;
    // Super credentials must never be mounted into tenant pods.
    spec.automount_service_account_token = Some(false);
    spec.service_account = None;
    place(ctx, &mut spec);
    scope_affinity(ctx, tenant_ns, &mut spec)?;
    inject_env(tenant_ns, &mut spec, &inputs);
    set_host_aliases(ctx, &mut spec, inputs.apiserver);
    if !dns_mutation_disabled(vpod) {
        set_dns(ctx, tenant_ns, &mut spec, inputs.dns_ip);
    }
    map_token_volumes(&mut spec, &inputs)?;
    Ok(Pod {
        metadata: super_meta(ctx, &vpod.metadata, existing)?,
        spec: Some(spec),
        status: None,
    })
}

fn dns_mutation_disabled(vpod: &Pod) -> bool {
    kv(&vpod.metadata.labels)
        .get(tenancy::LABEL_DISABLE_DNS_POLICY_MUTATION)
        .is_some_and(|v| v == "true")
}

/// Node-class isolation: the placement's nodeSelector wins on conflicts; its tolerations are
/// added once.
fn place(ctx: &TenantCtx, spec: &mut PodSpec) {
    if !ctx.placement.node_selector.is_empty() {
        let sel = spec.node_selector.get_or_insert_default();
        sel.extend(ctx.placement.node_selector.clone());
    }
    if !ctx.placement.tolerations.is_empty() {
        spec.tolerations = Some(placed_tolerations(ctx, spec.tolerations.take()));
    }
}

/// A pod's tolerations with the placement's added once.
fn placed_tolerations(ctx: &TenantCtx, tolerations: Option<Vec<Toleration>>) -> Vec<Toleration> {
    let mut tols = tolerations.unwrap_or_default();
    for t in &ctx.placement.tolerations {
        let t = Toleration::from(t);
        if !tols.contains(&t) {
            tols.push(t);
        }
    }
    tols
}

/// Rewrites pod (anti-)affinity terms so they only ever match this tenant's pods.
fn scope_affinity(
    ctx: &TenantCtx,
    tenant_ns: &str,
    spec: &mut PodSpec,
) -> Result<(), ConvertError> {
    let Some(affinity) = spec.affinity.as_mut() else {
        return Ok(());
    };
    let Affinity {
        pod_affinity,
        pod_anti_affinity,
        ..
    } = affinity;
    let mut terms: Vec<&mut PodAffinityTerm> = Vec::new();
    if let Some(a) = pod_affinity.as_mut() {
        terms.extend(
            a.required_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten(),
        );
        terms.extend(
            a.preferred_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten()
                .map(|w| &mut w.pod_affinity_term),
        );
    }
    if let Some(a) = pod_anti_affinity.as_mut() {
        terms.extend(
            a.required_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten(),
        );
        terms.extend(
            a.preferred_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten()
                .map(|w| &mut w.pod_affinity_term),
        );
    }
    for term in terms {
        scope_term(ctx, tenant_ns, term)?;
    }
    Ok(())
}

fn scope_term(
    ctx: &TenantCtx,
    tenant_ns: &str,
    term: &mut PodAffinityTerm,
) -> Result<(), ConvertError> {
    if let Some(sel) = term.label_selector.as_mut() {
        *sel = selector_downward(ctx, sel);
    }
    match (&mut term.namespaces, &mut term.namespace_selector) {
        (_, Some(ns_sel)) => {
            // A namespace selector (even `{}` = all namespaces) must stay inside the tenant: super
            // namespaces carry the tenant's labels, so require them.
            let mut scoped = selector_downward(ctx, ns_sel);
            scoped
                .match_labels
                .get_or_insert_default()
                .extend(ctx.id.labels());
            *ns_sel = scoped;
            if let Some(list) = term.namespaces.as_mut() {
                for ns in list.iter_mut() {
                    *ns = ctx.super_ns(ns)?;
                }
            }
        }
        (Some(list), None) if !list.is_empty() => {
            for ns in list.iter_mut() {
                *ns = ctx.super_ns(ns)?;
            }
        }
        _ => {
            // Empty: the pod's own namespace, which maps by itself; spelled out for clarity.
            term.namespaces = Some(vec![ctx.super_ns(tenant_ns)?]);
        }
    }
    Ok(())
}

/// A label selector as it must read on super objects (super-owned keys dropped).
pub fn selector_downward(ctx: &TenantCtx, sel: &LabelSelector) -> LabelSelector {
    LabelSelector {
        match_labels: sel
            .match_labels
            .as_ref()
            .map(|m| ctx.rules.selector_downward(m)),
        match_expressions: sel.match_expressions.as_ref().map(|exprs| {
            exprs
                .iter()
                .filter(|e| ctx.rules.selector_key_kept(&e.key))
                .cloned()
                .collect()
        }),
    }
}

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

fn env_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// Adds service env vars (when service links are on) and the tenant API server's
/// `KUBERNETES_*` vars to every container; variables the container defines itself win.
fn inject_env(tenant_ns: &str, spec: &mut PodSpec, inputs: &PodInputs<'_>) {
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
fn set_host_aliases(ctx: &TenantCtx, spec: &mut PodSpec, api: Option<&ApiEndpoint>) {
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
fn set_dns(ctx: &TenantCtx, tenant_ns: &str, spec: &mut PodSpec, dns_ip: Option<&str>) {
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
fn map_token_volumes(spec: &mut PodSpec, inputs: &PodInputs<'_>) -> Result<(), ConvertError> {
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

/// What to change on an existing super pod: only the fields Kubernetes lets change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodUpdate {
    /// New labels, when they differ.
    pub labels: Option<BTreeMap<String, String>>,
    /// New annotations, when they differ.
    pub annotations: Option<BTreeMap<String, String>>,
    /// `(index, container name, image)` of app containers whose image changes.
    pub images: Vec<(usize, String, String)>,
    /// `(index, container name, image)` of init containers whose image changes.
    pub init_images: Vec<(usize, String, String)>,
    /// New activeDeadlineSeconds, when it differs (`Some(None)` clears it).
    pub active_deadline_seconds: Option<Option<i64>>,
    /// Tolerations the tenant added to the running pod.
    pub tolerations: Vec<Toleration>,
    /// Whether the super pod has no tolerations list yet.
    pub tolerations_absent: bool,
}

impl PodUpdate {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == PodUpdate::default()
    }

    /// The update as a JSON Patch (RFC 6902) guarded by `test` operations on the uid and on each
    /// container's name, so it applies only to the object it was computed for.
    pub fn to_json_patch(&self, uid: &str) -> serde_json::Value {
        use serde_json::json;
        let mut ops = vec![json!({"op": "test", "path": "/metadata/uid", "value": uid})];
        if let Some(l) = &self.labels {
            ops.push(json!({"op": "add", "path": "/metadata/labels", "value": l}));
        }
        if let Some(a) = &self.annotations {
            ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": a}));
        }
        for (list, changes) in [
            ("containers", &self.images),
            ("initContainers", &self.init_images),
        ] {
            for (i, name, image) in changes {
                ops.push(
                    json!({"op": "test", "path": format!("/spec/{list}/{i}/name"), "value": name}),
                );
                ops.push(json!({"op": "replace", "path": format!("/spec/{list}/{i}/image"), "value": image}));
            }
        }
        if !self.tolerations.is_empty() {
            if self.tolerations_absent {
                ops.push(
                    json!({"op": "add", "path": "/spec/tolerations", "value": self.tolerations}),
                );
            } else {
                for t in &self.tolerations {
                    ops.push(json!({"op": "add", "path": "/spec/tolerations/-", "value": t}));
                }
            }
        }
        match self.active_deadline_seconds {
            Some(Some(v)) => {
                ops.push(json!({"op": "add", "path": "/spec/activeDeadlineSeconds", "value": v}))
            }
            Some(None) => ops.push(json!({"op": "remove", "path": "/spec/activeDeadlineSeconds"})),
            None => {}
        }
        serde_json::Value::Array(ops)
    }
}

/// The update that brings super pod `ppod` in line with tenant pod `vpod`, computed from the
/// mutable fields only (cheaper than building the whole desired pod).
pub fn update_for(ctx: &TenantCtx, vpod: &Pod, ppod: &Pod) -> Result<PodUpdate, ConvertError> {
    let meta = super_meta(ctx, &vpod.metadata, Some(&ppod.metadata))?;
    let tolerations = vpod.spec.as_ref().and_then(|s| s.tolerations.clone());
    // A toleration added to a running pod passes the same gate as one set at creation.
    placement::check_tolerations(&ctx.placement, tolerations.as_deref().unwrap_or_default())?;
    let desired = Pod {
        metadata: meta,
        // Only names and images can change on a running pod; copying whole containers (env,
        // volumes, probes) for every no-op reconcile was wasted work.
        spec: vpod.spec.as_ref().map(|s| {
            let slim = |cs: &[Container]| -> Vec<Container> {
                cs.iter()
                    .map(|c| Container {
                        name: c.name.clone(),
                        image: c.image.clone(),
                        ..Container::default()
                    })
                    .collect()
            };
            PodSpec {
                containers: slim(&s.containers),
                init_containers: s.init_containers.as_deref().map(slim),
                active_deadline_seconds: s.active_deadline_seconds,
                tolerations: Some(placed_tolerations(ctx, tolerations)),
                ..PodSpec::default()
            }
        }),
        status: None,
    };
    Ok(diff(&desired, ppod))
}

/// Ephemeral containers the tenant added to a running pod (`kubectl debug`) that its super
/// copy lacks, after the same Pod Security check as at creation; `None` when there are none.
pub fn ephemeral_update(
    ctx: &TenantCtx,
    vpod: &Pod,
    ppod: &Pod,
) -> Result<Option<Vec<EphemeralContainer>>, ConvertError> {
    let Some(vspec) = vpod.spec.as_ref() else {
        return Ok(None);
    };
    let existing: BTreeSet<&str> = ppod
        .spec
        .iter()
        .flat_map(|s| s.ephemeral_containers.iter().flatten())
        .map(|c| c.name.as_str())
        .collect();
    let added: Vec<EphemeralContainer> = vspec
        .ephemeral_containers
        .iter()
        .flatten()
        .filter(|c| !existing.contains(c.name.as_str()))
        .cloned()
        .collect();
    if added.is_empty() {
        return Ok(None);
    }
    check_policy(ctx, vpod, vspec)?;
    Ok(Some(added))
}

fn image_changes(desired: &[Container], existing: &[Container]) -> Vec<(usize, String, String)> {
    existing
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let d = desired.iter().find(|d| d.name == e.name)?;
            (d.image != e.image).then(|| (i, e.name.clone(), d.image.clone().unwrap_or_default()))
        })
        .collect()
}

/// The update that brings `existing` to `desired` (images, activeDeadlineSeconds, labels,
/// annotations); empty when they agree.
pub fn diff(desired: &Pod, existing: &Pod) -> PodUpdate {
    let mut u = PodUpdate::default();
    if kv(&desired.metadata.labels) != kv(&existing.metadata.labels) {
        u.labels = Some(kv(&desired.metadata.labels));
    }
    if kv(&desired.metadata.annotations) != kv(&existing.metadata.annotations) {
        u.annotations = Some(kv(&desired.metadata.annotations));
    }
    let (Some(d), Some(e)) = (desired.spec.as_ref(), existing.spec.as_ref()) else {
        return u;
    };
    u.images = image_changes(&d.containers, &e.containers);
    u.init_images = image_changes(
        d.init_containers.as_deref().unwrap_or_default(),
        e.init_containers.as_deref().unwrap_or_default(),
    );
    if d.active_deadline_seconds != e.active_deadline_seconds {
        u.active_deadline_seconds = Some(d.active_deadline_seconds);
    }
    u.tolerations = placement::added_tolerations(
        d.tolerations.as_deref().unwrap_or_default(),
        e.tolerations.as_deref().unwrap_or_default(),
    );
    u.tolerations_absent = !u.tolerations.is_empty() && e.tolerations.is_none();
    u
}

fn gate_types(pod: &Pod) -> BTreeSet<&str> {
    pod.spec
        .iter()
        .flat_map(|s| s.readiness_gates.iter().flatten())
        .map(|g| g.condition_type.as_str())
        .collect()
}

fn conditions(pod: &Pod) -> &[PodCondition] {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
}

/// The tenant pod's status with `PodScheduled=False` (`reason`, `message`), for a pod the
/// syncer does not create in the super cluster; `None` when it already says so.
pub fn unschedulable_status(
    vpod: &Pod,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) -> Option<PodStatus> {
    let mut status = vpod.status.clone().unwrap_or_default();
    let conds = status.conditions.get_or_insert_default();
    let existing = conds.iter_mut().find(|c| c.type_ == "PodScheduled");
    if let Some(c) = &existing
        && c.status == "False"
        && c.reason.as_deref() == Some(reason)
        && c.message.as_deref() == Some(message)
    {
        return None;
    }
    let cond = PodCondition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now)),
        last_probe_time: None,
        observed_generation: None,
    };
    match existing {
        Some(c) => *c = cond,
        None => conds.push(cond),
    }
    status.phase.get_or_insert_with(|| "Pending".into());
    Some(status)
}

/// The tenant pod's status after copying up the super pod's; readiness-gate conditions stay the
/// tenant's (its controllers own them). `None` when nothing changes.
pub fn status_up(vpod: &Pod, ppod: &Pod) -> Option<PodStatus> {
    let pstatus = ppod.status.as_ref()?;
    let gates = gate_types(vpod);
    let mut status = pstatus.clone();
    let mut conds: Vec<PodCondition> = conditions(ppod)
        .iter()
        .filter(|c| !gates.contains(c.type_.as_str()))
        .cloned()
        .collect();
    conds.extend(
        conditions(vpod)
            .iter()
            .filter(|c| gates.contains(c.type_.as_str()))
            .cloned(),
    );
    status.conditions = (!conds.is_empty()).then_some(conds);
    let current = vpod.status.clone().unwrap_or_default();
    (status != current).then_some(status)
}

/// The super pod's conditions after copying down the tenant's readiness-gate conditions;
/// `None` when they already agree.
pub fn readiness_down(vpod: &Pod, ppod: &Pod) -> Option<Vec<PodCondition>> {
    let gates = gate_types(vpod);
    if gates.is_empty() {
        return None;
    }
    let mut conds: Vec<PodCondition> = conditions(ppod).to_vec();
    let mut changed = false;
    for vc in conditions(vpod)
        .iter()
        .filter(|c| gates.contains(c.type_.as_str()))
    {
        match conds.iter_mut().find(|c| c.type_ == vc.type_) {
            Some(pc)
                if pc.status == vc.status && pc.reason == vc.reason && pc.message == vc.message => {
            }
            Some(pc) => {
                *pc = vc.clone();
                changed = true;
            }
            None => {
                conds.push(vc.clone());
                changed = true;
            }
        }
    }
    changed.then_some(conds)
}

/// The binding of tenant pod `vpod` to virtual node `node`, preconditioned on the pod's uid.
pub fn binding(vpod: &Pod, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: vpod.metadata.name.clone(),
            namespace: vpod.metadata.namespace.clone(),
            uid: vpod.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            ..ObjectReference::default()
        },
    }
}

/// Keeps only what the syncer needs of a super pod (memory: one of these per pod).
pub fn prune_super(pod: &mut Pod) {
    let m = &mut pod.metadata;
    m.managed_fields = None;
    m.owner_references = None;
    m.generate_name = None;
    m.finalizers = None;
    if let Some(spec) = pod.spec.as_mut() {
        let keep = |c: &Container| Container {
            name: c.name.clone(),
            image: c.image.clone(),
            ..Container::default()
        };
        *spec = PodSpec {
            node_name: spec.node_name.take(),
            containers: spec.containers.iter().map(keep).collect(),
            init_containers: spec
                .init_containers
                .as_ref()
                .map(|cs| cs.iter().map(keep).collect()),
            active_deadline_seconds: spec.active_deadline_seconds,
            readiness_gates: spec.readiness_gates.take(),
            ..PodSpec::default()
        };
    }
}

/// Keeps what the syncer needs of a tenant pod (everything that shapes the super pod).
pub fn prune_tenant(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        Capabilities, PodAffinity, PodAntiAffinity, PodReadinessGate, ProjectedVolumeSource,
        SecurityContext, ServiceAccountTokenProjection, VolumeProjection, WeightedPodAffinityTerm,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::super::testutil::{ctx, vmeta};
    use super::*;

    fn vpod() -> Pod {
        let mut meta = vmeta("default", "web", "pod-uid");
        meta.labels = Some(BTreeMap::from([("app".into(), "web".into())]));
        Pod {
            metadata: meta,
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some("nginx:1".into()),
                    env: Some(vec![EnvVar {
                        name: "MINE".into(),
                        value: Some("1".into()),
                        value_from: None,
                    }]),
                    ..Container::default()
                }],
                service_account_name: Some("default".into()),
                priority: Some(0),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                ..PodStatus::default()
            }),
        }
    }

    fn env_of(p: &Pod) -> BTreeMap<String, String> {
        p.spec.as_ref().expect("spec").containers[0]
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn node_name_set_by_tenant_is_not_supported() {
        let mut p = vpod();
        if let Some(s) = p.spec.as_mut() {
            s.node_name = Some("n1".into());
        }
        match validate(&ctx(), &p) {
            Err(e @ ConvertError::NotSupported(_)) => assert_eq!(e.reason(), "NotSupported"),
            other => panic!("{other:?}"),
        }
        // Once the syncer bound it, the node name is ours.
        p.status = Some(PodStatus {
            host_ip: Some("10.0.0.1".into()),
            ..PodStatus::default()
        });
        assert_eq!(validate(&ctx(), &p), Ok(()));
    }

    #[test]
    fn policy_violation_names_the_rule() {
        let mut p = vpod();
        if let Some(s) = p.spec.as_mut() {
            s.host_network = Some(true);
        }
        match validate(&ctx(), &p) {
            Err(ConvertError::PolicyViolation { rule, .. }) => assert_eq!(rule, "hostNamespaces"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn desired_pod_is_scrubbed_and_labelled() {
        let d = desired(&ctx(), &vpod(), PodInputs::default(), None).expect("desired");
        assert_eq!(
            d.metadata.namespace.as_deref(),
            Some("tenants-abc123-vc1-default")
        );
        let s = d.spec.as_ref().expect("spec");
        assert_eq!(s.node_name, None);
        assert_eq!(s.priority, None);
        assert_eq!(s.automount_service_account_token, Some(false));
        assert_eq!(s.enable_service_links, Some(false));
        assert_eq!(d.status, None);
        assert_eq!(
            kv(&d.metadata.labels).get("app").map(String::as_str),
            Some("web")
        );
        assert_eq!(
            kv(&d.metadata.annotations)
                .get(tenancy::ANNOTATION_UID)
                .map(String::as_str),
            Some("pod-uid")
        );
    }

    #[test]
    fn placement_is_enforced() {
        let mut c = ctx();
        c.placement.node_selector = BTreeMap::from([("class".into(), "gold".into())]);
        c.placement.tolerations = vec![crds::PlacementToleration {
            key: Some("dedicated".into()),
            operator: Some("Exists".into()),
            ..Default::default()
        }];
        let mut p = vpod();
        if let Some(s) = p.spec.as_mut() {
            s.node_selector = Some(BTreeMap::from([
                ("class".into(), "cheap".into()),
                ("zone".into(), "a".into()),
            ]));
        }
        let d = desired(&c, &p, PodInputs::default(), None).expect("desired");
        let s = d.spec.expect("spec");
        let sel = s.node_selector.unwrap_or_default();
        assert_eq!(sel.get("class").map(String::as_str), Some("gold"));
        assert_eq!(sel.get("zone").map(String::as_str), Some("a"));
        assert_eq!(s.tolerations.unwrap_or_default().len(), 1);
    }

    #[test]
    fn service_env_and_tenant_apiserver() {
        let services = vec![ServiceEnv {
            name: "redis-master".into(),
            cluster_ip: "10.96.0.20".into(),
            ports: vec![ServicePort {
                name: Some("redis".into()),
                port: 6379,
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }],
        }];
        let api = ApiEndpoint {
            ip: "10.96.0.9".into(),
            port: 6443,
        };
        let inputs = PodInputs {
            services: &services,
            apiserver: Some(&api),
            ..PodInputs::default()
        };
        let d = desired(&ctx(), &vpod(), inputs, None).expect("desired");
        let env = env_of(&d);
        assert_eq!(
            env.get("REDIS_MASTER_SERVICE_HOST").map(String::as_str),
            Some("10.96.0.20")
        );
        assert_eq!(
            env.get("REDIS_MASTER_SERVICE_PORT").map(String::as_str),
            Some("6379")
        );
        assert_eq!(
            env.get("REDIS_MASTER_SERVICE_PORT_REDIS")
                .map(String::as_str),
            Some("6379")
        );
        assert_eq!(
            env.get("REDIS_MASTER_PORT_6379_TCP").map(String::as_str),
            Some("tcp://10.96.0.20:6379")
        );
        assert_eq!(
            env.get("REDIS_MASTER_PORT_6379_TCP_ADDR")
                .map(String::as_str),
            Some("10.96.0.20")
        );
        assert_eq!(
            env.get("KUBERNETES_SERVICE_HOST").map(String::as_str),
            Some("10.96.0.9")
        );
        assert_eq!(
            env.get("KUBERNETES_SERVICE_PORT").map(String::as_str),
            Some("6443")
        );
        assert_eq!(env.get("MINE").map(String::as_str), Some("1"));
        let aliases = d.spec.expect("spec").host_aliases.unwrap_or_default();
        assert_eq!(aliases[0].ip, "10.96.0.9");
        assert!(
            aliases[0]
                .hostnames
                .iter()
                .flatten()
                .any(|h| h == "kubernetes.default.svc.cluster.local")
        );

        // With service links off only the API server vars are added; the container's own win.
        let mut p = vpod();
        if let Some(s) = p.spec.as_mut() {
            s.enable_service_links = Some(false);
            s.containers[0].env = Some(vec![EnvVar {
                name: "KUBERNETES_SERVICE_HOST".into(),
                value: Some("mine".into()),
                value_from: None,
            }]);
        }
        let d = desired(&ctx(), &p, inputs, None).expect("desired");
        let env = env_of(&d);
        assert!(!env.contains_key("REDIS_MASTER_SERVICE_HOST"));
        assert_eq!(
            env.get("KUBERNETES_SERVICE_HOST").map(String::as_str),
            Some("mine")
        );
    }

    #[test]
    fn dns_points_at_tenant_dns_unless_disabled() {
        let inputs = PodInputs {
            dns_ip: Some("10.96.0.10"),
            ..PodInputs::default()
        };
        let d = desired(&ctx(), &vpod(), inputs, None).expect("desired");
        let s = d.spec.expect("spec");
        assert_eq!(s.dns_policy.as_deref(), Some("None"));
        let cfg = s.dns_config.expect("dns config");
        assert_eq!(cfg.nameservers, Some(vec!["10.96.0.10".to_string()]));
        assert_eq!(
            cfg.searches.unwrap_or_default()[0],
            "default.svc.cluster.local".to_string()
        );
        let mut p = vpod();
        p.metadata.labels.get_or_insert_default().insert(
            tenancy::LABEL_DISABLE_DNS_POLICY_MUTATION.into(),
            "true".into(),
        );
        let d = desired(&ctx(), &p, inputs, None).expect("desired");
        assert_eq!(d.spec.expect("spec").dns_policy, None);
        // Default (host) DNS policy is left alone.
        let mut p = vpod();
        if let Some(s) = p.spec.as_mut() {
            s.dns_policy = Some("Default".into());
        }
        let d = desired(&ctx(), &p, inputs, None).expect("desired");
        assert_eq!(d.spec.expect("spec").dns_policy.as_deref(), Some("Default"));
    }

    #[test]
    fn affinity_terms_are_scoped_to_the_tenant() {
        let term =
            |namespaces: Option<Vec<String>>, ns_sel: Option<LabelSelector>| PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([
                        ("app".into(), "db".into()),
                        ("tenancy.x-k8s.io/x".into(), "y".into()),
                    ])),
                    match_expressions: Some(vec![LabelSelectorRequirement {
                        key: "tenancy.x-k8s.io/z".into(),
                        operator: "Exists".into(),
                        values: None,
                    }]),
                }),
                namespaces,
                namespace_selector: ns_sel,
                topology_key: "kubernetes.io/hostname".into(),
                ..PodAffinityTerm::default()
            };
        let mut p = vpod();
        if let Some(s) = p.spec.as_mut() {
            s.affinity = Some(Affinity {
                pod_affinity: Some(PodAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![term(
                        Some(vec!["other".into()]),
                        None,
                    )]),
                    ..PodAffinity::default()
                }),
                pod_anti_affinity: Some(PodAntiAffinity {
                    preferred_during_scheduling_ignored_during_execution: Some(vec![
                        WeightedPodAffinityTerm {
                            weight: 1,
                            pod_affinity_term: term(None, Some(LabelSelector::default())),
                        },
                    ]),
                    ..PodAntiAffinity::default()
                }),
                ..Affinity::default()
            });
        }
        let d = desired(&ctx(), &p, PodInputs::default(), None).expect("desired");
        let a = d.spec.expect("spec").affinity.expect("affinity");
        let req = &a
            .pod_affinity
            .expect("pa")
            .required_during_scheduling_ignored_during_execution
            .expect("req")[0];
        assert_eq!(
            req.namespaces,
            Some(vec!["tenants-abc123-vc1-other".to_string()])
        );
        let sel = req.label_selector.clone().expect("sel");
        assert_eq!(
            sel.match_labels,
            Some(BTreeMap::from([("app".into(), "db".into())]))
        );
        assert_eq!(sel.match_expressions, Some(vec![]));
        let anti = &a
            .pod_anti_affinity
            .expect("anti")
            .preferred_during_scheduling_ignored_during_execution
            .expect("pref")[0];
        let ns_sel = anti
            .pod_affinity_term
            .namespace_selector
            .clone()
            .expect("ns sel");
        assert_eq!(
            ns_sel
                .match_labels
                .unwrap_or_default()
                .get(tenancy::LABEL_VC_NAME)
                .map(String::as_str),
            Some("vc1")
        );
    }

    fn with_token_volume(mut p: Pod) -> Pod {
        if let Some(s) = p.spec.as_mut() {
            s.volumes = Some(vec![Volume {
                name: "kube-api-access-abcde".into(),
                projected: Some(ProjectedVolumeSource {
                    default_mode: Some(0o644),
                    sources: Some(vec![VolumeProjection {
                        service_account_token: Some(ServiceAccountTokenProjection {
                            expiration_seconds: Some(3607),
                            path: "token".into(),
                            audience: None,
                        }),
                        ..VolumeProjection::default()
                    }]),
                }),
                ..Volume::default()
            }]);
        }
        p
    }

    #[test]
    fn projected_token_volume_becomes_the_tenant_token_secret() {
        let p = with_token_volume(vpod());
        assert!(token_volume(&p).is_some());
        assert!(matches!(
            desired(&ctx(), &p, PodInputs::default(), None),
            Err(ConvertError::NotReady(_))
        ));
        let inputs = PodInputs {
            token_secret: Some("vc-sa-token-default"),
            ..PodInputs::default()
        };
        let d = desired(&ctx(), &p, inputs, None).expect("desired");
        let v = &d.spec.expect("spec").volumes.expect("volumes")[0];
        assert_eq!(v.name, "kube-api-access-abcde");
        assert!(v.projected.is_none());
        let s = v.secret.as_ref().expect("secret volume");
        assert_eq!(s.secret_name.as_deref(), Some("vc-sa-token-default"));
        assert_eq!(s.default_mode, Some(0o644));
    }

    #[test]
    fn custom_projected_tokens_are_refused() {
        let mut p = with_token_volume(vpod());
        if let Some(v) = p.spec.as_mut().and_then(|s| s.volumes.as_mut()) {
            v[0].name = "vault-token".into();
        }
        assert!(matches!(
            validate(&ctx(), &p),
            Err(ConvertError::NotSupported(_))
        ));
    }

    #[test]
    fn legacy_token_secret_volumes_are_mapped() {
        let mut p = vpod();
        if let Some(s) = p.spec.as_mut() {
            s.volumes = Some(vec![Volume {
                name: "tok".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some("default-token-x".into()),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            }]);
        }
        let map = BTreeMap::from([(
            "default-token-x".to_string(),
            "default-token-x-1a2b3".to_string(),
        )]);
        let inputs = PodInputs {
            legacy_token_secrets: &map,
            ..PodInputs::default()
        };
        let d = desired(&ctx(), &p, inputs, None).expect("desired");
        let v = &d.spec.expect("spec").volumes.expect("volumes")[0];
        assert_eq!(
            v.secret.as_ref().and_then(|s| s.secret_name.as_deref()),
            Some("default-token-x-1a2b3")
        );
    }

    #[test]
    fn diff_covers_only_mutable_fields() {
        let d = desired(&ctx(), &vpod(), PodInputs::default(), None).expect("desired");
        let mut existing = d.clone();
        existing.metadata.uid = Some("p-uid".into());
        if let Some(s) = existing.spec.as_mut() {
            s.node_name = Some("node-1".into());
        }
        prune_super(&mut existing);
        assert!(diff(&d, &existing).is_empty());
        let mut v2 = vpod();
        if let Some(s) = v2.spec.as_mut() {
            s.containers[0].image = Some("nginx:2".into());
            s.active_deadline_seconds = Some(30);
        }
        let d2 = desired(&ctx(), &v2, PodInputs::default(), None).expect("desired");
        let u = diff(&d2, &existing);
        assert_eq!(update_for(&ctx(), &v2, &existing), Ok(u.clone()));
        assert_eq!(u.images, vec![(0, "c".into(), "nginx:2".into())]);
        assert_eq!(u.active_deadline_seconds, Some(Some(30)));
        assert_eq!(u.labels, None);
        let patch = u.to_json_patch("p-uid");
        let ops = patch.as_array().expect("ops");
        assert_eq!(ops[0]["op"], "test");
        assert_eq!(ops[0]["value"], "p-uid");
        assert!(
            ops.iter()
                .any(|o| o["path"] == "/spec/containers/0/image" && o["value"] == "nginx:2")
        );
    }

    #[test]
    fn debug_containers_follow_after_the_same_check() {
        let d = desired(&ctx(), &vpod(), PodInputs::default(), None).expect("desired");
        let debug = |caps: Option<Vec<String>>| EphemeralContainer {
            name: "debugger".into(),
            image: Some("busybox".into()),
            security_context: caps.map(|add| SecurityContext {
                capabilities: Some(Capabilities {
                    add: Some(add),
                    drop: None,
                }),
                ..SecurityContext::default()
            }),
            ..EphemeralContainer::default()
        };
        let mut v = vpod();
        assert_eq!(ephemeral_update(&ctx(), &v, &d), Ok(None));
        if let Some(s) = v.spec.as_mut() {
            s.ephemeral_containers = Some(vec![debug(None)]);
        }
        let added = ephemeral_update(&ctx(), &v, &d)
            .expect("allowed")
            .expect("added");
        assert_eq!(added[0].name, "debugger");
        if let Some(s) = v.spec.as_mut() {
            s.ephemeral_containers = Some(vec![debug(Some(vec!["SYS_ADMIN".into()]))]);
        }
        assert!(matches!(
            ephemeral_update(&ctx(), &v, &d),
            Err(ConvertError::PolicyViolation {
                rule: "capabilities_baseline",
                ..
            })
        ));
    }

    #[test]
    fn status_up_keeps_tenant_owned_gates() {
        let cond = |t: &str, s: &str| PodCondition {
            type_: t.into(),
            status: s.into(),
            ..PodCondition::default()
        };
        let mut v = vpod();
        if let Some(s) = v.spec.as_mut() {
            s.readiness_gates = Some(vec![PodReadinessGate {
                condition_type: "lb.io/ready".into(),
            }]);
        }
        v.status = Some(PodStatus {
            conditions: Some(vec![cond("lb.io/ready", "True")]),
            ..PodStatus::default()
        });
        let p = Pod {
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: Some("10.244.0.5".into()),
                conditions: Some(vec![cond("Ready", "True"), cond("lb.io/ready", "False")]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        let up = status_up(&v, &p).expect("changed");
        assert_eq!(up.pod_ip.as_deref(), Some("10.244.0.5"));
        let conds = up.conditions.clone().unwrap_or_default();
        assert!(conds.contains(&cond("Ready", "True")));
        assert!(conds.contains(&cond("lb.io/ready", "True")));
        assert!(!conds.contains(&cond("lb.io/ready", "False")));
        v.status = Some(up);
        assert_eq!(status_up(&v, &p), None);
        let down = readiness_down(&v, &p).expect("gate differs");
        assert!(down.contains(&cond("lb.io/ready", "True")));
    }

    #[test]
    fn binding_targets_the_node_with_uid_precondition() {
        let b = binding(&vpod(), "node-1");
        assert_eq!(b.metadata.uid.as_deref(), Some("pod-uid"));
        assert_eq!(b.target.name.as_deref(), Some("node-1"));
        assert_eq!(b.target.kind.as_deref(), Some("Node"));
    }
}
