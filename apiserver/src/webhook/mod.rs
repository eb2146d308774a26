//! Admission webhooks (upstream's `MutatingAdmissionWebhook` and `ValidatingAdmissionWebhook`):
//! for a write, every webhook of every configuration (in configuration-name order) whose
//! rules, namespace selector and object selector match is sent an `AdmissionReview`; mutating
//! webhooks may answer with a JSON patch, either kind may deny. A webhook that cannot be called
//! fails the request unless its `failurePolicy` is `Ignore`. Webhook configurations are never
//! sent to webhooks (so a webhook cannot lock itself in).
//!
//! Not done: `reinvocationPolicy: IfNeeded` (each mutating webhook runs once), `matchPolicy:
//! Equivalent` across resources served under several groups (a webhook sees the request's own
//! group/version), `matchConditions` (CEL; webhooks with conditions are always called).

mod call;
pub mod rules;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::api::Api;
use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::registry::ResourceDef;
use rules::{RequestAttributes, rules_match, selector_matches};

const MUTATING: &str = "admissionregistration.k8s.io/mutatingwebhookconfigurations";
const VALIDATING: &str = "admissionregistration.k8s.io/validatingwebhookconfigurations";

/// One write, as webhooks are told about it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The resource written.
    pub def: &'a ResourceDef,
    /// `CREATE`, `UPDATE` or `DELETE`.
    pub operation: &'a str,
    /// Subresource written, if any.
    pub subresource: Option<&'a str>,
    /// Namespace ("" for cluster-scoped).
    pub namespace: &'a str,
    /// Object name.
    pub name: &'a str,
    /// Who writes.
    pub user: &'a User,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The object before the write (updates and deletes).
    pub old: Option<&'a Value>,
}

impl Request<'_> {
    fn attributes(&self) -> RequestAttributes<'_> {
        RequestAttributes {
            operation: self.operation,
            group: &self.def.group,
            version: &self.def.version,
            resource: &self.def.resource,
            subresource: self.subresource,
            namespaced: self.def.namespaced,
        }
    }
}

/// Whether any webhook configuration exists (the common case is none: no work at all).
fn configured(api: &Api, storage: &str) -> bool {
    !api.store.keys(storage, None).is_empty()
}

/// Every webhook of the configurations at `storage`, configurations by name.
fn webhooks(api: &Api, storage: &str) -> Vec<Value> {
    let mut configs = crate::storage::lookup::list_values(api, storage, None);
    configs.sort_by(|a, b| meta::name(a).cmp(meta::name(b)));
    configs
        .into_iter()
        .flat_map(|c| {
            c.get("webhooks")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn exempt(req: &Request<'_>) -> bool {
    req.def.group == "admissionregistration.k8s.io"
}

/// The labels a webhook's namespace selector is checked against: the object's own for a
/// namespace, its namespace's for namespaced objects; `None` for other cluster-scoped objects
/// (every selector matches them).
fn namespace_labels(
    api: &Api,
    req: &Request<'_>,
    obj: Option<&Value>,
) -> Option<BTreeMap<String, String>> {
    if req.def.group.is_empty() && req.def.resource == "namespaces" {
        return Some(obj.or(req.old).map(meta::labels).unwrap_or_default());
    }
    if !req.def.namespaced {
        return None;
    }
    Some(
        api.store
            .get("/namespaces", "", req.namespace)
            .and_then(|o| o.value().ok())
            .map(|ns| meta::labels(&ns))
            .unwrap_or_default(),
    )
}

fn matches(api: &Api, w: &Value, req: &Request<'_>, obj: Option<&Value>) -> bool {
    if !rules_match(w, &req.attributes()) {
        return false;
    }
    if let Some(labels) = namespace_labels(api, req, obj)
        && !selector_matches(w.get("namespaceSelector"), &labels)
    {
        return false;
    }
    let sel = w.get("objectSelector");
    [obj, req.old]
        .into_iter()
        .flatten()
        .any(|o| selector_matches(sel, &meta::labels(o)))
        || (obj.is_none() && req.old.is_none())
}

fn review(w: &Value, req: &Request<'_>, obj: Option<&Value>, uid: &str) -> Value {
    let versions: Vec<&str> = w
        .get("admissionReviewVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let api_version = if versions.contains(&"v1") || !versions.contains(&"v1beta1") {
        "admission.k8s.io/v1"
    } else {
        "admission.k8s.io/v1beta1"
    };
    let def = req.def;
    let kind = json!({"group": def.group, "version": def.version, "kind": def.kind});
    let resource = json!({"group": def.group, "version": def.version, "resource": def.resource});
    let options_kind = match req.operation {
        "CREATE" => "CreateOptions",
        "UPDATE" => "UpdateOptions",
        _ => "DeleteOptions",
    };
    let mut request = json!({
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": req.name,
        "operation": req.operation,
        "userInfo": crate::authz::review::user_info(req.user),
        "object": obj.cloned().unwrap_or(Value::Null),
        "oldObject": req.old.cloned().unwrap_or(Value::Null),
        "dryRun": req.dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind},
    });
    if !req.namespace.is_empty() {
        request["namespace"] = json!(req.namespace);
    }
    if let Some(sub) = req.subresource {
        request["subResource"] = json!(sub);
        request["requestSubResource"] = json!(sub);
    }
    json!({"apiVersion": api_version, "kind": "AdmissionReview", "request": request})
}

fn name_of(w: &Value) -> &str {
    w.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// What calling one webhook came to.
enum Outcome {
    /// Allowed, with an optional JSON patch and warnings.
    Allowed(Option<Value>, Vec<String>),
    /// Denied with this error.
    Denied(ApiError),
}

/// Calls webhook `w`; `Err` is a failure to call it (subject to its failure policy).
async fn call_one(
    api: &Api,
    w: &Value,
    req: &Request<'_>,
    obj: Option<&Value>,
) -> Result<Outcome, String> {
    let timeout = w
        .get("timeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(10);
    let cc = w.get("clientConfig").cloned().unwrap_or(Value::Null);
    let target = call::resolve(api, &cc, timeout)?;
    let uid = meta::new_uid();
    let sent = review(w, req, obj, &uid);
    let answer = call::post(&target, &cc, &sent, Duration::from_secs(timeout))
        .await
        .map_err(|e| format!("failed to call webhook: Post \"{}\": {e}", target.url))?;
    let resp = answer.get("response").cloned().unwrap_or(Value::Null);
    let got = resp.get("uid").and_then(Value::as_str).unwrap_or_default();
    if got != uid {
        return Err(format!("expected response.uid=\"{uid}\", got \"{got}\""));
    }
    let warnings = resp
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(crate::fieldvalidation::warning_header)
        .collect();
    if resp.get("allowed").and_then(Value::as_bool) != Some(true) {
        return Ok(Outcome::Denied(denied(name_of(w), resp.get("status"))));
    }
    let patch = match resp.get("patch").and_then(Value::as_str) {
        None => None,
        Some(b64) => {
            let kind = resp
                .get("patchType")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if kind != "JSONPatch" {
                return Err(format!("unsupported patch type {kind:?}"));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("invalid patch: {e}"))?;
            Some(serde_json::from_slice(&bytes).map_err(|e| format!("invalid patch: {e}"))?)
        }
    };
    Ok(Outcome::Allowed(patch, warnings))
}

/// Upstream's `ToStatusErr`: the webhook's status, at least 400, its message prefixed.
fn denied(webhook: &str, status: Option<&Value>) -> ApiError {
    let status = status.cloned().unwrap_or(Value::Null);
    let by = format!("admission webhook \"{webhook}\" denied the request");
    let text = |k: &str| {
        status
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let message = match (text("message"), text("reason")) {
        (m, _) if !m.is_empty() => format!("{by}: {m}"),
        (_, r) if !r.is_empty() => format!("{by}: {r}"),
        _ => format!("{by} without explanation"),
    };
    let code = status
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c >= 400)
        .unwrap_or(400);
    ApiError::from_webhook(code, &text("reason"), message)
}

/// A failure to call webhook `w`: the request fails (500) unless the policy is `Ignore`.
fn on_failure(w: &Value, reason: String) -> ApiResult<()> {
    let name = name_of(w);
    if w.get("failurePolicy").and_then(Value::as_str) == Some("Ignore") {
        tracing::warn!(webhook = name, error = %reason, "webhook call failed; ignored by its failure policy");
        return Ok(());
    }
    Err(ApiError::internal(format!(
        "failed calling webhook \"{name}\": {reason}"
    )))
}

fn dry_run_refused(w: &Value, req: &Request<'_>) -> Option<ApiError> {
    let effects = w
        .get("sideEffects")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    (req.dry_run && !matches!(effects, "None" | "NoneOnDryRun")).then(|| {
        ApiError::bad_request(format!(
            "admission webhook \"{}\" does not support dry run",
            name_of(w)
        ))
    })
}

/// Runs the mutating webhooks on `obj` (creates and updates), applying their patches in
/// order; returns their warnings.
pub async fn mutate(api: &Api, req: &Request<'_>, obj: &mut Value) -> ApiResult<Vec<String>> {
    let mut warnings = Vec::new();
    if exempt(req) || !configured(api, MUTATING) {
        return Ok(warnings);
    }
    for w in webhooks(api, MUTATING) {
        if !matches(api, &w, req, Some(obj)) {
            continue;
        }
        if let Some(e) = dry_run_refused(&w, req) {
            return Err(e);
        }
        match call_one(api, &w, req, Some(obj)).await {
            Ok(Outcome::Denied(e)) => return Err(e),
            Ok(Outcome::Allowed(patch, w_warnings)) => {
                warnings.extend(w_warnings);
                if let Some(p) = patch {
                    apply_patch(&w, obj, p)?;
                }
            }
            Err(reason) => on_failure(&w, reason)?,
        }
    }
    Ok(warnings)
}

fn apply_patch(w: &Value, obj: &mut Value, patch: Value) -> ApiResult<()> {
    let parsed: json_patch::Patch = match serde_json::from_value(patch) {
        Ok(p) => p,
        Err(e) => return on_failure(w, format!("invalid patch: {e}")),
    };
    let mut patched = obj.clone();
    match json_patch::patch(&mut patched, &parsed) {
        Ok(()) => {
            *obj = patched;
            Ok(())
        }
        Err(e) => on_failure(w, format!("applying patch: {e}")),
    }
}

/// Runs the validating webhooks on the write (`obj` = `None` for deletes); returns their
/// warnings.
pub async fn validate(api: &Api, req: &Request<'_>, obj: Option<&Value>) -> ApiResult<Vec<String>> {
    let mut warnings = Vec::new();
    if exempt(req) || !configured(api, VALIDATING) {
        return Ok(warnings);
    }
    for w in webhooks(api, VALIDATING) {
        if !matches(api, &w, req, obj) {
            continue;
        }
        if let Some(e) = dry_run_refused(&w, req) {
            return Err(e);
        }
        match call_one(api, &w, req, obj).await {
            Ok(Outcome::Denied(e)) => return Err(e),
            Ok(Outcome::Allowed(_, w_warnings)) => warnings.extend(w_warnings),
            Err(reason) => on_failure(&w, reason)?,
        }
    }
    Ok(warnings)
}
