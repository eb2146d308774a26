//! The built-in definitions: generated from k8s-openapi's typed API (`schemars`), with the
//! `x-kubernetes-*` extensions merged in from the vendored upstream v1.33 data.

use std::collections::HashMap;
use std::sync::LazyLock;

use k8s_openapi::schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use k8s_openapi::{ListableResource, Resource};
use serde_json::{Map, Value, json};

use super::compile::{Compiler, EmptyObject};
use super::types::{BuiltinKind, Gvk, SchemaError, SchemaIndex};

/// Upstream's extensions per definition ("" = the definition itself) and per property.
const EXTENSIONS: &str = include_str!("../../openapi-data/k8s-v1.33-extensions.json");

pub(super) static BUILTIN: LazyLock<Result<SchemaIndex, String>> =
    LazyLock::new(|| build().map_err(|e| e.to_string()));

impl BuiltinKind {
    /// The kind's group-version-kind.
    pub fn gvk(&self) -> Gvk {
        Gvk::new(self.group, self.version, self.kind)
    }

    /// The definition name of the list kind (same package as the kind).
    pub fn list_definition(&self) -> Option<String> {
        let list_kind = self.list_kind?;
        let (package, _) = self.definition.rsplit_once('.')?;
        Some(format!("{package}.{list_kind}"))
    }
}

/// Maps k8s-openapi's scope marker types to namespacedness.
trait ScopeFact {
    const NAMESPACED: Option<bool>;
}

impl ScopeFact for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: Option<bool> = Some(true);
}

impl ScopeFact for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: Option<bool> = Some(false);
}

impl ScopeFact for k8s_openapi::SubResourceScope {
    const NAMESPACED: Option<bool> = None;
}

struct Registry {
    generator: SchemaGenerator,
    kinds: Vec<BuiltinKind>,
}

impl Registry {
    fn kind<T>(&mut self) -> &mut BuiltinKind
    where
        T: Resource + JsonSchema,
        T::Scope: ScopeFact,
    {
        self.generator.subschema_for::<T>();
        self.kinds.push(BuiltinKind {
            group: T::GROUP,
            version: T::VERSION,
            kind: T::KIND,
            plural: T::URL_PATH_SEGMENT,
            namespaced: <T::Scope as ScopeFact>::NAMESPACED,
            list_kind: None,
            definition: T::schema_name().into_owned(),
        });
        let last = self.kinds.len() - 1;
        &mut self.kinds[last]
    }

    fn listable<T>(&mut self)
    where
        T: ListableResource + JsonSchema,
        T::Scope: ScopeFact,
    {
        self.kind::<T>().list_kind = Some(T::LIST_KIND);
    }
}

macro_rules! register {
    ($reg:ident; listable: $($l:ty),* ; single: $($s:ty),* $(,)?) => {
        $( $reg.listable::<$l>(); )*
        $( $reg.kind::<$s>(); )*
    };
}

/// Generates every built-in definition and registers the kinds (GA API groups).
fn register_all(reg: &mut Registry) {
    use k8s_openapi::api::{
        admissionregistration, apps, authentication, authorization, autoscaling, batch,
        certificates, coordination, core, discovery, events, flowcontrol, networking, node, policy,
        rbac, scheduling, storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
    use k8s_openapi::apimachinery::pkg::apis::meta;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;
    register!(reg;
        listable:
        core::v1::ComponentStatus, core::v1::ConfigMap, core::v1::Endpoints, core::v1::Event,
        core::v1::LimitRange, core::v1::Namespace, core::v1::Node, core::v1::PersistentVolume,
        core::v1::PersistentVolumeClaim, core::v1::Pod, core::v1::PodTemplate,
        core::v1::ReplicationController, core::v1::ResourceQuota, core::v1::Secret,
        core::v1::Service, core::v1::ServiceAccount,
        apps::v1::ControllerRevision, apps::v1::DaemonSet, apps::v1::Deployment,
        apps::v1::ReplicaSet, apps::v1::StatefulSet,
        autoscaling::v1::HorizontalPodAutoscaler, autoscaling::v2::HorizontalPodAutoscaler,
        batch::v1::CronJob, batch::v1::Job,
        certificates::v1::CertificateSigningRequest,
        coordination::v1::Lease,
        discovery::v1::EndpointSlice,
        events::v1::Event,
        flowcontrol::v1::FlowSchema, flowcontrol::v1::PriorityLevelConfiguration,
        networking::v1::Ingress, networking::v1::IngressClass, networking::v1::IPAddress,
        networking::v1::NetworkPolicy, networking::v1::ServiceCIDR,
        node::v1::RuntimeClass,
        policy::v1::PodDisruptionBudget,
        rbac::v1::ClusterRole, rbac::v1::ClusterRoleBinding, rbac::v1::Role,
        rbac::v1::RoleBinding,
        scheduling::v1::PriorityClass,
        storage::v1::CSIDriver, storage::v1::CSINode, storage::v1::CSIStorageCapacity,
        storage::v1::StorageClass, storage::v1::VolumeAttachment,
        admissionregistration::v1::MutatingWebhookConfiguration,
        admissionregistration::v1::ValidatingAdmissionPolicy,
        admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        admissionregistration::v1::ValidatingWebhookConfiguration,
        apiextensions::v1::CustomResourceDefinition,
        apiregistration::v1::APIService;
        single:
        core::v1::Binding, autoscaling::v1::Scale, policy::v1::Eviction,
        authentication::v1::TokenRequest, authentication::v1::TokenReview,
        authentication::v1::SelfSubjectReview,
        authorization::v1::LocalSubjectAccessReview, authorization::v1::SelfSubjectAccessReview,
        authorization::v1::SelfSubjectRulesReview, authorization::v1::SubjectAccessReview,
        meta::v1::Status, meta::v1::APIGroup, meta::v1::APIGroupList,
        meta::v1::APIResourceList, meta::v1::APIVersions,
    );
    reg.generator.subschema_for::<meta::v1::DeleteOptions>();
    reg.generator
        .subschema_for::<meta::v1::WatchEvent<core::v1::Pod>>();
    reg.generator.subschema_for::<meta::v1::Patch>();
}

fn build() -> Result<SchemaIndex, SchemaError> {
    let settings = SchemaSettings::draft07().with(|s| {
        s.definitions_path = "/definitions".into();
        s.meta_schema = None;
        s.transforms = Vec::new();
    });
    let mut reg = Registry {
        generator: SchemaGenerator::new(settings),
        kinds: Vec::new(),
    };
    register_all(&mut reg);
    let mut definitions = reg.generator.take_definitions(false);
    for kind in &reg.kinds {
        add_list_definition(&mut definitions, kind);
        if let Some(Value::Object(def)) = definitions.get_mut(&kind.definition) {
            // k8s-openapi marks metadata required (its structs hold it by value); upstream
            // does not.
            drop_required_metadata(def);
        }
    }
    let overlay: Map<String, Value> =
        serde_json::from_str(EXTENSIONS).map_err(|e| SchemaError::EmbeddedData(e.to_string()))?;
    apply_overlay(&mut definitions, &overlay);
    for version in ["v1beta3", "v1beta2"] {
        flowcontrol_beta(&mut definitions, &mut reg.kinds, version);
    }
    for kind in &reg.kinds {
        ensure_gvk(&mut definitions, &kind.definition, kind);
    }
    compile_index(definitions, reg.kinds)
}

fn compile_index(
    definitions: Map<String, Value>,
    builtin_kinds: Vec<BuiltinKind>,
) -> Result<SchemaIndex, SchemaError> {
    let mut compiler = Compiler::new(&definitions, EmptyObject::Opaque, None);
    let mut kinds = HashMap::new();
    for (name, def) in &definitions {
        let id = compiler.named(name)?;
        for gvk in def_gvks(def) {
            kinds.entry(gvk).or_insert(id);
        }
    }
    let nodes = std::mem::take(&mut compiler.nodes);
    let named = std::mem::take(&mut compiler.named);
    drop(compiler);
    Ok(SchemaIndex {
        nodes,
        named,
        kinds,
        root: None,
        base: None,
        definitions,
        builtin_kinds,
    })
}

/// The group-version-kinds a definition declares.
fn def_gvks(def: &Value) -> Vec<Gvk> {
    let Some(list) = def
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|g| {
            Some(Gvk::new(
                g.get("group")?.as_str()?,
                g.get("version")?.as_str()?,
                g.get("kind")?.as_str()?,
            ))
        })
        .collect()
}

fn drop_required_metadata(def: &mut Map<String, Value>) {
    let Some(Value::Array(required)) = def.get_mut("required") else {
        return;
    };
    required.retain(|r| r != "metadata");
    if required.is_empty() {
        def.remove("required");
    }
}

/// k8s-openapi's lists are one generic type without a schema; every upstream list kind has the
/// same shape, so it is derived from the item kind.
fn add_list_definition(definitions: &mut Map<String, Value>, kind: &BuiltinKind) {
    let (Some(list_kind), Some(name)) = (kind.list_kind, kind.list_definition()) else {
        return;
    };
    let def = json!({
        "description": format!("{list_kind} is a list of {} objects.", kind.kind),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string"
            },
            "items": {
                "description": format!("List of {}.", kind.plural),
                "type": "array",
                "items": {"$ref": format!("#/definitions/{}", kind.definition)}
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string"
            },
            "metadata": {
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
            }
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [
            {"group": kind.group, "kind": list_kind, "version": kind.version}
        ]
    });
    definitions.entry(name).or_insert(def);
}

/// Merges the vendored extensions into the generated definitions; entries for fields the
/// typed definitions lack are skipped (they describe no field we serve).
fn apply_overlay(definitions: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (name, entry) in overlay {
        let (Some(Value::Object(def)), Some(entry)) =
            (definitions.get_mut(name), entry.as_object())
        else {
            continue;
        };
        for (prop, ext) in entry {
            let Some(ext) = ext.as_object() else { continue };
            let target = if prop.is_empty() {
                Some(&mut *def)
            } else {
                def.get_mut("properties")
                    .and_then(|p| p.get_mut(prop))
                    .and_then(Value::as_object_mut)
            };
            if let Some(target) = target {
                for (k, v) in ext {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

fn ensure_gvk(definitions: &mut Map<String, Value>, name: &str, kind: &BuiltinKind) {
    let Some(Value::Object(def)) = definitions.get_mut(name) else {
        return;
    };
    let entry = json!({"group": kind.group, "kind": kind.kind, "version": kind.version});
    let list = def
        .entry("x-kubernetes-group-version-kind")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list
        && !list.contains(&entry)
    {
        list.push(entry);
    }
}

/// `flowcontrol.apiserver.k8s.io` `version` (served as v1.28 serves it; k8s-openapi only has
/// v1): copies of the v1 definitions, whose schema v1beta3 shares, with v1beta2's
/// `assuredConcurrencyShares` in place of `nominalConcurrencyShares`.
fn flowcontrol_beta(
    definitions: &mut Map<String, Value>,
    kinds: &mut Vec<BuiltinKind>,
    version: &'static str,
) {
    const V1: &str = "io.k8s.api.flowcontrol.v1.";
    let beta = format!("io.k8s.api.flowcontrol.{version}.");
    let copies: Vec<(String, Value)> = definitions
        .iter()
        .filter(|(name, _)| name.starts_with(V1))
        .filter_map(|(name, def)| {
            let mut def: Value = serde_json::from_str(&def.to_string().replace(V1, &beta)).ok()?;
            if let Some(gvks) = def
                .get_mut("x-kubernetes-group-version-kind")
                .and_then(Value::as_array_mut)
            {
                for gvk in gvks {
                    gvk["version"] = json!(version);
                }
            }
            if version == "v1beta2"
                && name.ends_with(".LimitedPriorityLevelConfiguration")
                && let Some(props) = def.get_mut("properties").and_then(Value::as_object_mut)
                && let Some(p) = props.remove("nominalConcurrencyShares")
            {
                props.insert("assuredConcurrencyShares".into(), p);
            }
            Some((name.replacen(V1, &beta, 1), def))
        })
        .collect();
    definitions.extend(copies);
    for (kind, plural, list) in [
        ("FlowSchema", "flowschemas", "FlowSchemaList"),
        (
            "PriorityLevelConfiguration",
            "prioritylevelconfigurations",
            "PriorityLevelConfigurationList",
        ),
    ] {
        kinds.push(BuiltinKind {
            group: "flowcontrol.apiserver.k8s.io",
            version,
            kind,
            plural,
            namespaced: Some(false),
            list_kind: Some(list),
            definition: format!("{beta}{kind}"),
        });
    }
}

#[cfg(test)]
pub(super) fn overlay_for_tests() -> Map<String, Value> {
    serde_json::from_str(EXTENSIONS).unwrap_or_default()
}
