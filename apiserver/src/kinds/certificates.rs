//! `certificates.k8s.io/v1 CertificateSigningRequest`: the requester recorded from the request,
//! the spec immutable after create, approval only through `approval`, the issued certificate
//! only through `status` (upstream's CSR strategies and validation).

use base64::Engine;
use serde_json::{Map, Value, json};
use x509_parser::prelude::FromDer;

use crate::error::{ApiResult, Cause};
use crate::kinds::names::NameRule;
use crate::meta;
use crate::registry::def::{Ctx, Origin, Strategy};
use crate::table::format::human_duration;
use crate::table::printers::common::{AGE, Col, Doc, NAME, Printer, cells, created, name, s};

const SPEC: &str = "io.k8s.api.certificates.v1.CertificateSigningRequestSpec";
const STATUS: &str = "io.k8s.api.certificates.v1.CertificateSigningRequestStatus";
/// Condition types only the `approval` subresource may set, and never both.
const APPROVAL: [&str; 2] = ["Approved", "Denied"];
/// Key usages upstream knows (`certificates.KeyUsage`).
const USAGES: &[&str] = &[
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
];

/// The CertificateSigningRequest strategy.
#[derive(Debug)]
pub struct Csr;

impl Strategy for Csr {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
    fn validate(&self, old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let mut out = validate_spec(new);
        validate_status(old, new, &mut out);
        out
    }
    fn validate_subresource_update(
        &self,
        _sub: &str,
        old: &Value,
        new: &Value,
        origin: Origin,
    ) -> Vec<Cause> {
        self.validate(Some(old), new, origin)
    }
    /// The requester is whoever sends the create, whatever the body claims.
    fn admit_create(&self, ctx: &Ctx<'_>, obj: &mut Value) -> ApiResult<()> {
        let Some(spec) = object_at(obj, "spec") else {
            return Ok(());
        };
        spec.insert("username".into(), json!(ctx.user.name));
        spec.insert("groups".into(), json!(ctx.user.groups));
        if ctx.user.uid.is_empty() {
            spec.remove("uid");
        } else {
            spec.insert("uid".into(), json!(ctx.user.uid));
        }
        spec.remove("extra");
        Ok(())
    }
    /// Updates of the main resource change metadata only.
    fn carry_over(&self, old: &Value, new: &mut Value) {
        if let (Some(spec), Some(o)) = (old.get("spec"), new.as_object_mut()) {
            o.insert("spec".into(), spec.clone());
        }
    }
    fn prepare_subresource_update(&self, sub: &str, old: &Value, new: &mut Value) {
        if sub == "status" {
            keep_approval_conditions(old, new);
        }
        stamp_conditions(old, new);
    }
}

fn object_at<'v>(obj: &'v mut Value, key: &str) -> Option<&'v mut Map<String, Value>> {
    let slot = obj.as_object_mut()?.entry(key).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut()
}

fn conditions(obj: &Value) -> &[Value] {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn condition_type(c: &Value) -> &str {
    c.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// `status` may not add or remove `Approved`/`Denied`: those come from the stored object.
fn keep_approval_conditions(old: &Value, new: &mut Value) {
    let kept: Vec<Value> = conditions(old)
        .iter()
        .filter(|c| APPROVAL.contains(&condition_type(c)))
        .cloned()
        .collect();
    let mut merged: Vec<Value> = conditions(new)
        .iter()
        .filter(|c| !APPROVAL.contains(&condition_type(c)))
        .cloned()
        .collect();
    merged.splice(0..0, kept);
    if let Some(status) = object_at(new, "status") {
        status.insert("conditions".into(), json!(merged));
    }
}

/// Fills `lastUpdateTime` and `lastTransitionTime` as upstream does (the transition time of an
/// unchanged condition is the stored one).
fn stamp_conditions(old: &Value, new: &mut Value) {
    let before = conditions(old).to_vec();
    let now = meta::now();
    let Some(list) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for c in list.iter_mut().filter_map(Value::as_object_mut) {
        if c.get("lastUpdateTime").is_none_or(Value::is_null) {
            c.insert("lastUpdateTime".into(), json!(now));
        }
        if c.get("lastTransitionTime").is_none_or(Value::is_null) {
            let same = before
                .iter()
                .find(|b| b.get("type") == c.get("type") && b.get("status") == c.get("status"));
            let at = same
                .and_then(|b| b.get("lastTransitionTime"))
                .cloned()
                .unwrap_or_else(|| json!(now));
            c.insert("lastTransitionTime".into(), at);
        }
    }
}

fn validate_spec(new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let spec = new.get("spec").unwrap_or(&Value::Null);
    validate_request(spec.get("request"), &mut out);
    match spec.get("signerName").and_then(Value::as_str) {
        None | Some("") => out.push(Cause::required("spec.signerName", "")),
        Some(signer) if !is_signer_name(signer) => out.push(Cause::invalid(
            "spec.signerName",
            &json!(signer),
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        )),
        Some(_) => {}
    }
    if let Some(secs) = spec.get("expirationSeconds").and_then(Value::as_i64)
        && secs < 600
    {
        out.push(Cause::invalid(
            "spec.expirationSeconds",
            &json!(secs),
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    let usages = spec
        .get("usages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if usages.is_empty() {
        out.push(Cause::required("spec.usages", ""));
    }
    for (i, u) in usages.iter().enumerate() {
        let u = u.as_str().unwrap_or_default();
        if !USAGES.contains(&u) {
            out.push(Cause::not_supported(
                &format!("spec.usages[{i}]"),
                u,
                USAGES,
            ));
        } else if usages[..i].iter().any(|p| p.as_str() == Some(u)) {
            out.push(Cause::duplicate(&format!("spec.usages[{i}]"), &json!(u)));
        }
    }
    out
}

/// `spec.request` must be one PEM `CERTIFICATE REQUEST` whose signature verifies.
fn validate_request(request: Option<&Value>, out: &mut Vec<Cause>) {
    let Some(text) = request.and_then(Value::as_str).filter(|t| !t.is_empty()) else {
        out.push(Cause::required("spec.request", ""));
        return;
    };
    if let Err(why) = parse_request(text) {
        out.push(Cause::invalid(
            "spec.request",
            &json!("<certificate request>"),
            &why,
        ));
    }
}

/// Decodes and checks a CSR given as the base64 of its PEM (how `[]byte` fields travel).
pub fn parse_request(base64_pem: &str) -> Result<Vec<u8>, String> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(base64_pem)
        .map_err(|e| format!("not base64: {e}"))?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|_| "PEM block type must be CERTIFICATE REQUEST".to_string())?;
    if block.label != "CERTIFICATE REQUEST" && block.label != "NEW CERTIFICATE REQUEST" {
        return Err("PEM block type must be CERTIFICATE REQUEST".into());
    }
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&block.contents)
            .map_err(|e| format!("x509: malformed certificate request: {e}"))?;
    csr.verify_signature()
        .map_err(|_| "x509: certificate request signature is invalid".to_string())?;
    Ok(block.contents)
}

/// `domain/path` with a DNS-subdomain domain (`kubernetes.io/kube-apiserver-client`).
fn is_signer_name(signer: &str) -> bool {
    let Some((domain, path)) = signer.split_once('/') else {
        return false;
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    domain.contains('.')
        && domain.split('.').all(label_ok)
        && !path.is_empty()
        && signer.len() <= 571
}

fn validate_status(old: Option<&Value>, new: &Value, out: &mut Vec<Cause>) {
    let list = conditions(new);
    for (i, c) in list.iter().enumerate() {
        let t = condition_type(c);
        if t.is_empty() {
            out.push(Cause::required(&format!("status.conditions[{i}].type"), ""));
        } else if (APPROVAL.contains(&t) || t == "Failed")
            && list[..i].iter().any(|p| condition_type(p) == t)
        {
            out.push(Cause::duplicate(
                &format!("status.conditions[{i}].type"),
                &json!(t),
            ));
        }
    }
    let has = |obj: &Value, t: &str| conditions(obj).iter().any(|c| condition_type(c) == t);
    if has(new, "Approved") && has(new, "Denied") {
        out.push(Cause::invalid(
            "status.conditions",
            &json!(list),
            "Approved and Denied conditions are mutually exclusive",
        ));
    }
    if let Some(old) = old {
        for t in APPROVAL {
            if has(old, t) && !has(new, t) {
                out.push(Cause::forbidden(
                    "status.conditions",
                    &format!("updates may not remove a condition of type {t:?}"),
                ));
            }
        }
        let cert = |o: &Value| o.pointer("/status/certificate").cloned();
        if cert(old).is_some_and(|c| c != Value::String(String::new())) && cert(old) != cert(new) {
            out.push(Cause::forbidden(
                "status.certificate",
                "updates may not modify existing certificate content",
            ));
        }
    }
}

/// What `kubectl get csr` shows in `CONDITION`: `Pending`, `Approved,Issued`, `Denied`...
fn condition_summary(o: &Value) -> String {
    let has = |t: &str| conditions(o).iter().any(|c| condition_type(c) == t);
    let mut text = if has("Denied") {
        "Denied".to_string()
    } else if has("Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if has("Failed") {
        text.push_str(",Failed");
    }
    if !s(o, "/status/certificate").is_empty() {
        text.push_str(",Issued");
    }
    text
}

/// Upstream's columns for `kubectl get csr`.
pub fn printer() -> Printer {
    Printer {
        columns: vec![
            NAME,
            AGE,
            Col("SignerName", "string", 0, Doc::Field(SPEC, "signerName")),
            Col("Requestor", "string", 0, Doc::Field(SPEC, "username")),
            Col(
                "RequestedDuration",
                "string",
                0,
                Doc::Field(SPEC, "expirationSeconds"),
            ),
            Col("Condition", "string", 0, Doc::Field(STATUS, "conditions")),
        ],
        print: |o, now| {
            let duration = o
                .pointer("/spec/expirationSeconds")
                .and_then(Value::as_i64)
                .map_or_else(|| "<none>".to_string(), human_duration);
            cells([
                name(o),
                created(o, now),
                s(o, "/spec/signerName").into(),
                s(o, "/spec/username").into(),
                duration.into(),
                condition_summary(o).into(),
            ])
        },
    }
}

#[cfg(test)]
mod tests;
