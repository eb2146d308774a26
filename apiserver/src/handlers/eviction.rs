//! POST `pods/{name}/eviction` (upstream's `EvictionREST`): a pod delete that honours the
//! PodDisruptionBudget selecting the pod. Terminal, pending and terminating pods are deleted
//! at once; otherwise the budget's `disruptionsAllowed` is checked and decremented, the pod
//! recorded in `status.disruptedPods` in the same status update, and only then is the pod
//! marked `DisruptionTarget` and deleted.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::{Value, json};

use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::http::Req;
use crate::http::response::{self, Body};
use crate::kinds::pdb;
use crate::meta;
use crate::registry::ResourceDef;
use crate::storage::{self, Actor, DeleteOptions, delete_object};

/// Upstream's `MaxDisruptedPodSize`: more unconfirmed evictions than this are refused.
const MAX_DISRUPTED_PODS: usize = 2000;

/// Attempts of the pod-level retry on conflicts (upstream's `EvictionsRetry` steps).
const RETRIES: usize = 20;

/// The message of every disruption-budget refusal.
const VIOLATES: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// Field manager of the eviction's own writes (upstream writes through its loopback client).
const MANAGER: &str = "kube-apiserver";

/// Serves an eviction of pod `name`.
pub async fn evict(
    api: &Arc<Api>,
    def: &Arc<ResourceDef>,
    r: &mut Req,
    name: &str,
) -> ApiResult<Response<Body>> {
    let body = r.json_body().await.unwrap_or(json!({}));
    let ns = r.info.namespace.clone().unwrap_or_default();
    if let Some(n) = body.pointer("/metadata/name").and_then(Value::as_str)
        && n != name
    {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let opts = delete_options(&body, r.q("dryRun") == Some("All"));
    let rv_unset = opts.resource_version.is_none();

    // Pods whose disruption already happened (or cannot happen) skip the budget.
    let mut attempt = 0;
    let pod = loop {
        let cur = get_pod(api, def, &ns, name)?;
        if !can_ignore_pdb(&cur) {
            break cur;
        }
        let mut o = opts.clone();
        if should_enforce_resource_version(&cur) && rv_unset {
            o.resource_version = meta::resource_version(&cur).map(str::to_string);
        }
        attempt += 1;
        match mark_and_delete(api, def, &ns, name, o).await {
            Ok(()) => return Ok(success(r)),
            Err(e) if e.code == 409 && rv_unset && attempt < RETRIES => continue,
            Err(e) => return Err(e),
        }
    };

    let budgets = budgets_for(api, &pod);
    if budgets.len() > 1 {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure",
            "message": "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            "code": 500});
        return Ok(response::object(
            StatusCode::INTERNAL_SERVER_ERROR,
            &status,
            r.enc,
        ));
    }
    let mut budget_name = None;
    let mut unhealthy_ok = false;
    if let Some(budget) = budgets.first() {
        budget_name = Some(meta::name(budget).to_string());
        if !pdb::is_ready(&pod) {
            let always = budget
                .pointer("/spec/unhealthyPodEvictionPolicy")
                .and_then(Value::as_str)
                == Some("AlwaysAllow");
            let current = pdb::status_int(budget, "currentHealthy");
            let desired = pdb::status_int(budget, "desiredHealthy");
            // An unready pod does not count as healthy: deleting it disrupts nothing as
            // long as the budget is met (or the budget says unhealthy pods may always go).
            unhealthy_ok = always || (current >= desired && desired > 0);
        }
        if !unhealthy_ok {
            check_and_decrement(api, &ns, meta::name(budget), name, opts.dry_run).await?;
        }
    }

    let mut o = opts.clone();
    if unhealthy_ok {
        // The pod must still be the unready pod the decision was made on.
        o.resource_version = meta::resource_version(&pod).map(str::to_string);
    }
    match mark_and_delete(api, def, &ns, name, o).await {
        Ok(()) => Ok(success(r)),
        Err(e) if e.code == 409 && unhealthy_ok && rv_unset => {
            Err(still_processing(budget_name.as_deref().unwrap_or_default()))
        }
        Err(e) => Err(e),
    }
}

/// The eviction's `deleteOptions` (plus the request's `dryRun`).
fn delete_options(body: &Value, dry_run_query: bool) -> DeleteOptions {
    let d = body.get("deleteOptions").cloned().unwrap_or(json!({}));
    let s = |p: &str| d.pointer(p).and_then(Value::as_str).map(str::to_string);
    let dry_run = d
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "All"));
    let propagation = if d.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
        Some("Orphan".to_string())
    } else {
        s("/propagationPolicy")
    };
    DeleteOptions {
        grace: d
            .get("gracePeriodSeconds")
            .and_then(Value::as_i64)
            .map(|g| g.max(0)),
        propagation,
        uid: s("/preconditions/uid"),
        resource_version: s("/preconditions/resourceVersion"),
        dry_run: dry_run || dry_run_query,
    }
}

fn get_pod(api: &Api, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<Value> {
    storage::get(api, def, ns, name).ok_or_else(|| {
        ApiError::not_found(Target {
            group: "",
            resource: "pods",
            name,
        })
    })
}

/// Upstream's `canIgnorePDB`: terminal, pending and terminating pods.
fn can_ignore_pdb(pod: &Value) -> bool {
    matches!(pdb::phase(pod), "Succeeded" | "Failed" | "Pending") || meta::is_deleting(pod)
}

/// Upstream's `shouldEnforceResourceVersion`: a pod that could still become ready.
fn should_enforce_resource_version(pod: &Value) -> bool {
    !matches!(pdb::phase(pod), "Succeeded" | "Failed") && !meta::is_deleting(pod)
}

/// Budgets of the pod's namespace that select it.
fn budgets_for(api: &Api, pod: &Value) -> Vec<Value> {
    api.store
        .list(
            "policy/poddisruptionbudgets",
            Some(meta::namespace(pod)),
            None,
            None,
            |_, _| true,
        )
        .items
        .into_iter()
        .filter_map(|so| so.value().ok())
        .filter(|b| pdb::selects(b, pod))
        .collect()
}

/// 429 for a budget the controller has not caught up with (upstream's
/// `createTooManyRequestsError`).
fn still_processing(budget: &str) -> ApiError {
    refusal(
        format!("The disruption budget {budget} is still being processed by the server."),
        10,
    )
}

/// A 429 refusal with a `DisruptionBudget` cause; `retry_after` 0 sends no `Retry-After`.
fn refusal(cause: String, retry_after: u64) -> ApiError {
    let mut details = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
    if retry_after > 0 {
        details["retryAfterSeconds"] = json!(retry_after);
    }
    ApiError {
        code: 429,
        reason: "TooManyRequests",
        message: VIOLATES.to_string(),
        details: Some(Box::new(details)),
        retry_after: (retry_after > 0).then_some(retry_after),
    }
}

fn budget_forbidden(budget: &str, why: &str) -> ApiError {
    ApiError::forbidden(
        Target {
            group: "policy",
            resource: "poddisruptionbudget",
            name: budget,
        },
        why,
    )
}

/// Upstream's `checkAndDecrement`, as one status update of the budget: the storage update
/// re-reads and re-checks the budget whenever its resourceVersion moved underneath.
async fn check_and_decrement(
    api: &Api,
    ns: &str,
    budget: &str,
    pod: &str,
    dry_run: bool,
) -> ApiResult<()> {
    let def = storage::def(api, "policy", "poddisruptionbudgets")?;
    let mut refused: Option<ApiError> = None;
    let check = |b: &mut Value, refused: &mut Option<ApiError>| -> bool {
        *refused = None;
        let generation = b
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let allowed = pdb::status_int(b, "disruptionsAllowed");
        let disrupted = b
            .pointer("/status/disruptedPods")
            .and_then(Value::as_object)
            .map_or(0, |m| m.len());
        let refusal_now = if pdb::status_int(b, "observedGeneration") < generation {
            Some(still_processing(budget))
        } else if allowed < 0 {
            Some(budget_forbidden(
                budget,
                "pdb disruptions allowed is negative",
            ))
        } else if disrupted > MAX_DISRUPTED_PODS {
            Some(budget_forbidden(
                budget,
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
            ))
        } else if allowed == 0 {
            Some(refusal(
                format!(
                    "The disruption budget {budget} needs {} healthy pods and has {} currently",
                    pdb::status_int(b, "desiredHealthy"),
                    pdb::status_int(b, "currentHealthy")
                ),
                0,
            ))
        } else {
            None
        };
        if let Some(e) = refusal_now {
            *refused = Some(e);
            return false;
        }
        if dry_run {
            return false;
        }
        let status = b
            .as_object_mut()
            .map(|o| o.entry("status").or_insert_with(|| json!({})));
        let Some(status) = status else { return false };
        status["disruptionsAllowed"] = json!(allowed - 1);
        if allowed - 1 == 0 {
            pdb::update_disruption_allowed(status);
        }
        let Some(s) = status.as_object_mut() else {
            return false;
        };
        let map = s.entry("disruptedPods").or_insert_with(|| json!({}));
        if !map.is_object() {
            *map = json!({});
        }
        map[pod] = json!(meta::now());
        true
    };
    let found = storage::update(
        api,
        &def,
        &Actor::system(MANAGER),
        ns,
        budget,
        Some("status"),
        |b| check(b, &mut refused),
    )
    .await?;
    if found.is_none() {
        return Err(ApiError::not_found(Target {
            group: "policy",
            resource: "poddisruptionbudgets",
            name: budget,
        }));
    }
    match refused {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Marks the pod `DisruptionTarget` (upstream's `addConditionAndDeletePod`, honouring the
/// preconditions against the latest pod) and deletes it with `opts`.
async fn mark_and_delete(
    api: &Api,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    mut opts: DeleteOptions,
) -> ApiResult<()> {
    if !opts.dry_run {
        let mut failed: Option<ApiError> = None;
        let updated = storage::update(
            api,
            def,
            &Actor::system(MANAGER),
            ns,
            name,
            Some("status"),
            |p| {
                failed = precondition_failure(p, &opts, name);
                if failed.is_some() {
                    return false;
                }
                mark_disruption_target(p);
                true
            },
        )
        .await?;
        if let Some(e) = failed {
            return Err(e);
        }
        let Some(updated) = updated else {
            return Err(ApiError::not_found(Target {
                group: "",
                resource: "pods",
                name,
            }));
        };
        if opts.resource_version.is_some() {
            // Our own write moved the version the caller (or we) conditioned on.
            opts.resource_version = meta::resource_version(&updated).map(str::to_string);
        }
    }
    delete_object(api, def, ns, name, &opts).await.map(|_| ())
}

/// Adds upstream's `DisruptionTarget` condition (reason `EvictionByEvictionAPI`) to a pod.
fn mark_disruption_target(pod: &mut Value) {
    let Some(o) = pod.as_object_mut() else { return };
    let status = o.entry("status").or_insert_with(|| json!({}));
    let Some(s) = status.as_object_mut() else {
        return;
    };
    let mut conds = s
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    pdb::set_condition(
        &mut conds,
        json!({"type": "DisruptionTarget", "status": "True", "lastProbeTime": null,
            "lastTransitionTime": meta::now(), "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting"}),
    );
    s.insert("conditions".into(), Value::Array(conds));
}

/// The conflict upstream reports when the latest pod fails the eviction's preconditions.
fn precondition_failure(pod: &Value, opts: &DeleteOptions, name: &str) -> Option<ApiError> {
    let target = Target {
        group: "",
        resource: "Pod",
        name,
    };
    if let Some(uid) = opts.uid.as_deref().filter(|u| !u.is_empty())
        && uid != meta::uid(pod)
    {
        return Some(ApiError::conflict(
            target,
            format!(
                "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                meta::uid(pod)
            ),
        ));
    }
    let current = meta::resource_version(pod).unwrap_or_default();
    if let Some(rv) = opts.resource_version.as_deref().filter(|r| !r.is_empty())
        && rv != current
    {
        return Some(ApiError::conflict(
            target,
            format!(
                "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({current}). The object might have been modified"
            ),
        ));
    }
    None
}

/// Upstream's answer to a successful eviction: a `Success` Status with code 201.
fn success(r: &Req) -> Response<Body> {
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Success", "code": 201});
    response::object(StatusCode::CREATED, &status, r.enc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_that_skip_the_budget() {
        let p = |phase: &str| json!({"status": {"phase": phase}});
        assert!(can_ignore_pdb(&p("Pending")));
        assert!(can_ignore_pdb(&p("Succeeded")));
        assert!(!can_ignore_pdb(&p("Running")));
        assert!(should_enforce_resource_version(&p("Pending")));
        assert!(!should_enforce_resource_version(&p("Failed")));
    }

    #[test]
    fn refusals_carry_the_budget_cause() {
        let e = refusal("x".into(), 0);
        assert_eq!(e.code, 429);
        assert_eq!(e.retry_after, None);
        let s = e.to_status();
        assert_eq!(s["details"]["causes"][0]["reason"], "DisruptionBudget");
        assert!(s["details"].get("retryAfterSeconds").is_none());
        let e = still_processing("web");
        assert_eq!(e.retry_after, Some(10));
        assert_eq!(
            e.to_status()["details"]["causes"][0]["message"],
            "The disruption budget web is still being processed by the server."
        );
    }

    #[test]
    fn delete_options_come_from_the_eviction() {
        let o = delete_options(
            &json!({"deleteOptions": {"gracePeriodSeconds": -3, "dryRun": ["All"],
                "preconditions": {"uid": "u"}}}),
            false,
        );
        assert_eq!(o.grace, Some(0));
        assert!(o.dry_run);
        assert_eq!(o.uid.as_deref(), Some("u"));
    }
}
