//! The VirtualCluster controller: `Context` + `reconcile` + `error_policy` around the pure state
//! machine in [`crate::state`].

mod context;
mod error;
pub mod execute;
pub mod observe;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crds::{ClusterVersion, VirtualCluster, VirtualClusterStatus};
use futures::StreamExt;
use kube::api::{PartialObjectMeta, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;

pub use context::Context;
pub use error::Error;

use crate::events::{Note, transition};
use crate::state::{Decision, Step, backoff, decide};

/// Most steps one reconcile runs before it requeues (a full provisioning takes about six).
const MAX_STEPS: usize = 16;

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::AddFinalizer => "AddFinalizer",
        Step::CreateRootNamespace => "CreateRootNamespace",
        Step::Prepare => "Prepare",
        Step::IssuePki => "IssuePKI",
        Step::ApplyControlPlane => "ApplyControlPlane",
        Step::Teardown => "Teardown",
        Step::DeleteRootNamespace => "DeleteRootNamespace",
        Step::RemoveFinalizer => "RemoveFinalizer",
    }
}

/// Reconciles one VirtualCluster: observe, decide, run the step, until nothing is left to do.
pub async fn reconcile(vc: Arc<VirtualCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    // Its own task: the controller's stream machinery is deep, and so is deserializing
    // ClusterVersions (whole StatefulSets); together they overflow a worker stack in debug.
    let task_ctx = ctx.clone();
    let result = tokio::spawn(async move { reconcile_inner(vc, &task_ctx).await })
        .await
        .unwrap_or_else(|e| Err(Error::Contract(format!("reconcile task failed: {e}"))));
    let label = match &result {
        Ok((_, true)) => "failed",
        Ok((_, false)) => "ok",
        Err(_) => "error",
    };
    ctx.metrics
        .reconciled(label, started.elapsed().as_secs_f64());
    result.map(|(action, _)| action)
}

async fn reconcile_inner(
    mut vc: Arc<VirtualCluster>,
    ctx: &Context,
) -> Result<(Action, bool), Error> {
    let mut applied = false;
    for _ in 0..MAX_STEPS {
        let world = Box::pin(observe::observe(&vc, ctx, applied)).await?;
        let decision = decide(&vc, &world.observed, &ctx.timings);
        let Some(step) = decision.step.clone() else {
            return finish(&vc, ctx, decision).await;
        };
        let name = step_name(&step);
        tracing::debug!(vc = %vc.name_any(), step = name, "running step");
        match Box::pin(execute::execute(&step, &vc, &world, ctx)).await {
            Ok(outcome) => {
                ctx.metrics.step(name, true);
                if let Some(note) = &outcome.note {
                    ctx.publish(&vc, note, name).await;
                }
                if let Some(new) = outcome.vc {
                    vc = Arc::new(new);
                }
            }
            Err(e) => {
                ctx.metrics.step(name, false);
                fail_step(&vc, ctx, decision, name, &e).await;
                return Err(e);
            }
        }
        match step {
            Step::ApplyControlPlane => applied = true,
            Step::RemoveFinalizer => {
                ctx.metrics.phase(&Context::uid(&vc), None);
                ctx.count_failure(&vc, false);
                return Ok((Action::await_change(), false));
            }
            _ => {}
        }
    }
    Ok((Action::requeue(ctx.timings.poll), false))
}

/// Writes the final status, publishes the transition, and computes the requeue.
async fn finish(
    vc: &VirtualCluster,
    ctx: &Context,
    decision: Decision,
) -> Result<(Action, bool), Error> {
    let failures = ctx.count_failure(vc, decision.failed);
    write_status(vc, ctx, &decision.status).await?;
    if let Some(note) = transition(vc.status.as_ref(), &decision.status) {
        ctx.publish(vc, &note, "Reconcile").await;
    }
    ctx.metrics
        .phase(&Context::uid(vc), decision.status.phase.map(|p| p.as_str()));
    let requeue = if decision.failed {
        // The state machine used the count before this failure; back off from the new one.
        backoff(&ctx.timings, failures.saturating_sub(1))
    } else {
        decision.requeue
    };
    if requeue.is_zero() {
        return Ok((Action::await_change(), decision.failed));
    }
    Ok((Action::requeue(requeue), decision.failed))
}

/// Records a failed step in status and as a Warning event.
async fn fail_step(vc: &VirtualCluster, ctx: &Context, decision: Decision, step: &str, e: &Error) {
    let mut status = decision.status;
    let reason = format!("{step}Failed");
    let message = e.to_string();
    status.phase = Some(crds::ClusterPhase::Failed);
    status.reason = Some(reason.clone());
    status.message = Some(message.clone());
    crds::condition::set_condition(
        &mut status.conditions,
        crds::ClusterCondition {
            type_: crds::condition::CONDITION_READY.into(),
            status: "False".into(),
            last_transition_time: Some(jiff::Timestamp::now().to_string()),
            reason: Some(reason.clone()),
            message: Some(message.clone()),
        },
    );
    if let Err(err) = write_status(vc, ctx, &status).await {
        tracing::warn!(vc = %vc.name_any(), error = %err, "cannot record the failure in status");
    }
    let note = Note {
        warning: true,
        reason,
        message,
    };
    ctx.publish(vc, &note, step).await;
}

async fn write_status(
    vc: &VirtualCluster,
    ctx: &Context,
    status: &VirtualClusterStatus,
) -> Result<(), Error> {
    let Some(body) = status_patch(vc, status) else {
        return Ok(());
    };
    let ns = vc.metadata.namespace.as_deref().unwrap_or_default();
    let name = vc.name_any();
    let api: Api<VirtualCluster> = Api::namespaced(ctx.client.clone(), ns);
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(body))
        .await
    {
        Ok(_) => Ok(()),
        // The VC is gone (deletion finished elsewhere): nothing to report on.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(format!("writing status of {ns}/{name}"))(e)),
    }
}

/// The merge patch that writes vc-manager's part of `status`, `None` when it is already so.
/// `status.quota` belongs to the syncer: it is neither compared nor sent (a copy read before the
/// syncer's last update would overwrite newer usage).
fn status_patch(vc: &VirtualCluster, status: &VirtualClusterStatus) -> Option<serde_json::Value> {
    let mut mine = status.clone();
    mine.quota = None;
    let mut current = vc.status.clone();
    if let Some(c) = current.as_mut() {
        c.quota = None;
    }
    (current.as_ref() != Some(&mine)).then(|| json!({ "status": mine }))
}

/// Retries a reconcile that errored with exponential backoff per VirtualCluster.
pub fn error_policy(vc: Arc<VirtualCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    let failures = ctx.count_failure(&vc, true);
    tracing::warn!(vc = %vc.name_any(), error = %error, failures, "reconcile failed");
    Action::requeue(backoff(&ctx.timings, failures.saturating_sub(1)))
}

/// Runs the controller until `shutdown` resolves.
pub async fn run_controller(
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let vcs: Api<VirtualCluster> = Api::all(ctx.client.clone());
    // Names are all the mapper needs; skipping the specs keeps the watch cheap.
    let cvs: Api<PartialObjectMeta<ClusterVersion>> = Api::all(ctx.client.clone());
    let controller = Controller::new(vcs, watcher::Config::default()).with_config(
        kube::runtime::controller::Config::default()
            .concurrency(concurrency)
            .debounce(Duration::from_millis(100)),
    );
    let store = controller.store();
    controller
        // A ClusterVersion created or changed re-checks the VCs naming it (fast recovery).
        .watches(
            cvs,
            watcher::Config::default(),
            move |cv: PartialObjectMeta<ClusterVersion>| {
                let name = cv.name_any();
                store
                    .state()
                    .into_iter()
                    .filter(|vc| vc.spec.cluster_version_name == name)
                    .map(|vc| ObjectRef::from_obj(&*vc))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_writes_leave_the_syncers_quota_alone() {
        let mut vc = VirtualCluster::new("a", crds::VirtualClusterSpec::default());
        let quota = crds::TenantQuotaStatus {
            hard: [("pods".to_string(), "10".to_string())].into(),
            used: [("pods".to_string(), "3".to_string())].into(),
        };
        vc.status = Some(VirtualClusterStatus {
            phase: Some(crds::ClusterPhase::Running),
            quota: Some(quota.clone()),
            ..VirtualClusterStatus::default()
        });
        // The same status apart from a stale quota: nothing to write.
        let mut stale = vc.status.clone().unwrap_or_default();
        stale.quota = None;
        assert_eq!(status_patch(&vc, &stale), None);
        // A new phase is written without any quota.
        stale.phase = Some(crds::ClusterPhase::Failed);
        let body = status_patch(&vc, &stale).unwrap_or_default();
        assert_eq!(body["status"]["phase"], "Failed");
        assert!(body["status"].get("quota").is_none(), "{body}");
    }
}
