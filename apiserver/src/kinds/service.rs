//! Services: defaults, validation, clusterIP and nodePort allocation.

use serde_json::{Value, json};

use std::sync::{Arc, Mutex, MutexGuard};

use super::names::NameRule;
use crate::error::{ApiError, ApiResult, Cause};
use crate::ipalloc::ServiceAllocator;
use crate::registry::def::{Ctx, Origin, Strategy};

const TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];

fn svc_type(obj: &Value) -> &str {
    obj.pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

/// Service defaults (upstream `SetDefaults_Service`).
pub fn defaults(svc: &mut Value) {
    let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.entry("type").or_insert_with(|| json!("ClusterIP"));
    let t = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if t != "ExternalName" {
        spec.entry("sessionAffinity")
            .or_insert_with(|| json!("None"));
        spec.entry("internalTrafficPolicy")
            .or_insert_with(|| json!("Cluster"));
    }
    if t == "NodePort" || t == "LoadBalancer" {
        spec.entry("externalTrafficPolicy")
            .or_insert_with(|| json!("Cluster"));
    }
    if t == "LoadBalancer" {
        spec.entry("allocateLoadBalancerNodePorts")
            .or_insert_with(|| json!(true));
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut() {
            let Some(po) = p.as_object_mut() else {
                continue;
            };
            po.entry("protocol").or_insert_with(|| json!("TCP"));
            if !po.contains_key("targetPort")
                && let Some(port) = po.get("port").cloned()
            {
                po.insert("targetPort".into(), port);
            }
        }
    }
    if let Some(o) = svc.as_object_mut() {
        let status = o.entry("status").or_insert_with(|| json!({}));
        if let Some(s) = status.as_object_mut() {
            s.entry("loadBalancer").or_insert_with(|| json!({}));
        }
    }
}

/// Service validation.
pub fn validate(old: Option<&Value>, new: &Value) -> Vec<Cause> {
    let mut out = Vec::new();
    let t = svc_type(new);
    if !TYPES.contains(&t) {
        out.push(Cause::not_supported("spec.type", t, TYPES));
    }
    let ports = new
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let headless = new.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    if ports.is_empty() && t != "ExternalName" && !headless {
        out.push(Cause::required("spec.ports", ""));
    }
    let mut names: Vec<&str> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&port) {
            out.push(Cause::invalid(
                &format!("spec.ports[{i}].port"),
                &json!(port),
                "must be between 1 and 65535, inclusive",
            ));
        }
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        if ports.len() > 1 && name.is_empty() {
            out.push(Cause::required(&format!("spec.ports[{i}].name"), ""));
        }
        if !name.is_empty() {
            if names.contains(&name) {
                out.push(Cause::duplicate(
                    &format!("spec.ports[{i}].name"),
                    &json!(name),
                ));
            }
            names.push(name);
        }
        if let Some(proto) = p.get("protocol").and_then(Value::as_str)
            && !["TCP", "UDP", "SCTP"].contains(&proto)
        {
            out.push(Cause::not_supported(
                &format!("spec.ports[{i}].protocol"),
                proto,
                &["SCTP", "TCP", "UDP"],
            ));
        }
    }
    if t == "ExternalName"
        && new
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
    {
        out.push(Cause::required("spec.externalName", ""));
    }
    if let Some(old) = old {
        let old_ip = old
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let new_ip = new
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let leaving_ip = t == "ExternalName" || svc_type(old) == "ExternalName";
        if !old_ip.is_empty() && old_ip != new_ip && !leaving_ip {
            out.push(Cause::invalid(
                "spec.clusterIPs[0]",
                &json!([new_ip]),
                "may not change once set",
            ));
        }
    }
    out
}

fn alloc_error(field: &str, value: Value, e: &crate::ipalloc::AllocError, what: &str) -> Cause {
    Cause::invalid(field, &value, &format!("failed to allocate {what}: {e}"))
}

fn invalid(obj: &Value, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid("Service", "", crate::meta::name(obj), causes)
}

/// Keeps the clusterIPs and node ports an update did not mention.
pub fn carry_allocated(old: &Value, new: &mut Value) {
    let old_ip = old
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    let cur = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if cur.is_empty() && !old_ip.is_empty() && !external {
        spec.insert("clusterIP".into(), json!(old_ip));
    }
    let ips_empty = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty() || a.iter().all(|x| x.as_str() == Some("")));
    if ips_empty
        && !external
        && let Some(ips) = old.pointer("/spec/clusterIPs")
    {
        spec.insert("clusterIPs".into(), ips.clone());
    }
    if let (Some(Value::Array(new_ports)), Some(old_ports)) = (
        spec.get_mut("ports"),
        old.pointer("/spec/ports").and_then(Value::as_array),
    ) {
        for np in new_ports.iter_mut() {
            if np
                .get("nodePort")
                .is_some_and(|p| p.as_u64().unwrap_or(0) != 0)
            {
                continue;
            }
            let same = old_ports.iter().find(|op| {
                op.get("port") == np.get("port") && op.get("protocol") == np.get("protocol")
            });
            if let (Some(o), Some(port)) =
                (np.as_object_mut(), same.and_then(|op| op.get("nodePort")))
            {
                o.insert("nodePort".into(), port.clone());
            }
        }
    }
    for k in ["ipFamilies", "ipFamilyPolicy"] {
        if !spec.contains_key(k)
            && let Some(v) = old.pointer(&format!("/spec/{k}"))
        {
            spec.insert(k.into(), v.clone());
        }
    }
}

/// Allocates the clusterIP and node ports a new service, or a type change, needs.
fn allocate(
    alloc: &Mutex<ServiceAllocator>,
    dry_run: bool,
    old: Option<&Value>,
    svc: &mut Value,
) -> ApiResult<()> {
    let t = svc_type(svc).to_string();
    let mut alloc = lock(alloc);
    let obj_for_err = svc.clone();
    let spec = svc
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::bad_request("service has no spec"))?;
    let old_ip = old
        .and_then(|o| o.pointer("/spec/clusterIP"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if t == "ExternalName" {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    } else {
        let requested = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let ip = if requested == "None" {
            "None".to_string()
        } else if !requested.is_empty() && requested == old_ip {
            requested
        } else {
            let r = (!requested.is_empty()).then_some(requested.as_str());
            let got = alloc.allocate_ip(r).map_err(|e| {
                invalid(
                    &obj_for_err,
                    vec![alloc_error(
                        "spec.clusterIPs",
                        json!([requested]),
                        &e,
                        &format!("IP {requested}"),
                    )],
                )
            })?;
            if dry_run {
                alloc.release_ip(&got);
            }
            got
        };
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
        if ip != "None" {
            spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
            spec.entry("ipFamilyPolicy")
                .or_insert_with(|| json!("SingleStack"));
        } else {
            spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
            spec.entry("ipFamilyPolicy")
                .or_insert_with(|| json!("SingleStack"));
        }
    }
    let wants_ports = t == "NodePort"
        || (t == "LoadBalancer"
            && spec
                .get("allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false));
    let old_ports: Vec<u16> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .filter_map(|p| u16::try_from(p).ok())
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for (i, p) in ports.iter_mut().enumerate() {
            let Some(po) = p.as_object_mut() else {
                continue;
            };
            if !wants_ports {
                po.remove("nodePort");
                continue;
            }
            let requested = po
                .get("nodePort")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0);
            if requested.is_some_and(|r| old_ports.contains(&r)) {
                continue;
            }
            let got = alloc.allocate_port(requested).map_err(|e| {
                invalid(
                    &obj_for_err,
                    vec![Cause::invalid(
                        &format!("spec.ports[{i}].nodePort"),
                        &json!(requested.unwrap_or(0)),
                        &e.to_string(),
                    )],
                )
            })?;
            if dry_run {
                alloc.release_port(got);
            }
            po.insert("nodePort".into(), json!(got));
        }
    }
    Ok(())
}

/// Frees the clusterIP and node ports of a deleted service.
fn release(alloc: &Mutex<ServiceAllocator>, svc: &Value) {
    let mut alloc = lock(alloc);
    if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str)
        && ip != "None"
    {
        alloc.release_ip(ip);
    }
    if let Some(ports) = svc.pointer("/spec/ports").and_then(Value::as_array) {
        for p in ports {
            if let Some(n) = p
                .get("nodePort")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
            {
                alloc.release_port(n);
            }
        }
    }
}

/// Marks what a stored service holds (at start).
fn mark(alloc: &Mutex<ServiceAllocator>, svc: &Value) {
    let mut alloc = lock(alloc);
    if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
        alloc.mark_ip(ip);
    }
    if let Some(ports) = svc.pointer("/spec/ports").and_then(Value::as_array) {
        for p in ports {
            if let Some(n) = p
                .get("nodePort")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
            {
                alloc.mark_port(n);
            }
        }
    }
}

/// Frees what `old` held and `new` no longer does (type changes).
fn release_dropped(alloc: &Mutex<ServiceAllocator>, old: &Value, new: &Value) {
    let ip = |v: &Value| {
        v.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let ports = |v: &Value| -> Vec<u16> {
        v.pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                    .filter_map(|n| u16::try_from(n).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut alloc = lock(alloc);
    let (oi, ni) = (ip(old), ip(new));
    if !oi.is_empty() && oi != "None" && oi != ni {
        alloc.release_ip(&oi);
    }
    let np = ports(new);
    for p in ports(old) {
        if !np.contains(&p) {
            alloc.release_port(p);
        }
    }
}

fn lock(alloc: &Mutex<ServiceAllocator>) -> MutexGuard<'_, ServiceAllocator> {
    alloc.lock().unwrap_or_else(|p| p.into_inner())
}

/// The Service strategy; it owns the server's clusterIP and nodePort allocations.
#[derive(Debug)]
pub struct Service {
    alloc: Arc<Mutex<ServiceAllocator>>,
}

impl Service {
    /// A strategy allocating from `alloc`.
    pub fn new(alloc: Arc<Mutex<ServiceAllocator>>) -> Self {
        Service { alloc }
    }
}

impl Strategy for Service {
    fn defaults(&self, obj: &mut Value) {
        defaults(obj);
    }
    fn name_rule(&self) -> NameRule {
        NameRule::Dns1035
    }
    fn validate(&self, old: Option<&Value>, new: &Value, _: Origin) -> Vec<Cause> {
        validate(old, new)
    }
    fn admit_create(&self, ctx: &Ctx<'_>, obj: &mut Value) -> ApiResult<()> {
        allocate(&self.alloc, ctx.dry_run, None, obj)
    }
    fn carry_over(&self, old: &Value, new: &mut Value) {
        carry_allocated(old, new);
    }
    fn admit_update(&self, ctx: &Ctx<'_>, old: &Value, new: &mut Value) -> ApiResult<()> {
        allocate(&self.alloc, ctx.dry_run, Some(old), new)
    }
    fn released(&self, obj: &Value) {
        release(&self.alloc, obj);
    }
    fn after_write(&self, old: Option<&Value>, new: Option<&Value>) {
        match (old, new) {
            (Some(o), None) => release(&self.alloc, o),
            (Some(o), Some(n)) => release_dropped(&self.alloc, o, n),
            _ => {}
        }
    }
    fn keeps_derived_state(&self) -> bool {
        true
    }
    fn loaded(&self, obj: &Value) {
        mark(&self.alloc, obj);
    }
    fn returns_deleted_object(&self) -> bool {
        true
    }
}
