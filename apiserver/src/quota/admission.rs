//! Quota admission (upstream's `ResourceQuota` admission plugin): a create, or an update that
//! grows usage, is checked against every quota of its namespace that selects it, and charged to
//! their `status.used` before the object is stored.

use serde_json::Value;

use super::amount::{
    Resources, add, exceeding, from_json, mask, pretty, subtract_non_negative, to_json,
    without_zeros,
};
use super::measure::hard_names;
use super::pod_usage::missing_constraints;
use super::scopes::{requirements, selects};
use super::usage::Evaluator;
use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::meta;
use crate::registry::ResourceDef;
use crate::store::{Expect, StoreError};

const QUOTAS: &str = "/resourcequotas";

/// One quota to charge: its key, stored version and new `used`.
struct Charge {
    name: String,
    rv: u64,
    quota: Value,
    used: Resources,
}

/// Checks a create (`old` = `None`) or main-resource update of `new` against its namespace's
/// quotas and, unless `dry_run`, charges them. 403 when a quota would be exceeded.
pub fn admit(
    api: &Api,
    def: &ResourceDef,
    old: Option<&Value>,
    new: &Value,
    dry_run: bool,
) -> ApiResult<()> {
    let ns = meta::namespace(new);
    if !def.namespaced || ns.is_empty() || api.store.keys(QUOTAS, Some(ns)).is_empty() {
        return Ok(());
    }
    let evaluator = Evaluator::of(&def.group, &def.resource);
    let mut delta = evaluator.usage(new);
    if let Some(old) = old {
        if !evaluator.charges_updates() {
            return Ok(());
        }
        delta = subtract_non_negative(&delta, &evaluator.usage(old));
    }
    let delta = without_zeros(delta);
    if delta.is_empty() {
        return Ok(());
    }
    let target = Target {
        group: &def.group,
        resource: &def.resource,
        name: meta::name(new),
    };
    let _charging = api.quota.lock();
    let mut charged: Vec<String> = Vec::new();
    for _ in 0..16 {
        let charges = plan(api, ns, &evaluator, new, &delta, &charged, &target)?;
        if dry_run {
            return Ok(());
        }
        match commit(api, ns, charges, &mut charged) {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict | StoreError::NotFound) => continue,
            Err(e) => return Err(ApiError::internal(format!("charging quota: {e}"))),
        }
    }
    Err(ApiError::conflict(
        target,
        "too many concurrent updates to the namespace's resource quotas",
    ))
}

/// The charges a request makes on the quotas not yet charged, or upstream's 403.
fn plan(
    api: &Api,
    ns: &str,
    evaluator: &Evaluator,
    obj: &Value,
    delta: &Resources,
    charged: &[String],
    target: &Target<'_>,
) -> ApiResult<Vec<Charge>> {
    let mut out = Vec::new();
    let quotas = api.store.list(QUOTAS, Some(ns), None, None, |_, _| true);
    for so in quotas.items {
        let Ok(quota) = so.value() else { continue };
        let name = meta::name(&quota).to_string();
        let hard_names = hard_names(&quota, "/status/hard");
        let restricted = evaluator.matching(&hard_names);
        if charged.contains(&name)
            || restricted.is_empty()
            || !selects(evaluator, &requirements(&quota), obj)
        {
            continue;
        }
        if *evaluator == Evaluator::Pods {
            let missing = missing_constraints(obj, &restricted);
            if !missing.is_empty() {
                let msg = format!("failed quota: {name}: must specify {}", missing.join(","));
                return Err(ApiError::forbidden(target.clone(), msg));
            }
        }
        let used = from_json(quota.pointer("/status/used"));
        if restricted.iter().any(|r| !used.contains_key(r)) {
            let msg = format!(
                "status unknown for quota: {name}, resources: {}",
                sorted(&restricted).join(",")
            );
            return Err(ApiError::forbidden(target.clone(), msg));
        }
        let hard = from_json(quota.pointer("/status/hard"));
        let requested = mask(delta, &hard_names);
        if requested.is_empty() {
            continue;
        }
        let new_used = add(&used, &requested);
        let requested_names: Vec<String> = requested.keys().cloned().collect();
        let exceeded = exceeding(&mask(&new_used, &requested_names), &hard);
        if !exceeded.is_empty() {
            let msg = format!(
                "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
                pretty(&mask(&requested, &exceeded)),
                pretty(&mask(&used, &exceeded)),
                pretty(&mask(&hard, &exceeded)),
            );
            return Err(ApiError::forbidden(target.clone(), msg));
        }
        out.push(Charge {
            name,
            rv: so.rv,
            quota,
            used: new_used,
        });
    }
    Ok(out)
}

fn sorted(names: &[String]) -> Vec<String> {
    let mut v = names.to_vec();
    v.sort();
    v
}

/// Writes each charge (compare-and-swap on its version), recording the charged quotas.
fn commit(
    api: &Api,
    ns: &str,
    charges: Vec<Charge>,
    charged: &mut Vec<String>,
) -> Result<(), StoreError> {
    let def = crate::storage::lookup::def(api, "", "resourcequotas").ok();
    for c in charges {
        let old = c.quota;
        let mut quota = old.clone();
        quota["status"]["used"] = to_json(&c.used);
        let paths = def.as_ref().map(|d| d.field_paths()).unwrap_or_default();
        api.store
            .commit(
                QUOTAS,
                ns,
                &c.name,
                Expect::Version(c.rv),
                Some(quota.clone()),
                &paths,
            )
            .map(|_| ())?;
        if let Some(def) = &def {
            crate::storage::commit::after_write(api, def, Some(&old), Some(&quota));
        }
        charged.push(c.name);
    }
    Ok(())
}

/// Gives back what [`admit`] charged for a create that then failed (the object already
/// existed, or storage refused it), so usage does not stay inflated until the next resync.
pub fn refund(api: &Api, def: &ResourceDef, obj: &Value) {
    let ns = meta::namespace(obj);
    if !def.namespaced || ns.is_empty() || api.store.keys(QUOTAS, Some(ns)).is_empty() {
        return;
    }
    let evaluator = Evaluator::of(&def.group, &def.resource);
    let usage = without_zeros(evaluator.usage(obj));
    let _charging = api.quota.lock();
    let quotas = api.store.list(QUOTAS, Some(ns), None, None, |_, _| true);
    let mut charges = Vec::new();
    for so in quotas.items {
        let Ok(quota) = so.value() else { continue };
        let names = hard_names(&quota, "/status/hard");
        if evaluator.matching(&names).is_empty() || !selects(&evaluator, &requirements(&quota), obj)
        {
            continue;
        }
        let used = from_json(quota.pointer("/status/used"));
        let back = mask(&usage, &names);
        if back.is_empty() {
            continue;
        }
        charges.push(Charge {
            name: meta::name(&quota).to_string(),
            rv: so.rv,
            quota,
            used: subtract_non_negative(&used, &back),
        });
    }
    // A conflict means the controller measured the quota meanwhile, which already corrected it.
    let _ = commit(api, ns, charges, &mut Vec::new());
}
