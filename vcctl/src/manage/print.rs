//! Rendering VirtualClusters for people: progress lines, the failing condition, the `get`
//! table and ages.

use crds::VirtualCluster;
use crds::condition::{CONDITION_CONTROL_PLANE_READY, CONDITION_PKI_READY, CONDITION_READY};
use kube::ResourceExt;

/// One line of progress: phase, reason and message.
pub fn progress_line(vc: &VirtualCluster) -> String {
    let s = vc.status.clone().unwrap_or_default();
    let phase = s.phase.map(|p| p.as_str()).unwrap_or("Pending");
    match (s.reason, s.message) {
        (Some(r), Some(m)) if !m.is_empty() => format!("{}: {phase} ({r}): {m}", vc.name_any()),
        (Some(r), _) => format!("{}: {phase} ({r})", vc.name_any()),
        _ => format!("{}: {phase}", vc.name_any()),
    }
}

/// The condition that explains why a VirtualCluster is not ready, as a sentence.
pub fn failing_condition(vc: &VirtualCluster) -> String {
    let Some(status) = vc.status.as_ref() else {
        return "vc-manager has not reported any status yet (is vc-manager running?)".into();
    };
    for type_ in [
        CONDITION_PKI_READY,
        CONDITION_CONTROL_PLANE_READY,
        CONDITION_READY,
    ] {
        if let Some(c) = crds::condition::find_condition(&status.conditions, type_)
            .filter(|c| c.status == "False")
        {
            let reason = c.reason.as_deref().unwrap_or("Unknown");
            return match c.message.as_deref().filter(|m| !m.is_empty()) {
                Some(m) => format!("condition {type_}=False ({reason}): {m}"),
                None => format!("condition {type_}=False ({reason})"),
            };
        }
    }
    let phase = status.phase.map(|p| p.as_str()).unwrap_or("Pending");
    match &status.message {
        Some(m) if !m.is_empty() => format!("phase {phase}: {m}"),
        _ => format!("phase {phase}"),
    }
}

pub(super) fn is_ready(vc: &VirtualCluster) -> bool {
    vc.is_running()
        && vc
            .status
            .as_ref()
            .and_then(|s| crds::condition::find_condition(&s.conditions, CONDITION_READY))
            .is_some_and(|c| c.is_true())
}

/// `used/hard` of a quota resource in `status.quota` (the first of `names` that is limited),
/// `-` when none is.
fn quota_cell(status: &crds::VirtualClusterStatus, names: &[&str]) -> String {
    let Some(q) = status.quota.as_ref() else {
        return "-".into();
    };
    names
        .iter()
        .find_map(|n| {
            let hard = q.hard.get(*n)?;
            let used = q.used.get(*n).map_or("0", String::as_str);
            Some(format!("{used}/{hard}"))
        })
        .unwrap_or_else(|| "-".into())
}

/// The `get` table: NAMESPACE, NAME, PHASE, READY, CLUSTERVERSION, PODS and CPU (quota
/// used/hard), CLUSTER-NAMESPACE, AGE.
pub fn table(vcs: &[VirtualCluster], now: jiff::Timestamp) -> String {
    let mut rows = vec![[
        "NAMESPACE".to_string(),
        "NAME".into(),
        "PHASE".into(),
        "READY".into(),
        "CLUSTERVERSION".into(),
        "PODS".into(),
        "CPU".into(),
        "CLUSTER-NAMESPACE".into(),
        "AGE".into(),
    ]];
    for vc in vcs {
        let status = vc.status.clone().unwrap_or_default();
        rows.push([
            vc.namespace().unwrap_or_default(),
            vc.name_any(),
            status.phase.map(|p| p.as_str()).unwrap_or("Pending").into(),
            if is_ready(vc) { "True" } else { "False" }.into(),
            vc.spec.cluster_version_name.clone(),
            quota_cell(&status, &["pods"]),
            quota_cell(&status, &["requests.cpu", "cpu", "limits.cpu"]),
            status.cluster_namespace.unwrap_or_else(|| "<none>".into()),
            vc.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| age(now.duration_since(t.0)))
                .unwrap_or_else(|| "<unknown>".into()),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// An age the way kubectl prints it (`45s`, `12m`, `3h`, `5d`).
pub fn age(d: jiff::SignedDuration) -> String {
    let s = d.as_secs().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}
