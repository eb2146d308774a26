//! The restricted checks (seccomp's are in [`super::seccomp`]).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Volume;

use super::view::{Failure, Pod, containers_phrase, fail, join_quote, pluralize, sorted};

/// The only capability restricted lets a container add.
pub(super) const RESTRICTED_CAPABILITY: &str = "NET_BIND_SERVICE";

pub(super) fn allow_privilege_escalation(pod: &Pod<'_>) -> Failure {
    if pod.windows() {
        return None;
    }
    let bad =
        pod.bad_containers(|c| c.sc.and_then(|s| s.allow_privilege_escalation) != Some(false));
    if bad.is_empty() {
        return None;
    }
    fail(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
    )
}

pub(super) fn capabilities_restricted(pod: &Pod<'_>) -> Failure {
    if pod.windows() {
        return None;
    }
    let mut missing_drop: Vec<&str> = Vec::new();
    let mut adding: Vec<&str> = Vec::new();
    let mut caps: BTreeSet<&str> = BTreeSet::new();
    for c in &pod.containers {
        let Some(cap) = c.sc.and_then(|s| s.capabilities.as_ref()) else {
            missing_drop.push(c.name);
            continue;
        };
        if !cap.drop.iter().flatten().any(|d| d == "ALL") {
            missing_drop.push(c.name);
        }
        let mut forbidden = false;
        for a in c.added_capabilities() {
            if a != RESTRICTED_CAPABILITY && !pod.ex.allows_capability(a) {
                forbidden = true;
                caps.insert(a);
            }
        }
        if forbidden {
            adding.push(c.name);
        }
    }
    let mut details: Vec<String> = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&sorted(caps))
        ));
    }
    if details.is_empty() {
        return None;
    }
    fail("unrestricted capabilities", details.join("; "))
}

/// The name upstream gives a volume's type, or `None` for the types restricted allows.
pub(super) fn restricted_volume_type(v: &Volume) -> Option<&'static str> {
    if v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some()
    {
        return None;
    }
    let t = if v.host_path.is_some() {
        "hostPath"
    } else if v.gce_persistent_disk.is_some() {
        "gcePersistentDisk"
    } else if v.aws_elastic_block_store.is_some() {
        "awsElasticBlockStore"
    } else if v.git_repo.is_some() {
        "gitRepo"
    } else if v.nfs.is_some() {
        "nfs"
    } else if v.iscsi.is_some() {
        "iscsi"
    } else if v.glusterfs.is_some() {
        "glusterfs"
    } else if v.rbd.is_some() {
        "rbd"
    } else if v.flex_volume.is_some() {
        "flexVolume"
    } else if v.cinder.is_some() {
        "cinder"
    } else if v.cephfs.is_some() {
        "cephfs"
    } else if v.flocker.is_some() {
        "flocker"
    } else if v.fc.is_some() {
        "fc"
    } else if v.azure_file.is_some() {
        "azureFile"
    } else if v.vsphere_volume.is_some() {
        "vsphereVolume"
    } else if v.quobyte.is_some() {
        "quobyte"
    } else if v.azure_disk.is_some() {
        "azureDisk"
    } else if v.photon_persistent_disk.is_some() {
        "photonPersistentDisk"
    } else if v.portworx_volume.is_some() {
        "portworxVolume"
    } else if v.scale_io.is_some() {
        "scaleIO"
    } else if v.storageos.is_some() {
        "storageos"
    } else {
        // Includes `image`, which v1.28 does not know.
        "unknown"
    };
    Some(t)
}

pub(super) fn restricted_volumes(pod: &Pod<'_>) -> Failure {
    let mut names: Vec<&str> = Vec::new();
    let mut types: BTreeSet<&str> = BTreeSet::new();
    for v in pod.volumes() {
        let Some(t) = restricted_volume_type(v) else {
            continue;
        };
        if t == "hostPath" && pod.ex.host_path {
            continue;
        }
        names.push(&v.name);
        types.insert(t);
    }
    if names.is_empty() {
        return None;
    }
    fail(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", names.len()),
            join_quote(&names),
            pluralize("uses", "use", names.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&sorted(types))
        ),
    )
}

pub(super) fn run_as_non_root(pod: &Pod<'_>) -> Failure {
    let mut setters: Vec<String> = Vec::new();
    let pod_level = pod
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_non_root);
    if pod_level == Some(false) {
        setters.push("pod".into());
    }
    let pod_true = pod_level == Some(true);
    let mut explicit: Vec<&str> = Vec::new();
    let mut implicit: Vec<&str> = Vec::new();
    for c in &pod.containers {
        match c.sc.and_then(|s| s.run_as_non_root) {
            Some(false) => explicit.push(c.name),
            Some(true) => {}
            None if !pod_true => implicit.push(c.name),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return fail(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        );
    }
    if !implicit.is_empty() {
        return fail(
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicit)
            ),
        );
    }
    None
}

pub(super) fn run_as_user(pod: &Pod<'_>) -> Failure {
    let mut setters: Vec<String> = Vec::new();
    if pod
        .spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_user)
        == Some(0)
    {
        setters.push("pod".into());
    }
    let bad = pod.bad_containers(|c| c.sc.and_then(|s| s.run_as_user) == Some(0));
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    fail(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}
