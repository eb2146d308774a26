//! Scheduling decisions as pure functions: the filters kube-scheduler applies (node
//! unschedulable, node name, taints/tolerations, node affinity/selector, resources and pod
//! count), least-allocated scoring, and upstream's "0/N nodes are available" message.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration,
};

/// Resource amounts in milli-units (cpu in millicores, everything else in thousandths).
pub type Resources = BTreeMap<String, i128>;

/// A node as the scheduler sees it.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// Allocatable resources (milli-units); `pods` is the pod limit (times 1000).
    pub allocatable: Resources,
    /// Requests of the pods assigned to it.
    pub requested: Resources,
    /// Pods assigned to it.
    pub pods: i128,
    /// Requests assumed for containers that request nothing (the node pool's policy).
    pub default_requests: Resources,
}

impl NodeView {
    /// Builds a view from a Node object (with nothing requested yet).
    pub fn from_node(node: &Node) -> Self {
        let spec = node.spec.clone().unwrap_or_default();
        let allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.clone().or_else(|| s.capacity.clone()))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| crds::quantity::parse_milli(&v.0).ok().map(|q| (k, q)))
            .collect();
        Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec.taints.unwrap_or_default(),
            unschedulable: spec.unschedulable.unwrap_or(false),
            allocatable,
            requested: Resources::new(),
            pods: 0,
            default_requests: Resources::new(),
        }
    }
}

/// Total requests of a pod, as the NodeResourcesFit plugin computes them: the sum over
/// containers, at least the largest init container, plus overhead. Containers that request
/// nothing get `defaults` (a node pool's default resources).
pub fn pod_requests(pod: &Pod, defaults: &Resources) -> Resources {
    let Some(spec) = &pod.spec else {
        return Resources::new();
    };
    let requests_of = |c: &k8s_openapi::api::core::v1::Container| -> Resources {
        let res = c.resources.clone().unwrap_or_default();
        // Limits stand in for missing requests, as API defaulting does.
        let mut map: Resources = res
            .limits
            .unwrap_or_default()
            .into_iter()
            .chain(res.requests.unwrap_or_default())
            .filter_map(|(k, v)| crds::quantity::parse_milli(&v.0).ok().map(|q| (k, q)))
            .collect();
        if map.is_empty() {
            map = defaults.clone();
        }
        map
    };
    let mut total = Resources::new();
    for c in &spec.containers {
        for (k, v) in requests_of(c) {
            *total.entry(k).or_default() += v;
        }
    }
    for c in spec.init_containers.iter().flatten() {
        for (k, v) in requests_of(c) {
            let e = total.entry(k).or_default();
            *e = (*e).max(v);
        }
    }
    for (k, v) in spec.overhead.clone().unwrap_or_default() {
        if let Ok(q) = crds::quantity::parse_milli(&v.0) {
            *total.entry(k).or_default() += q;
        }
    }
    total
}

/// Whether a toleration tolerates a taint.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        _ => {
            key == taint.key
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.clone().unwrap_or_default();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

fn term_matches(term: &NodeSelectorTerm, node: &NodeView) -> bool {
    let exprs = term.match_expressions.clone().unwrap_or_default();
    let fields = term.match_fields.clone().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs
        .iter()
        .all(|r| requirement_matches(r, node.labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let v = (r.key == "metadata.name").then_some(node.name.as_str());
            requirement_matches(r, v)
        })
}

/// nodeSelector plus required node affinity.
pub fn affinity_matches(pod: &Pod, node: &NodeView) -> bool {
    let Some(spec) = &pod.spec else { return true };
    if let Some(sel) = &spec.node_selector
        && !sel.iter().all(|(k, v)| node.labels.get(k) == Some(v))
    {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        Some(sel) => sel
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, node)),
        None => true,
    }
}

/// Runs the filters for one node.
pub fn filter(pod: &Pod, requests: &Resources, node: &NodeView) -> Result<(), Vec<String>> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    if node.unschedulable {
        let unsched = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        if !tolerations.iter().any(|t| tolerates(t, &unsched)) {
            return Err(vec!["node(s) were unschedulable".into()]);
        }
    }
    if let Some(name) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
        && !name.is_empty()
        && name != node.name
    {
        return Err(vec!["node(s) didn't match the requested node name".into()]);
    }
    for taint in &node.taints {
        if taint.effect != "NoSchedule" && taint.effect != "NoExecute" {
            continue;
        }
        if !tolerations.iter().any(|t| tolerates(t, taint)) {
            return Err(vec![format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or("")
            )]);
        }
    }
    if !affinity_matches(pod, node) {
        return Err(vec![
            "node(s) didn't match Pod's node affinity/selector".into(),
        ]);
    }
    let mut misses = Vec::new();
    let max_pods = node.allocatable.get("pods").copied().unwrap_or(110_000);
    if (node.pods + 1) * 1000 > max_pods {
        misses.push("Too many pods".to_string());
    }
    for (res, want) in requests {
        if *want <= 0 || res == "pods" {
            continue;
        }
        let have = node.allocatable.get(res).copied().unwrap_or(0);
        let used = node.requested.get(res).copied().unwrap_or(0);
        if used + want > have {
            misses.push(format!("Insufficient {res}"));
        }
    }
    if misses.is_empty() {
        Ok(())
    } else {
        Err(misses)
    }
}

/// Least-allocated score (0-100) over cpu and memory after placing the pod.
pub fn score(requests: &Resources, node: &NodeView) -> i64 {
    let mut total = 0i128;
    let mut n = 0i128;
    for res in ["cpu", "memory"] {
        let cap = node.allocatable.get(res).copied().unwrap_or(0);
        if cap <= 0 {
            continue;
        }
        let used =
            node.requested.get(res).copied().unwrap_or(0) + requests.get(res).copied().unwrap_or(0);
        total += ((cap - used).max(0) * 100) / cap;
        n += 1;
    }
    if n == 0 {
        0
    } else {
        i64::try_from(total / n).unwrap_or(0)
    }
}

/// How many feasible nodes to find before picking (upstream's adaptive percentage).
pub fn nodes_to_find(total: usize) -> usize {
    if total <= 100 {
        return total;
    }
    let pct = (50usize.saturating_sub(total / 125)).max(5);
    (total * pct / 100).max(100)
}

/// Picks a node, starting the search at `start` (rotated between calls to spread work), and
/// returns it with the pod's requests there; or upstream's "0/N nodes are available" message.
pub fn schedule(
    pod: &Pod,
    nodes: &[&NodeView],
    start: usize,
) -> Result<(String, Resources), String> {
    if nodes.is_empty() {
        return Err("no nodes available to schedule pods".into());
    }
    let want = nodes_to_find(nodes.len());
    let mut requests: HashMap<&Resources, Resources> = HashMap::new();
    let mut best: Option<(&NodeView, i64)> = None;
    let mut found = 0;
    let mut histogram: HashMap<String, usize> = HashMap::new();
    for i in 0..nodes.len() {
        let node = nodes[(start + i) % nodes.len()];
        let req = requests
            .entry(&node.default_requests)
            .or_insert_with(|| pod_requests(pod, &node.default_requests));
        match filter(pod, req, node) {
            Ok(()) => {
                let s = score(req, node);
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((node, s));
                }
                found += 1;
                if found >= want {
                    break;
                }
            }
            Err(reasons) => {
                for r in reasons {
                    *histogram.entry(r).or_default() += 1;
                }
            }
        }
    }
    if let Some((node, _)) = best {
        let req = pod_requests(pod, &node.default_requests);
        return Ok((node.name.clone(), req));
    }
    let mut parts: Vec<String> = histogram
        .into_iter()
        .map(|(r, c)| format!("{c} {r}"))
        .collect();
    parts.sort();
    Err(format!(
        "0/{} nodes are available: {}.",
        nodes.len(),
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests;
