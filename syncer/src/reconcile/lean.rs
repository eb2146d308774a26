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
    post::<K, K>(client, namespace, None, obj).await
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
    post::<K, B>(client, namespace, Some((subresource, name)), body).await
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

/// `POST` to the collection, or to `(subresource, name)` of one object.
async fn post<K, B>(
    client: &Client,
    namespace: &str,
    subresource: Option<(&str, &str)>,
    body: &B,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()>,
    B: Serialize,
{
    let data = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
    let pp = PostParams::default();
    let req = match subresource {
        Some((sub, name)) => request::<K>(namespace).create_subresource(sub, name, &pp, data),
        None => request::<K>(namespace).create(&pp, data),
    };
    send(client, req).await
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
    };
    send(client, req).await
}

/// Sends a built request and skims the reply without decoding it into objects.
async fn send(
    client: &Client,
    req: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
) -> Result<(), kube::Error> {
    let req = req.map_err(kube::Error::BuildRequest)?;
    client.request::<IgnoredAny>(req).await.map(drop)
}
