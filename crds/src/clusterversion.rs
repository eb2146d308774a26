//! The `ClusterVersion` custom resource: the control-plane workloads a `native` tenant gets.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The control-plane components of a tenant, each a StatefulSet with its Service.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tenancy.x-k8s.io",
    version = "v1alpha1",
    kind = "ClusterVersion",
    plural = "clusterversions",
    singular = "clusterversion",
    shortname = "cv",
    doc = "The control-plane workloads (etcd, apiserver, controller-manager) a native tenant gets.",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterVersionSpec {
    /// The etcd datastore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<StatefulSetSvcBundle>,
    /// The tenant kube-apiserver.
    #[serde(default, rename = "apiServer", skip_serializing_if = "Option::is_none")]
    pub api_server: Option<StatefulSetSvcBundle>,
    /// The tenant kube-controller-manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_manager: Option<StatefulSetSvcBundle>,
}

/// A StatefulSet and the Service in front of it (upstream field names).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct StatefulSetSvcBundle {
    /// Name (and labels) of the component.
    #[serde(default)]
    #[schemars(schema_with = "embedded_object")]
    pub metadata: ObjectMeta,
    /// The StatefulSet running the component (`apps/v1` StatefulSet).
    #[serde(
        default,
        rename = "statefulset",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "embedded_object")]
    pub stateful_set: Option<StatefulSet>,
    /// The Service exposing the StatefulSet (`v1` Service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "embedded_object")]
    pub service: Option<Service>,
}

impl StatefulSetSvcBundle {
    /// The component name: the bundle's `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.metadata.name.as_deref()
    }
}

/// Schema of a Kubernetes object embedded in the spec: any object, kept as written.
fn embedded_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}
