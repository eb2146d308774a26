//! Writing objects into the super cluster the way every provisioner does: server-side apply
//! under vc-manager's field manager, and secrets replaced only when their content differs.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use super::error::ProvisionError;

/// Field manager of every server-side apply by vc-manager.
pub const FIELD_MANAGER: &str = "vc-manager";

/// Server-side applies `obj` with vc-manager's field manager, taking ownership of conflicts.
pub async fn apply_object<K>(api: &Api<K>, name: &str, obj: &K) -> Result<K, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
}

/// Writes `secret` into its namespace: created, or replaced when its content differs (a
/// secret's type cannot change, so a secret of another type is deleted and recreated).
pub async fn write_secret(client: &Client, secret: &Secret) -> Result<(), ProvisionError> {
    let ns = secret.metadata.namespace.as_deref().unwrap_or_default();
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let err = |verb: &str| ProvisionError::kube(format!("{verb} secret {ns}/{name}"));
    let Some(current) = api.get_opt(name).await.map_err(err("reading"))? else {
        api.create(&PostParams::default(), secret)
            .await
            .map_err(err("creating"))?;
        return Ok(());
    };
    let same_labels = secret
        .metadata
        .labels
        .iter()
        .flatten()
        .all(|(k, v)| current.metadata.labels.as_ref().and_then(|l| l.get(k)) == Some(v));
    if current.data == secret.data && current.type_ == secret.type_ && same_labels {
        return Ok(());
    }
    if current.type_ != secret.type_ {
        api.delete(name, &DeleteParams::default())
            .await
            .map_err(err("deleting"))?;
        api.create(&PostParams::default(), secret)
            .await
            .map_err(err("creating"))?;
        return Ok(());
    }
    let mut next = secret.clone();
    next.metadata.resource_version = current.metadata.resource_version.clone();
    let mut labels = current.metadata.labels.clone().unwrap_or_default();
    labels.extend(secret.metadata.labels.clone().unwrap_or_default());
    next.metadata.labels = Some(labels);
    next.metadata.annotations = current.metadata.annotations.clone();
    api.replace(name, &PostParams::default(), &next)
        .await
        .map_err(err("replacing"))?;
    Ok(())
}
