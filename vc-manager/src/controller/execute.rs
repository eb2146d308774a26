//! Running the steps the state machine decides.

use std::sync::Arc;

use crds::VirtualCluster;
use crds::tenancy::TenantId;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::context::Context;
use super::error::Error;
use super::observe::World;
use crate::events::Note;
use crate::pki::secrets::SecretLayout;
use crate::provisioner::write_secret;
use crate::state::{FINALIZER, Step};

/// What a step did.
pub struct Outcome {
    /// The VirtualCluster as the step left it (finalizer changes).
    pub vc: Option<VirtualCluster>,
    /// An event worth publishing.
    pub note: Option<Note>,
}

fn normal(reason: &str, message: String) -> Option<Note> {
    Some(Note {
        warning: false,
        reason: reason.to_string(),
        message,
    })
}

/// Runs `step` for `vc`.
pub async fn execute(
    step: &Step,
    vc: &Arc<VirtualCluster>,
    world: &World,
    ctx: &Context,
) -> Result<Outcome, Error> {
    let none = Outcome {
        vc: None,
        note: None,
    };
    let key = world
        .observed
        .cluster_key
        .clone()
        .map_err(Error::Contract)?;
    match step {
        Step::AddFinalizer | Step::RemoveFinalizer => {
            let add = *step == Step::AddFinalizer;
            Ok(Outcome {
                vc: Some(set_finalizer(vc, ctx, add).await?),
                note: None,
            })
        }
        Step::CreateRootNamespace => {
            create_root_namespace(vc, ctx, &key).await?;
            Ok(Outcome {
                vc: None,
                note: normal("RootNamespaceCreated", format!("created namespace {key}")),
            })
        }
        Step::Prepare => {
            let t = tenant(world)?;
            ctx.provisioners.prepare(t).await?;
            Ok(none)
        }
        Step::IssuePki => {
            let Some((spec, plan)) = &world.pki else {
                return Err(Error::Contract("no PKI plan".into()));
            };
            let layout = SecretLayout {
                namespace: key.clone(),
            };
            let secrets =
                crate::pki::plan::execute(spec, plan, &world.secrets, &layout, world.observed.now)?;
            for s in &secrets {
                write_secret(&ctx.client, s).await?;
            }
            // Distinct reasons: the event recorder folds events of one reason into a series
            // and keeps the first note, so a renewal must not look like the first issue.
            let first = plan
                .issue
                .iter()
                .all(|(_, why)| *why == crate::pki::IssueReason::Missing);
            let reason = if first { "PKIIssued" } else { "PKIRenewed" };
            Ok(Outcome {
                vc: None,
                note: normal(reason, format!("issued {}", plan.summary())),
            })
        }
        Step::ApplyControlPlane => {
            let t = tenant(world)?;
            let changed = ctx.provisioners.apply(t, &world.secrets).await?;
            Ok(Outcome {
                vc: None,
                note: if changed {
                    normal(
                        "ControlPlaneApplied",
                        format!(
                            "{} control plane applied in namespace {key}",
                            t.spec.provisioner.as_str()
                        ),
                    )
                } else {
                    None
                },
            })
        }
        Step::Teardown => {
            ctx.provisioners.teardown(&key).await?;
            Ok(none)
        }
        Step::DeleteRootNamespace => {
            let api: Api<Namespace> = Api::all(ctx.client.clone());
            match api.delete(&key, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(Error::kube(format!("deleting namespace {key}"))(e)),
            }
            Ok(Outcome {
                vc: None,
                note: normal(
                    "RootNamespaceDeleted",
                    format!("deleting namespace {key} with the control plane and its secrets"),
                ),
            })
        }
    }
}

fn tenant(world: &World) -> Result<&crate::provisioner::Tenant, Error> {
    world
        .tenant
        .as_ref()
        .ok_or_else(|| Error::Contract("the spec was not validated".into()))
}

/// Adds or removes [`FINALIZER`], guarded by the resourceVersion read.
async fn set_finalizer(
    vc: &VirtualCluster,
    ctx: &Context,
    add: bool,
) -> Result<VirtualCluster, Error> {
    let mut finalizers: Vec<String> = vc.metadata.finalizers.clone().unwrap_or_default();
    finalizers.retain(|f| f != FINALIZER);
    if add {
        finalizers.push(FINALIZER.to_string());
    }
    let ns = vc.metadata.namespace.as_deref().unwrap_or_default();
    let name = vc.metadata.name.as_deref().unwrap_or_default();
    let api: Api<VirtualCluster> = Api::namespaced(ctx.client.clone(), ns);
    let patch = json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": vc.metadata.resource_version,
        }
    });
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(vc) => Ok(vc),
        // Removing the last finalizer of a deleted object may delete it before we read it back.
        Err(kube::Error::Api(s)) if s.code == 404 && !add => Ok(vc.clone()),
        Err(e) => Err(Error::kube(format!("updating finalizers of {ns}/{name}"))(
            e,
        )),
    }
}

async fn create_root_namespace(vc: &VirtualCluster, ctx: &Context, key: &str) -> Result<(), Error> {
    let id = TenantId::from_vc(vc).map_err(|e| Error::Contract(e.to_string()))?;
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(key.to_string()),
            labels: Some(id.labels()),
            annotations: Some(id.root_namespace_annotations()),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        // Someone (an earlier attempt) created it; the next observation says whose it is.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(Error::kube(format!("creating namespace {key}"))(e)),
    }
}
