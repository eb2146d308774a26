//! Writes whose reply the syncer does not read. `Api::create`/`patch_status` decode the whole
//! returned object into typed structs (managedFields included); for the per-pod hot path that
//! decoding was a large share of the syncer's CPU. These send the same requests and only skim
//! the reply; errors come back exactly as from `Api` (`kube::Error::Api` with the `Status`).

use kube::api::{Patch, PatchParams, PostParams};
use kube::core::Request;
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::IgnoredAny;

fn request<K: Resource<DynamicType = ()>>(namespace: &str) -> Request {
    Request::new(K::url_path(&(), Some(namespace)))
}

/// `POST` a new namespaced object, discarding the created object the server returns.
pub async fn create<K>(client: &Client, namespace: &str, obj: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let body = serde_json::to_vec(obj).map_err(kube::Error::SerdeError)?;
    let req = request::<K>(namespace)
        .create(&PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    client.request::<IgnoredAny>(req).await.map(drop)
}

/// `POST` to a subresource (such as `pods/binding`), discarding the reply.
pub async fn create_subresource<K, B>(
    client: &Client,
    namespace: &str,
    subresource: &str,
    name: &str,
    body: &B,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()>,
    B: Serialize,
{
    let body = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
    let req = request::<K>(namespace)
        .create_subresource(subresource, name, &PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    client.request::<IgnoredAny>(req).await.map(drop)
}

/// `PATCH` the status subresource, discarding the patched object.
pub async fn patch_status<K, P>(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: &Patch<P>,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()>,
    P: Serialize + std::fmt::Debug,
{
    send_patch::<K, P>(client, namespace, name, Some("status"), patch).await
}

/// `PATCH` the object itself, discarding the patched object.
pub async fn patch<K, P>(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: &Patch<P>,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()>,
    P: Serialize + std::fmt::Debug,
{
    send_patch::<K, P>(client, namespace, name, None, patch).await
}

async fn send_patch<K, P>(
    client: &Client,
    namespace: &str,
    name: &str,
    subresource: Option<&str>,
    patch: &Patch<P>,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()>,
    P: Serialize + std::fmt::Debug,
{
    let pp = PatchParams::default();
    let req = match subresource {
        Some(sub) => request::<K>(namespace).patch_subresource(sub, name, &pp, patch),
        None => request::<K>(namespace).patch(name, &pp, patch),
    }
    .map_err(kube::Error::BuildRequest)?;
    client.request::<IgnoredAny>(req).await.map(drop)
}
