//! Gathering what [`crate::state::decide`] looks at: the ClusterVersion, the import secret, the
//! root namespace, the provisioner's endpoints, the PKI secrets and the control plane.

use std::collections::BTreeMap;
use std::sync::Arc;

use crds::tenancy::{ANNOTATION_VC_UID, TenantId, cluster_key};
use crds::{ClusterVersion, Provisioner, VirtualCluster};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::ListParams;

use super::context::Context;
use super::error::Error;
use crate::pki::{PkiPlan, PkiSpec};
use crate::provisioner::Tenant;
use crate::state::{ControlPlane, Observed, RootNamespace};
use crate::validate::{Lookup, SpecInputs, validate};

/// What one observation found, with the material the steps need.
pub struct World {
    /// The input of the state machine.
    pub observed: Observed,
    /// The validated tenant, when the spec is valid.
    pub tenant: Option<Tenant>,
    /// Secrets of the root namespace by name.
    pub secrets: BTreeMap<String, Secret>,
    /// The desired PKI and its plan, once the endpoints are known.
    pub pki: Option<(PkiSpec, PkiPlan)>,
}

/// Observes `vc` and its world.
pub async fn observe(
    vc: &Arc<VirtualCluster>,
    ctx: &Context,
    applied: bool,
) -> Result<World, Error> {
    let key = cluster_key(vc).map_err(|e| e.to_string());
    let mut world = World {
        observed: Observed {
            now: Timestamp::now(),
            cluster_key: key.clone(),
            spec: Ok(()),
            root_namespace: RootNamespace::Absent,
            endpoints_known: false,
            pki: None,
            control_plane: ControlPlane::Absent,
            applied,
            torn_down: false,
            failures: ctx.failures(vc),
        },
        tenant: None,
        secrets: BTreeMap::new(),
        pki: None,
    };
    let Ok(key) = key else {
        return Ok(world);
    };
    world.observed.root_namespace = root_namespace(ctx, &key, vc).await?;
    if vc.metadata.deletion_timestamp.is_some() {
        world.observed.torn_down = ctx.provisioners.torn_down(&key);
        return Ok(world);
    }
    let spec = match check_spec(vc, ctx).await? {
        Ok(spec) => spec,
        Err(problem) => {
            world.observed.spec = Err(problem);
            return Ok(world);
        }
    };
    let id = TenantId::from_vc(vc).map_err(|e| Error::Contract(e.to_string()))?;
    let tenant = Tenant {
        vc: vc.clone(),
        id,
        spec,
    };
    if world.observed.root_namespace == (RootNamespace::Owned { terminating: false }) {
        observe_tenant(ctx, &tenant, &mut world).await?;
    }
    world.tenant = Some(tenant);
    Ok(world)
}

async fn observe_tenant(ctx: &Context, tenant: &Tenant, world: &mut World) -> Result<(), Error> {
    let Some(endpoints) = ctx.provisioners.endpoints(tenant).await? else {
        return Ok(());
    };
    world.observed.endpoints_known = true;
    let ns = tenant.namespace();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(Error::kube(format!("listing secrets in {ns}")))?;
    world.secrets = list
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name.clone().map(|n| (n, s)))
        .collect();
    let spec = PkiSpec {
        cluster_key: ns.to_string(),
        cluster_name: tenant.name().to_string(),
        expire_days: tenant.spec.pki_expire_days,
        apiserver_names: endpoints.apiserver_names,
        etcd_names: endpoints.etcd_names,
        items: ctx.provisioners.pki_items(tenant),
        admin_server: endpoints.server,
        controller_manager_server: endpoints.internal_server,
    };
    let plan = crate::pki::plan(&spec, &world.secrets, world.observed.now.as_second());
    world.observed.pki = Some(plan.clone());
    if plan.is_ready() {
        world.observed.control_plane = ctx.provisioners.observe(tenant).await?;
    }
    world.pki = Some((spec, plan));
    Ok(())
}

/// The root namespace and whether it is this VirtualCluster's.
async fn root_namespace(
    ctx: &Context,
    key: &str,
    vc: &VirtualCluster,
) -> Result<RootNamespace, Error> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let Some(ns) = api
        .get_opt(key)
        .await
        .map_err(Error::kube(format!("reading namespace {key}")))?
    else {
        return Ok(RootNamespace::Absent);
    };
    let owner = ns
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_VC_UID))
        .cloned();
    if owner.is_some() && owner == vc.metadata.uid {
        let terminating = ns.metadata.deletion_timestamp.is_some()
            || ns.status.and_then(|s| s.phase).as_deref() == Some("Terminating");
        return Ok(RootNamespace::Owned { terminating });
    }
    Ok(RootNamespace::Foreign {
        detail: match owner {
            Some(uid) => format!("its annotation {ANNOTATION_VC_UID} is {uid:?}"),
            None => format!("it has no {ANNOTATION_VC_UID} annotation"),
        },
    })
}

/// Validates the spec against the ClusterVersion and import secret it names.
async fn check_spec(
    vc: &VirtualCluster,
    ctx: &Context,
) -> Result<Result<crate::validate::ValidSpec, crate::validate::SpecProblem>, Error> {
    let cvs: Api<ClusterVersion> = Api::all(ctx.client.clone());
    let name = vc.spec.cluster_version_name.trim();
    let cluster_version = if name.is_empty() {
        Lookup::NotFound
    } else {
        match cvs
            .get_opt(name)
            .await
            .map_err(Error::kube(format!("reading ClusterVersion {name}")))?
        {
            Some(cv) => Lookup::Found(cv),
            None => Lookup::NotFound,
        }
    };
    let known = match cluster_version {
        Lookup::Found(_) => Vec::new(),
        Lookup::NotFound => cvs
            .list_metadata(&ListParams::default())
            .await
            .map_err(Error::kube("listing ClusterVersions"))?
            .items
            .into_iter()
            .filter_map(|m| m.metadata.name)
            .collect(),
    };
    let provisioner = vc.spec.provisioner.unwrap_or(ctx.default_provisioner);
    let import_secret = match (&vc.spec.import_kubeconfig_secret, provisioner) {
        (Some(name), Provisioner::Import) if !name.is_empty() => {
            let ns = vc.metadata.namespace.as_deref().unwrap_or_default();
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
            Some(
                match api
                    .get_opt(name)
                    .await
                    .map_err(Error::kube(format!("reading secret {ns}/{name}")))?
                {
                    Some(s) => Lookup::Found(s),
                    None => Lookup::NotFound,
                },
            )
        }
        _ => None,
    };
    let enabled = ctx.provisioners.enabled();
    Ok(validate(
        vc,
        &SpecInputs {
            default_provisioner: ctx.default_provisioner,
            enabled: &enabled,
            cluster_version: &cluster_version,
            known_cluster_versions: &known,
            import_secret: import_secret.as_ref(),
        },
    ))
}
