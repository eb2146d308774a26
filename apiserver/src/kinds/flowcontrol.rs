//! `flowcontrol.apiserver.k8s.io` v1beta3 (stored) and v1beta2 FlowSchema and
//! PriorityLevelConfiguration, as upstream v1.28 serves them: defaults, validation with
//! upstream's messages, v1beta2's `assuredConcurrencyShares` converted to and from v1beta3's
//! `nominalConcurrencyShares`, and v1beta2's deprecation warning. Printers are in
//! `flowcontrol_print.rs`, the bootstrap configuration in `flowcontrol_bootstrap.rs`.
//!
//! These objects are configuration only: this server does not classify requests by them (its
//! admission limit is `--max-requests-inflight`), see docs/design.md.

use serde_json::{Value, json};

use crate::error::Cause;
use crate::kinds::names::{NameRule, validate_name};
use crate::registry::def::{Origin, Strategy};

/// Annotation saying who maintains a bootstrap object's spec (`"true"`: the server).
pub const AUTOUPDATE: &str = "apf.kubernetes.io/autoupdate-spec";

/// Largest `matchingPrecedence`.
const MAX_PRECEDENCE: i64 = 10000;
/// Largest number of queues.
const MAX_QUEUES: i64 = 10_000_000;

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// `field: Invalid value: []string{"a", "b"}: detail`, as Go prints a string slice.
fn invalid_list(field: &str, items: &[String], detail: &str) -> Cause {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    Cause::new(
        "FieldValueInvalid",
        field,
        format!("Invalid value: []string{{{}}}: {detail}", quoted.join(", ")),
    )
}

/// A list that may hold `*` only alone; empty lists are `Required` with `required`.
fn star_list(out: &mut Vec<Cause>, field: &str, items: &[String], what: &str, required: &str) {
    if items.is_empty() {
        out.push(Cause::required(field, required));
    } else if items.len() > 1 && items.iter().any(|s| s == "*") {
        out.push(invalid_list(
            field,
            items,
            &format!("if '*' is present, must not specify other {what}"),
        ));
    }
}

fn validate_subject(out: &mut Vec<Cause>, field: &str, s: &Value) {
    let kind = s.get("kind").and_then(Value::as_str).unwrap_or_default();
    let present = |k: &str| s.get(k).is_some_and(|v| !v.is_null());
    let name_of = |k: &str| {
        s.pointer(&format!("/{k}/name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    for (k, key) in [
        ("User", "user"),
        ("Group", "group"),
        ("ServiceAccount", "serviceAccount"),
    ] {
        if kind == k {
            if !present(key) {
                out.push(Cause::required(
                    &format!("{field}.{key}"),
                    &format!("{key} is required when subject kind is '{k}'"),
                ));
            } else if name_of(key).is_empty() {
                out.push(Cause::required(&format!("{field}.{key}.name"), ""));
            }
            if k == "ServiceAccount"
                && present(key)
                && s.pointer("/serviceAccount/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .is_empty()
            {
                out.push(Cause::required(
                    &format!("{field}.serviceAccount.namespace"),
                    "must specify namespace for service account",
                ));
            }
        } else if present(key) && ["User", "Group", "ServiceAccount"].contains(&kind) {
            out.push(Cause::forbidden(
                &format!("{field}.{key}"),
                &format!("{key} is forbidden when subject kind is not '{k}'"),
            ));
        }
    }
    if !["User", "Group", "ServiceAccount"].contains(&kind) {
        out.push(Cause::not_supported(
            &format!("{field}.kind"),
            kind,
            &["Group", "ServiceAccount", "User"],
        ));
    }
}

fn validate_resource_rule(out: &mut Vec<Cause>, field: &str, r: &Value) {
    let verbs = str_list(r.get("verbs"));
    star_list(
        out,
        &format!("{field}.verbs"),
        &verbs,
        "verbs",
        "verbs must contain at least one value",
    );
    star_list(
        out,
        &format!("{field}.apiGroups"),
        &str_list(r.get("apiGroups")),
        "api groups",
        "resource rules must supply at least one api group",
    );
    star_list(
        out,
        &format!("{field}.resources"),
        &str_list(r.get("resources")),
        "resources",
        "resource rules must supply at least one resource",
    );
    let namespaces = str_list(r.get("namespaces"));
    let cluster = r.get("clusterScope").and_then(Value::as_bool) == Some(true);
    if namespaces.is_empty() {
        if !cluster {
            out.push(Cause::required(
                &format!("{field}.namespaces"),
                "resource rules that are not cluster scoped must supply at least one namespace",
            ));
        }
    } else if namespaces.len() > 1 && namespaces.iter().any(|s| s == "*") {
        out.push(invalid_list(
            &format!("{field}.namespaces"),
            &namespaces,
            "if '*' is present, must not specify other namespaces",
        ));
    } else {
        for (i, ns) in namespaces.iter().enumerate() {
            if ns != "*" && !crate::kinds::names::is_dns_label(ns) {
                out.push(Cause::invalid(
                    &format!("{field}.namespaces[{i}]"),
                    &json!(ns),
                    &format!(
                        "each member of this list must be '*' or a DNS-1123 label; {}",
                        crate::kinds::names::label_message()
                    ),
                ));
            }
        }
    }
}

fn validate_non_resource_rule(out: &mut Vec<Cause>, field: &str, r: &Value) {
    star_list(
        out,
        &format!("{field}.verbs"),
        &str_list(r.get("verbs")),
        "verbs",
        "verbs must contain at least one value",
    );
    let urls = str_list(r.get("nonResourceURLs"));
    star_list(
        out,
        &format!("{field}.nonResourceURLs"),
        &urls,
        "non-resource URLs",
        "nonResourceURLs must contain at least one value",
    );
    if urls.iter().any(|u| u == "*") {
        return;
    }
    for (i, u) in urls.iter().enumerate() {
        let f = format!("{field}.nonResourceURLs[{i}]");
        let stars = u.matches('*').count();
        let why = if u.is_empty() {
            "must not be empty"
        } else if u == "/" {
            continue;
        } else if !u.starts_with('/') {
            "must start with slash"
        } else if u.contains(' ') {
            "must not contain white-space"
        } else if u.contains("//") {
            "must not contain double slash"
        } else if stars > 1 || (stars == 1 && !u.ends_with("/*")) {
            "wildcard can only do suffix matching"
        } else {
            continue;
        };
        out.push(Cause::invalid(&f, &json!(u), why));
    }
}

/// Upstream's FlowSchema validation.
pub fn validate_flow_schema(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let precedence = spec
        .get("matchingPrecedence")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if precedence <= 0 {
        out.push(Cause::invalid(
            "spec.matchingPrecedence",
            &json!(precedence),
            "must be a positive value",
        ));
    } else if precedence > MAX_PRECEDENCE {
        out.push(Cause::invalid(
            "spec.matchingPrecedence",
            &json!(precedence),
            &format!("must not be greater than {MAX_PRECEDENCE}"),
        ));
    }
    if let Some(d) = spec.get("distinguisherMethod").filter(|d| !d.is_null()) {
        let t = d.get("type").and_then(Value::as_str).unwrap_or_default();
        if !["ByNamespace", "ByUser"].contains(&t) {
            out.push(Cause::new(
                "FieldValueNotSupported",
                "spec.distinguisherMethod.type",
                format!(
                    "Unsupported value: flowcontrol.FlowDistinguisherMethod{{Type:{t:?}}}: supported values: \"ByNamespace\", \"ByUser\""
                ),
            ));
        }
    }
    let pl = spec
        .pointer("/priorityLevelConfiguration/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if pl.is_empty() {
        out.push(Cause::required(
            "spec.priorityLevelConfiguration.name",
            "must reference a priority level",
        ));
    } else {
        out.extend(validate_name(
            NameRule::Subdomain,
            "spec.priorityLevelConfiguration.name",
            pl,
        ));
    }
    let rules = spec
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("spec.rules[{i}]");
        let subjects = rule
            .get("subjects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if subjects.is_empty() {
            out.push(Cause::required(
                &format!("{field}.subjects"),
                "subjects must contain at least one value",
            ));
        }
        for (j, s) in subjects.iter().enumerate() {
            validate_subject(&mut out, &format!("{field}.subjects[{j}]"), s);
        }
        let list = |k: &str| {
            rule.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let (resource, non_resource) = (list("resourceRules"), list("nonResourceRules"));
        for (j, r) in resource.iter().enumerate() {
            validate_resource_rule(&mut out, &format!("{field}.resourceRules[{j}]"), r);
        }
        for (j, r) in non_resource.iter().enumerate() {
            validate_non_resource_rule(&mut out, &format!("{field}.nonResourceRules[{j}]"), r);
        }
        if resource.is_empty() && non_resource.is_empty() {
            out.push(Cause::required(
                &field,
                "at least one of resourceRules and nonResourceRules has to be non-empty",
            ));
        }
    }
    out
}

/// log2 of `n` choose... the entropy upstream's shuffle sharding needs: `handSize * log2(queues)`.
fn entropy_bits(queues: i64, hand: i64) -> f64 {
    (hand as f64) * (queues as f64).log2()
}

fn validate_queuing(out: &mut Vec<Cause>, q: &Value) {
    let f = "spec.limited.limitResponse.queuing";
    let n = |k: &str| q.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (queues, hand, limit) = (n("queues"), n("handSize"), n("queueLengthLimit"));
    if limit <= 0 {
        out.push(Cause::invalid(
            &format!("{f}.queueLengthLimit"),
            &json!(limit),
            "must be positive",
        ));
    }
    if queues <= 0 {
        out.push(Cause::invalid(
            &format!("{f}.queues"),
            &json!(queues),
            "must be positive",
        ));
    } else if queues > MAX_QUEUES {
        out.push(Cause::invalid(
            &format!("{f}.queues"),
            &json!(queues),
            &format!("must not be greater than {MAX_QUEUES}"),
        ));
    }
    if hand <= 0 {
        out.push(Cause::invalid(
            &format!("{f}.handSize"),
            &json!(hand),
            "must be positive",
        ));
    } else if queues > 0 && hand > queues {
        out.push(Cause::invalid(
            &format!("{f}.handSize"),
            &json!(hand),
            &format!("should not be greater than queues ({queues})"),
        ));
    } else if queues > 0 && entropy_bits(queues, hand) > 60.0 {
        out.push(Cause::invalid(
            &format!("{f}.handSize"),
            &json!(hand),
            &format!(
                "required entropy bits of deckSize {queues} and handSize {hand} should not be greater than 60"
            ),
        ));
    }
}

/// Upstream's PriorityLevelConfiguration validation (of the stored, v1beta3 form).
pub fn validate_priority_level(obj: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let name = crate::meta::name(obj);
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let t = spec.get("type").and_then(Value::as_str).unwrap_or_default();
    let limited = spec.get("limited").filter(|v| !v.is_null());
    let exempt = spec.get("exempt").filter(|v| !v.is_null());
    if !["Exempt", "Limited"].contains(&t) {
        out.push(Cause::not_supported("spec.type", t, &["Exempt", "Limited"]));
        return out;
    }
    if (t == "Exempt") != (name == "exempt") {
        out.push(Cause::invalid(
            "spec.type",
            &json!(t),
            "type must be 'Exempt' if and only if name is 'exempt'",
        ));
    }
    if t != "Limited" && limited.is_some() {
        out.push(Cause::forbidden(
            "spec.limited",
            "must be nil if the type is not Limited",
        ));
    }
    if t == "Limited" && exempt.is_some() {
        out.push(Cause::forbidden(
            "spec.exempt",
            "must be nil if the type is Limited",
        ));
    }
    let Some(l) = limited.filter(|_| t == "Limited") else {
        if t == "Limited" {
            out.push(Cause::required(
                "spec.limited",
                "must not be empty when type is Limited",
            ));
        }
        return out;
    };
    let n = |k: &str| l.get(k).and_then(Value::as_i64);
    if let Some(ncs) = n("nominalConcurrencyShares").filter(|v| *v <= 0) {
        out.push(Cause::invalid(
            "spec.limited.nominalConcurrencyShares",
            &json!(ncs),
            "must be positive",
        ));
    }
    let lr = l.get("limitResponse").unwrap_or(&Value::Null);
    let lt = lr.get("type").and_then(Value::as_str).unwrap_or_default();
    let queuing = lr.get("queuing").filter(|v| !v.is_null());
    match lt {
        "Queue" => match queuing {
            Some(q) => validate_queuing(&mut out, q),
            None => out.push(Cause::required(
                "spec.limited.limitResponse.queuing",
                "must not be empty if limited.limitResponse.type is Limited",
            )),
        },
        "Reject" => {
            if queuing.is_some() {
                out.push(Cause::forbidden(
                    "spec.limited.limitResponse.queuing",
                    "must be nil if limited.limitResponse.type is not Limited",
                ));
            }
        }
        other => out.push(Cause::not_supported(
            "spec.limited.limitResponse.type",
            other,
            &["Queue", "Reject"],
        )),
    }
    if let Some(p) = n("lendablePercent").filter(|p| !(0..=100).contains(p)) {
        out.push(Cause::invalid(
            "spec.limited.lendablePercent",
            &json!(p),
            "must be between 0 and 100, inclusive",
        ));
    }
    if let Some(p) = n("borrowingLimitPercent").filter(|p| *p < 0) {
        out.push(Cause::invalid(
            "spec.limited.borrowingLimitPercent",
            &json!(p),
            "if specified, must be a non-negative integer",
        ));
    }
    out
}

/// FlowSchema defaults: `matchingPrecedence` 1000 (zero is unset).
pub fn default_flow_schema(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec
        .get("matchingPrecedence")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        == 0
    {
        spec.insert("matchingPrecedence".into(), json!(1000));
    }
}

/// PriorityLevelConfiguration defaults of the stored form: a limited level's shares 30,
/// `lendablePercent` 0, queuing 64 queues, hand size 8, 50 per queue (zero is unset); an
/// exempt level's shares and `lendablePercent` 0.
pub fn default_priority_level(obj: &mut Value) {
    let zero = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0) == 0;
    if let Some(l) = obj
        .pointer_mut("/spec/limited")
        .and_then(Value::as_object_mut)
    {
        if zero(l.get("nominalConcurrencyShares")) {
            l.insert("nominalConcurrencyShares".into(), json!(30));
        }
        l.entry("lendablePercent").or_insert(json!(0));
        if let Some(q) = l
            .get_mut("limitResponse")
            .and_then(|r| r.get_mut("queuing"))
            .and_then(Value::as_object_mut)
        {
            for (k, d) in [("queues", 64), ("handSize", 8), ("queueLengthLimit", 50)] {
                if zero(q.get(k)) {
                    q.insert(k.into(), json!(d));
                }
            }
        }
    }
    if let Some(e) = obj
        .pointer_mut("/spec/exempt")
        .and_then(Value::as_object_mut)
    {
        e.entry("nominalConcurrencyShares").or_insert(json!(0));
        e.entry("lendablePercent").or_insert(json!(0));
    }
}

/// Renames `limited.<from>` to `limited.<to>` (v1beta2 ↔ v1beta3 shares).
fn rename_shares(mut obj: Value, from: &str, to: &str) -> Value {
    if let Some(l) = obj
        .pointer_mut("/spec/limited")
        .and_then(Value::as_object_mut)
        && let Some(v) = l.remove(from)
    {
        l.insert(to.into(), v);
    }
    obj
}

/// Upstream's FlowSchema order: matching precedence, then name.
fn by_precedence(a: &Value, b: &Value) -> std::cmp::Ordering {
    let p = |o: &Value| {
        o.pointer("/spec/matchingPrecedence")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    p(a).cmp(&p(b))
        .then_with(|| crate::meta::name(a).cmp(crate::meta::name(b)))
}

/// The FlowSchema strategy (both versions: their schemas are equal).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowSchema {
    /// Whether this is the deprecated v1beta2.
    pub v1beta2: bool,
}

impl Strategy for FlowSchema {
    fn defaults(&self, obj: &mut Value) {
        default_flow_schema(obj);
    }

    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        validate_flow_schema(new)
    }

    fn table_order(&self) -> Option<fn(&Value, &Value) -> std::cmp::Ordering> {
        Some(by_precedence)
    }

    fn warning(&self) -> Option<&'static str> {
        self.v1beta2.then_some(
            r#"299 - "flowcontrol.apiserver.k8s.io/v1beta2 FlowSchema is deprecated in v1.26+, unavailable in v1.29+; use flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema""#,
        )
    }
}

/// The PriorityLevelConfiguration strategy; v1beta2 converts its shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct PriorityLevel {
    /// Whether this is the deprecated v1beta2.
    pub v1beta2: bool,
}

impl Strategy for PriorityLevel {
    fn defaults(&self, obj: &mut Value) {
        if self.v1beta2 {
            let mut stored = self.to_stored(std::mem::take(obj));
            default_priority_level(&mut stored);
            *obj = self.to_served(stored);
        } else {
            default_priority_level(obj);
        }
    }

    fn validate(&self, _old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        let stored = if self.v1beta2 {
            self.to_stored(new.clone())
        } else {
            new.clone()
        };
        validate_priority_level(&stored)
    }

    fn converts(&self) -> bool {
        self.v1beta2
    }

    fn to_served(&self, stored: Value) -> Value {
        rename_shares(
            stored,
            "nominalConcurrencyShares",
            "assuredConcurrencyShares",
        )
    }

    fn to_stored(&self, served: Value) -> Value {
        rename_shares(
            served,
            "assuredConcurrencyShares",
            "nominalConcurrencyShares",
        )
    }

    fn warning(&self) -> Option<&'static str> {
        self.v1beta2.then_some(
            r#"299 - "flowcontrol.apiserver.k8s.io/v1beta2 PriorityLevelConfiguration is deprecated in v1.26+, unavailable in v1.29+; use flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfiguration""#,
        )
    }
}

#[cfg(test)]
mod tests;
