//! A served resource's definition and the per-kind [`Strategy`] registered on it (upstream's
//! `RESTStrategy`): everything the generic storage layer asks a kind.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::crd::CrdServing;
use crate::auth::User;
use crate::error::{ApiError, ApiResult, Cause};
use crate::ipalloc::ServiceAllocator;
use crate::kinds::names::NameRule;
use crate::store::Store;
use crate::table::Printer;

/// Typed decoding of a body: rejects wrong types as upstream's decoder does, drops unknown
/// fields, and returns the normalized JSON (or the decoder's message).
pub type TypedDecode = fn(Value) -> Result<Value, String>;

/// The [`TypedDecode`] of a k8s-openapi type.
pub fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
    obj: Value,
) -> Result<Value, String> {
    let v: T = serde_json::from_value(obj).map_err(|e| e.to_string())?;
    serde_json::to_value(&v).map_err(|e| e.to_string())
}

/// Who writes an object, for the few checks the server's own writers are exempt from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An API request: every check applies.
    Client,
    /// The server itself (bootstrap objects, control loops): endpoint addresses are not
    /// checked, so the `kubernetes` endpoints of a server on a loopback address, and pods
    /// whose IP is a node's loopback address, still get endpoints.
    Server,
}

/// What a strategy hook may look at.
pub struct Ctx<'a> {
    /// Stored objects (read-only use: lookups of related objects).
    pub store: &'a Store,
    /// The resource being written.
    pub def: &'a ResourceDef,
    /// Who writes.
    pub user: &'a User,
    /// Whether this is a dry run (no allocations may stick).
    pub dry_run: bool,
}

/// Shared state strategies may hold (one per server).
#[derive(Debug, Clone)]
pub struct Shared {
    /// Service clusterIP and nodePort allocations.
    pub services: Arc<Mutex<ServiceAllocator>>,
}

impl Shared {
    /// State allocating services from `service_range`.
    pub fn new(service_range: ipnet::Ipv4Net) -> Self {
        Shared {
            services: Arc::new(Mutex::new(ServiceAllocator::new(service_range))),
        }
    }

    /// State of a registry that serves no requests (lookups of definitions only).
    pub fn detached() -> Self {
        Shared::new(
            ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 0, 0, 0), 24).unwrap_or_default(),
        )
    }
}

/// A kind's behaviour on writes. Every method has the behaviour of an ordinary kind as its
/// default; a kind overrides what differs.
pub trait Strategy: Send + Sync + std::fmt::Debug {
    /// Defaults, applied to every decoded object (create and update); idempotent.
    fn defaults(&self, _obj: &mut Value) {}
    /// Extra normalisation right after decoding (before metadata is filled in).
    fn after_decode(&self, _obj: &mut Value) {}
    /// The rule object names follow.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }
    /// Validation of a new (`old` = `None`) or updated object.
    fn validate(&self, _old: Option<&Value>, _new: &Value, _origin: Origin) -> Vec<Cause> {
        Vec::new()
    }
    /// Create-time admission: allocations and fields derived from other objects.
    fn admit_create(&self, _ctx: &Ctx<'_>, _obj: &mut Value) -> ApiResult<()> {
        Ok(())
    }
    /// Keeps server-set values an update left out (before validation and generation).
    fn carry_over(&self, _old: &Value, _new: &mut Value) {}
    /// Last changes to a main-resource update after generation is set (e.g. status the server
    /// computes); writes through a subresource keep what they wrote.
    fn prepare_update(&self, _old: &Value, _new: &mut Value) {}
    /// Adjusts an update through a partial-update subresource after the generic merge (e.g.
    /// CSR `status` keeps the approval conditions only `approval` may change).
    fn prepare_subresource_update(&self, _sub: &str, _old: &Value, _new: &mut Value) {}
    /// Validation of an update through a partial-update subresource (upstream validates some,
    /// like `pods/ephemeralcontainers`, by their own rules); by default the kind's own.
    fn validate_subresource_update(
        &self,
        _sub: &str,
        old: &Value,
        new: &Value,
        origin: Origin,
    ) -> Vec<Cause> {
        self.validate(Some(old), new, origin)
    }
    /// Update-time admission.
    fn admit_update(&self, _ctx: &Ctx<'_>, _old: &Value, _new: &mut Value) -> ApiResult<()> {
        Ok(())
    }
    /// A create that admission prepared did not happen: releases what admission took.
    fn released(&self, _obj: &Value) {}
    /// After a committed write (`old`/`new` = `None` for create/delete).
    fn after_write(&self, _old: Option<&Value>, _new: Option<&Value>) {}
    /// Whether [`loaded`](Strategy::loaded) must see every stored object at startup.
    fn keeps_derived_state(&self) -> bool {
        false
    }
    /// A stored object seen at startup (rebuilds what `after_write` maintains).
    fn loaded(&self, _obj: &Value) {}
    /// Whether writes change the set of served resources (CRDs).
    fn changes_served_resources(&self) -> bool {
        false
    }
    /// Whether a create drops `status` (false: the creator sets it, e.g. nodes).
    fn resets_status_on_create(&self) -> bool {
        true
    }
    /// Whether the object's namespace must exist and not be terminating.
    fn needs_live_namespace(&self) -> bool {
        true
    }
    /// Whether a PUT on a missing object creates it (upstream `AllowCreateOnUpdate`).
    fn allow_create_on_update(&self) -> bool {
        false
    }
    /// Whether DELETE answers with the deleted object instead of a `Status`.
    fn returns_deleted_object(&self) -> bool {
        false
    }
    /// Grace period of a deletion (`requested` from the delete options); 0 deletes at once.
    fn grace_period(&self, _obj: &Value, _requested: Option<i64>) -> i64 {
        0
    }
    /// Whether something besides `metadata.finalizers` holds a deleting object.
    fn holds_deletion(&self, _obj: &Value) -> bool {
        false
    }
    /// Marks an object whose deletion is pending (e.g. a namespace's `Terminating` phase).
    fn mark_deleting(&self, _obj: &mut Value) {}
    /// Whether stored objects differ from the served form (see `to_served`/`to_stored`).
    fn converts(&self) -> bool {
        false
    }
    /// A stored object in the served version.
    fn to_served(&self, stored: Value) -> Value {
        stored
    }
    /// A served object in its stored form.
    fn to_stored(&self, served: Value) -> Value {
        served
    }
    /// A `Warning` header value sent with every response about this resource (upstream's
    /// deprecation warning of a deprecated version).
    fn warning(&self) -> Option<&'static str> {
        None
    }
    /// The order of a Table's rows when upstream's printer sorts them (FlowSchemas by
    /// matching precedence); `None` keeps the list's order.
    fn table_order(&self) -> Option<fn(&Value, &Value) -> std::cmp::Ordering> {
        None
    }
}

/// The strategy of kinds without behaviour of their own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Strategy for Plain {}

/// Every verb of an ordinary stored resource.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A subresource of a resource (`pods/status`, `pods/log`, ...).
#[derive(Debug, Clone)]
pub struct Subresource {
    /// Name after the slash.
    pub name: &'static str,
    /// Kind returned (`Pod`, `Binding`, `Scale`...).
    pub kind: &'static str,
    /// Group of that kind ("" = same as the resource or core).
    pub group: &'static str,
    /// Version of that kind ("" = same as the resource).
    pub version: &'static str,
    /// Verbs it supports.
    pub verbs: &'static [&'static str],
    /// For subresources that update the object (`status`, `finalize`, `approval`...): the JSON
    /// pointers an update through it takes from the new object; everything else stays as
    /// stored. Empty for the others (`log`, `scale`, `binding`...).
    pub writes: &'static [&'static str],
}

impl Subresource {
    /// A subresource that is not a partial update of the object (`log`, `exec`, `binding`...).
    pub const fn other(
        name: &'static str,
        kind: &'static str,
        verbs: &'static [&'static str],
    ) -> Self {
        Subresource {
            name,
            kind,
            group: "",
            version: "",
            verbs,
            writes: &[],
        }
    }

    /// A subresource whose updates replace only `writes` of the object (upstream's per
    /// subresource update strategies: `status`, `finalize`, `approval`, `ephemeralcontainers`).
    pub const fn partial(name: &'static str, writes: &'static [&'static str]) -> Self {
        Subresource {
            name,
            kind: "",
            group: "",
            version: "",
            verbs: &["get", "patch", "update"],
            writes,
        }
    }

    /// The `status` subresource.
    pub const fn status() -> Self {
        Subresource::partial("status", &["/status"])
    }

    /// The `scale` subresource (`autoscaling/v1 Scale`).
    pub const fn scale() -> Self {
        Subresource {
            name: "scale",
            kind: "Scale",
            group: "autoscaling",
            version: "v1",
            verbs: &["get", "patch", "update"],
            writes: &[],
        }
    }

    /// Whether updates through it replace parts of the object.
    pub fn is_partial_update(&self) -> bool {
        !self.writes.is_empty()
    }
}

/// One served resource in one group-version.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource name.
    pub resource: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Verbs on the main resource.
    pub verbs: Vec<&'static str>,
    /// Subresources.
    pub subresources: Vec<Subresource>,
    /// Storage key shared by all versions of the resource (e.g. `apps/deployments`).
    pub storage: String,
    /// Selectable fields beyond `metadata.name`/`metadata.namespace`.
    pub fields: Vec<String>,
    /// Whether it has a `status` that only the status subresource writes.
    pub has_status: bool,
    /// Whether `metadata.generation` tracks spec changes.
    pub generation: bool,
    /// Custom-resource serving details, for CRD-served resources.
    pub crd: Option<Arc<CrdServing>>,
    /// The kind's behaviour on writes (defaults, validation, admission, hooks).
    pub strategy: Arc<dyn Strategy>,
    /// Typed decoding of request bodies (built-in kinds).
    pub typed: Option<TypedDecode>,
    /// The server-side table printer (`kubectl get` columns), when upstream has one.
    pub printer: Option<fn() -> Printer>,
    /// Where kubelet-served subresources (`log`, `exec`, `proxy`...) are forwarded.
    pub kubelet: Option<KubeletRoute>,
}

/// How a resource's kubelet-served subresources reach a kubelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeletRoute {
    /// The object is a node: `nodes/proxy` goes to its kubelet.
    Node,
    /// The object runs on a node (`spec.nodeName`): logs, exec, attach, port-forward.
    Pod,
}

impl ResourceDef {
    /// `apiVersion` string of this group-version.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the resource is stored (as opposed to virtual, create-only resources like
    /// SelfSubjectAccessReview).
    pub fn is_stored(&self) -> bool {
        self.verbs.contains(&"get")
    }

    /// Whether the server computes the objects on each read instead of storing them
    /// (`componentstatuses`: no storage key).
    pub fn is_computed(&self) -> bool {
        self.storage.is_empty()
    }

    /// Whether the resource supports `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// A subresource by name.
    pub fn subresource(&self, name: &str) -> Option<&Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Typed decoding of a body of this kind (built-ins), as a `400` on failure.
    pub fn decode_typed(&self, obj: Value) -> ApiResult<Value> {
        match self.typed {
            Some(decode) if self.crd.is_none() => decode(obj).map_err(|msg| {
                ApiError::bad_request(format!(
                    "{} in version {:?} cannot be handled as a {}: {}",
                    self.kind, self.version, self.kind, msg
                ))
            }),
            _ => Ok(obj),
        }
    }

    /// The selectable field paths, as stored in `StoredObject::fields`.
    pub fn field_paths(&self) -> Vec<&str> {
        self.fields.iter().map(String::as_str).collect()
    }

    /// Whether `field` can be used in a field selector.
    pub fn field_supported(&self, field: &str) -> bool {
        field == "metadata.name"
            || field == "metadata.namespace"
            || self.fields.iter().any(|f| f == field)
    }

    /// The entry of this resource in an `APIResourceList`, followed by its subresources.
    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.resource,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs,
        });
        if let Some(obj) = main.as_object_mut() {
            if !self.short_names.is_empty() {
                obj.insert("shortNames".into(), json!(self.short_names));
            }
            if !self.categories.is_empty() {
                obj.insert("categories".into(), json!(self.categories));
            }
            if self.is_stored() && !self.is_computed() {
                obj.insert(
                    "storageVersionHash".into(),
                    json!(storage_version_hash(self)),
                );
            }
        }
        let mut out = vec![main];
        for sub in &self.subresources {
            let mut e = json!({
                "name": format!("{}/{}", self.resource, sub.name),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": if sub.kind.is_empty() { self.kind.as_str() } else { sub.kind },
                "verbs": sub.verbs,
            });
            if let Some(obj) = e.as_object_mut() {
                if !sub.group.is_empty() {
                    obj.insert("group".into(), json!(sub.group));
                }
                if !sub.version.is_empty() {
                    obj.insert("version".into(), json!(sub.version));
                }
            }
            out.push(e);
        }
        out
    }
}

fn storage_version_hash(def: &ResourceDef) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{}/{}/{}", def.group, def.version, def.kind));
    base64::engine::general_purpose::STANDARD.encode(&digest[..8])
}
