//! A container's environment and mounted files, resolved through the API as a kubelet does:
//! env (literal, ConfigMap/Secret keys, field refs, envFrom) and ConfigMap, Secret, projected
//! and downward-API volumes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, KeyToPath, Pod, Secret};
use kube::{Api, Client};

use super::shell::ShellEnv;

/// Resolution failures (reported to the exec client).
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The API refused or failed.
    #[error("reading {kind} {namespace}/{name}: {source}")]
    Api {
        /// Object kind.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
}

struct Lookup<'a> {
    client: &'a Client,
    namespace: &'a str,
}

impl Lookup<'_> {
    async fn config_map(
        &self,
        name: &str,
        optional: bool,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, VolumeError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), self.namespace);
        match api.get_opt(name).await {
            Ok(Some(cm)) => {
                let mut out: BTreeMap<String, Vec<u8>> = cm
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                for (k, v) in cm.binary_data.unwrap_or_default() {
                    out.insert(k, v.0);
                }
                Ok(Some(out))
            }
            Ok(None) if optional => Ok(None),
            Ok(None) => Ok(None),
            Err(source) => Err(VolumeError::Api {
                kind: "ConfigMap",
                namespace: self.namespace.into(),
                name: name.into(),
                source,
            }),
        }
    }

    async fn secret(&self, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>, VolumeError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), self.namespace);
        match api.get_opt(name).await {
            Ok(Some(s)) => {
                let mut out: BTreeMap<String, Vec<u8>> = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                for (k, v) in s.string_data.unwrap_or_default() {
                    out.insert(k, v.into_bytes());
                }
                Ok(Some(out))
            }
            Ok(None) => Ok(None),
            Err(source) => Err(VolumeError::Api {
                kind: "Secret",
                namespace: self.namespace.into(),
                name: name.into(),
                source,
            }),
        }
    }
}

/// Value of a downward-API field path.
pub fn field_ref(pod: &Pod, path: &str) -> Option<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let keyed = |prefix: &str, map: Option<&BTreeMap<String, String>>| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        map.and_then(|m| m.get(key).cloned())
    };
    let render = |map: Option<&BTreeMap<String, String>>| {
        map.map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect::<Vec<_>>()
                .join("\n")
        })
    };
    match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "metadata.labels" => render(meta.labels.as_ref()),
        "metadata.annotations" => render(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()),
        "status.podIP" => status.and_then(|s| s.pod_ip.clone()),
        "status.hostIP" => status.and_then(|s| s.host_ip.clone()),
        p if p.starts_with("metadata.labels['") => keyed("metadata.labels['", meta.labels.as_ref()),
        p if p.starts_with("metadata.annotations['") => {
            keyed("metadata.annotations['", meta.annotations.as_ref())
        }
        _ => None,
    }
}

fn place(
    files: &mut BTreeMap<String, Vec<u8>>,
    dir: &str,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
) {
    let dir = dir.trim_end_matches('/');
    match items {
        Some(items) if !items.is_empty() => {
            for it in items {
                if let Some(v) = data.get(&it.key) {
                    files.insert(format!("{dir}/{}", it.path), v.clone());
                }
            }
        }
        _ => {
            for (k, v) in data {
                files.insert(format!("{dir}/{k}"), v.clone());
            }
        }
    }
}

/// Builds the shell environment of a container.
pub async fn shell_env(
    client: &Client,
    pod: &Pod,
    container: &Container,
) -> Result<ShellEnv, VolumeError> {
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let lookup = Lookup {
        client,
        namespace: &namespace,
    };
    let hostname = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    let mut env = BTreeMap::new();
    env.insert(
        "PATH".to_string(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
    );
    env.insert("HOSTNAME".to_string(), hostname.clone());
    env.insert("HOME".to_string(), "/root".to_string());
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let data = if let Some(cm) = &from.config_map_ref {
            lookup
                .config_map(&cm.name, cm.optional.unwrap_or(false))
                .await?
        } else if let Some(s) = &from.secret_ref {
            lookup.secret(&s.name).await?
        } else {
            None
        };
        for (k, v) in data.unwrap_or_default() {
            env.insert(
                format!("{prefix}{k}"),
                String::from_utf8_lossy(&v).to_string(),
            );
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(v) = &var.value {
            Some(v.clone())
        } else if let Some(src) = &var.value_from {
            if let Some(r) = &src.config_map_key_ref {
                lookup
                    .config_map(&r.name, r.optional.unwrap_or(false))
                    .await?
                    .and_then(|d| {
                        d.get(&r.key)
                            .map(|v| String::from_utf8_lossy(v).to_string())
                    })
            } else if let Some(r) = &src.secret_key_ref {
                lookup.secret(&r.name).await?.and_then(|d| {
                    d.get(&r.key)
                        .map(|v| String::from_utf8_lossy(v).to_string())
                })
            } else if let Some(f) = &src.field_ref {
                field_ref(pod, &f.field_path)
            } else {
                None
            }
        } else {
            Some(String::new())
        };
        if let Some(v) = value {
            env.insert(var.name.clone(), v);
        }
    }
    let mut files = BTreeMap::new();
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    for mount in container.volume_mounts.iter().flatten() {
        let Some(vol) = volumes.iter().find(|v| v.name == mount.name) else {
            continue;
        };
        let mut vfiles = BTreeMap::new();
        if let Some(cm) = &vol.config_map
            && let Some(data) = lookup
                .config_map(&cm.name, cm.optional.unwrap_or(false))
                .await?
        {
            place(&mut vfiles, "", &data, cm.items.as_ref());
        }
        if let Some(sec) = &vol.secret
            && let Some(name) = &sec.secret_name
            && let Some(data) = lookup.secret(name).await?
        {
            place(&mut vfiles, "", &data, sec.items.as_ref());
        }
        if let Some(dapi) = &vol.downward_api {
            for item in dapi.items.iter().flatten() {
                if let Some(f) = &item.field_ref
                    && let Some(v) = field_ref(pod, &f.field_path)
                {
                    vfiles.insert(format!("/{}", item.path), v.into_bytes());
                }
            }
        }
        if let Some(projected) = &vol.projected {
            for src in projected.sources.iter().flatten() {
                if let Some(cm) = &src.config_map
                    && let Some(data) = lookup
                        .config_map(&cm.name, cm.optional.unwrap_or(false))
                        .await?
                {
                    place(&mut vfiles, "", &data, cm.items.as_ref());
                }
                if let Some(sec) = &src.secret
                    && let Some(data) = lookup.secret(&sec.name).await?
                {
                    place(&mut vfiles, "", &data, sec.items.as_ref());
                }
                if let Some(dapi) = &src.downward_api {
                    for item in dapi.items.iter().flatten() {
                        if let Some(f) = &item.field_ref
                            && let Some(v) = field_ref(pod, &f.field_path)
                        {
                            vfiles.insert(format!("/{}", item.path), v.into_bytes());
                        }
                    }
                }
            }
        }
        let base = mount.mount_path.trim_end_matches('/');
        for (path, content) in vfiles {
            match &mount.sub_path {
                Some(sub) if !sub.is_empty() => {
                    if path.trim_start_matches('/') == sub {
                        files.insert(base.to_string(), content);
                    }
                }
                _ => {
                    files.insert(format!("{base}{path}"), content);
                }
            }
        }
    }
    Ok(ShellEnv {
        env,
        files,
        hostname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths() {
        let mut pod = Pod::default();
        pod.metadata.name = Some("p".into());
        pod.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        assert_eq!(field_ref(&pod, "metadata.name").as_deref(), Some("p"));
        assert_eq!(
            field_ref(&pod, "metadata.labels['app']").as_deref(),
            Some("web")
        );
        assert_eq!(
            field_ref(&pod, "metadata.labels").as_deref(),
            Some("app=\"web\"")
        );
        assert_eq!(field_ref(&pod, "spec.nodeName"), None);
    }
}
