//! Service accounts: a `default` account and the `kube-root-ca.crt` ConfigMap in every
//! namespace; tokens for legacy `kubernetes.io/service-account-token` secrets.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use super::runtime::{Controller, Key, Requeue, keys_of};
use crate::api::{Api, Change};
use crate::error::ApiError;
use crate::kinds::namespace::is_terminating;
use crate::storage::Actor;
use crate::{meta, storage};

const ROOT_CA_CM: &str = "kube-root-ca.crt";
const CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// Creates the `default` service account and the root CA ConfigMap per namespace.
pub struct ServiceAccountController;

impl Controller for ServiceAccountController {
    fn name(&self) -> &'static str {
        "serviceaccount"
    }

    fn keys_for(&self, _api: &Api, change: &Change) -> Vec<Key> {
        match change.storage.as_str() {
            "/namespaces" if !change.deleted => vec![(String::new(), change.name.clone())],
            "/serviceaccounts" if change.deleted && change.name == "default" => {
                vec![(String::new(), change.namespace.clone())]
            }
            "/configmaps" if change.name == ROOT_CA_CM => {
                vec![(String::new(), change.namespace.clone())]
            }
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        keys_of(api, "/namespaces")
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let ns_name = key.1;
        let ns_def = storage::def(&api, "", "namespaces")?;
        let Some(ns) = storage::get(&api, &ns_def, "", &ns_name) else {
            return Ok(None);
        };
        if is_terminating(&ns) {
            return Ok(None);
        }
        let actor = Actor::system("serviceaccount-controller");
        let sa_def = storage::def(&api, "", "serviceaccounts")?;
        if storage::get(&api, &sa_def, &ns_name, "default").is_none() {
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns_name}});
            ignore_exists(storage::create(&api, &sa_def, &actor, sa).await)?;
        }
        let cm_def = storage::def(&api, "", "configmaps")?;
        let ca = api.settings.root_ca_pem.clone();
        let want = json!({"ca.crt": ca});
        match storage::get(&api, &cm_def, &ns_name, ROOT_CA_CM) {
            None => {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": ROOT_CA_CM, "namespace": ns_name, "annotations": {"kubernetes.io/description": CA_DESCRIPTION}},
                    "data": want});
                ignore_exists(
                    storage::create(&api, &cm_def, &Actor::system("root-ca-cert-publisher"), cm)
                        .await,
                )?;
            }
            Some(cm) if cm.get("data") != Some(&want) => {
                storage::update(
                    &api,
                    &cm_def,
                    &Actor::system("root-ca-cert-publisher"),
                    &ns_name,
                    ROOT_CA_CM,
                    None,
                    |c| {
                        c["data"] = want.clone();
                        true
                    },
                )
                .await?;
            }
            Some(_) => {}
        }
        Ok(None)
    }
}

fn ignore_exists(r: Result<Value, ApiError>) -> Result<(), ApiError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 || e.reason == "Forbidden" || e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fills legacy service-account token secrets (and removes them with their account).
pub struct TokenSecretController;

const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";

impl Controller for TokenSecretController {
    fn name(&self) -> &'static str {
        "serviceaccount-token"
    }

    fn keys_for(&self, api: &Api, change: &Change) -> Vec<Key> {
        match change.storage.as_str() {
            "/secrets" if !change.deleted => vec![(change.namespace.clone(), change.name.clone())],
            "/serviceaccounts" if change.deleted => token_secrets(api, Some(&change.namespace))
                .into_iter()
                .filter(|s| {
                    s.pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                        .and_then(Value::as_str)
                        == Some(change.name.as_str())
                })
                .map(|s| (meta::namespace(&s).to_string(), meta::name(&s).to_string()))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn all_keys(&self, api: &Api) -> Vec<Key> {
        token_secrets(api, None)
            .iter()
            .map(|s| (meta::namespace(s).to_string(), meta::name(s).to_string()))
            .collect()
    }

    async fn reconcile(&self, api: Arc<Api>, key: Key) -> Result<Requeue, ApiError> {
        let (ns, name) = key;
        let def = storage::def(&api, "", "secrets")?;
        let Some(secret) = storage::get(&api, &def, &ns, &name) else {
            return Ok(None);
        };
        if secret.get("type").and_then(Value::as_str) != Some(TOKEN_TYPE) {
            return Ok(None);
        }
        let sa_name = secret
            .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let sa = api.store.get("/serviceaccounts", &ns, &sa_name);
        let actor = Actor::system("tokens-controller");
        let Some(sa) = sa else {
            let opts = crate::storage::DeleteOptions::default();
            let _ = crate::storage::delete_object(&api, &def, &ns, &name, &opts).await;
            return Ok(None);
        };
        if secret.pointer("/data/token").is_some() {
            return Ok(None);
        }
        let Some(signer) = api.tokens.clone() else {
            return Ok(None);
        };
        let binding = crate::tokens::Binding {
            secret: Some((name.clone(), meta::uid(&secret).to_string())),
            pod: None,
        };
        // Legacy tokens do not expire.
        let (token, _) =
            signer.issue(&ns, &sa_name, &sa.uid, &[], 100 * 365 * 24 * 3600, &binding)?;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let ca = api.settings.root_ca_pem.clone();
        let sa_uid = sa.uid.to_string();
        storage::update(&api, &def, &actor, &ns, &name, None, |s| {
            s["data"]["token"] = json!(b64(&token));
            s["data"]["ca.crt"] = json!(b64(&ca));
            s["data"]["namespace"] = json!(b64(&ns));
            s["metadata"]["annotations"]["kubernetes.io/service-account.uid"] = json!(sa_uid);
            true
        })
        .await?;
        Ok(None)
    }
}

fn token_secrets(api: &Api, ns: Option<&str>) -> Vec<Value> {
    api.store
        .list("/secrets", ns, None, None, |_, o| {
            // Cheap pre-filter on the serialized form before parsing.
            memchr::memmem::find(&o.json, TOKEN_TYPE.as_bytes()).is_some()
        })
        .items
        .iter()
        .filter_map(|o| o.value().ok())
        .filter(|s| s.get("type").and_then(Value::as_str) == Some(TOKEN_TYPE))
        .collect()
}
