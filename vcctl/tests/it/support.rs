//! Shared pieces: the real `kubectl`, rendering `config/`, a small RBAC evaluator, waiting.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use vcctl::local::Attributes;

/// The repository's `config/` directory.
pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// The machine's `kubectl` against `kubeconfig`.
pub struct Kubectl {
    pub kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(kubeconfig: impl Into<PathBuf>) -> Self {
        Kubectl {
            kubeconfig: kubeconfig.into(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl must be on the PATH")
    }

    /// Runs and returns stdout; panics with stderr when kubectl fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs with `-o json` and parses the output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).expect("kubectl -o json")
    }
}

/// Polls `f` until it returns `Some` (blocking), panicking with `what` and the last
/// observation after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Every object `kubectl kustomize DIR` renders.
pub fn kustomize(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl must be on the PATH");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| <serde_yaml::Value as serde::Deserialize>::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .map(|v| serde_json::to_value(v).unwrap())
        .collect()
}

pub fn kind(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or_default()
}

pub fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One RBAC rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
}

impl Rule {
    /// Upstream's rule matching (`rbac/v1` helpers: verbs, groups, resources with
    /// subresources and `*`, resource names).
    pub fn allows(&self, a: &Attributes) -> bool {
        let any = |list: &[String], x: &str| list.iter().any(|v| v == "*" || v == x);
        let resource = a.rbac_resource();
        let resource_ok = self.resources.iter().any(|r| {
            r == "*"
                || *r == resource
                || a.subresource
                    .as_ref()
                    .is_some_and(|s| *r == format!("*/{s}"))
        });
        any(&self.verbs, &a.verb)
            && any(&self.api_groups, &a.api_group)
            && resource_ok
            && (self.resource_names.is_empty()
                || a.name
                    .as_ref()
                    .is_some_and(|n| self.resource_names.contains(n)))
    }
}

/// The rules that apply to a service account, with the namespace they are limited to
/// (`None` for ClusterRoleBindings).
pub fn rules_for(
    objects: &[Value],
    sa_namespace: &str,
    sa_name: &str,
) -> Vec<(Option<String>, Rule)> {
    let subject_matches = |b: &Value| {
        b["subjects"].as_array().into_iter().flatten().any(|s| {
            (s["kind"] == "ServiceAccount"
                && s["name"] == sa_name
                && s["namespace"] == sa_namespace)
                || (s["kind"] == "User"
                    && s["name"] == format!("system:serviceaccount:{sa_namespace}:{sa_name}"))
        })
    };
    let role_rules = |wanted: &str, role: &str, ns: Option<&str>| -> Vec<Rule> {
        objects
            .iter()
            .filter(|o| {
                kind(o) == wanted
                    && name(o) == role
                    && (wanted == "ClusterRole" || o["metadata"]["namespace"].as_str() == ns)
            })
            .flat_map(|o| {
                o["rules"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| Rule {
                        verbs: strings(&r["verbs"]),
                        api_groups: strings(&r["apiGroups"]),
                        resources: strings(&r["resources"]),
                        resource_names: strings(&r["resourceNames"]),
                    })
            })
            .collect()
    };
    let mut out = Vec::new();
    for b in objects.iter().filter(|o| subject_matches(o)) {
        let role_kind = b["roleRef"]["kind"].as_str().unwrap_or_default();
        let role = b["roleRef"]["name"].as_str().unwrap_or_default();
        match kind(b) {
            "ClusterRoleBinding" => out.extend(
                role_rules("ClusterRole", role, None)
                    .into_iter()
                    .map(|r| (None, r)),
            ),
            "RoleBinding" => {
                let ns = b["metadata"]["namespace"].as_str().map(str::to_string);
                out.extend(
                    role_rules(role_kind, role, ns.as_deref())
                        .into_iter()
                        .map(|r| (ns.clone(), r)),
                )
            }
            _ => {}
        }
    }
    out
}

/// Whether the rules allow a resource request.
pub fn allowed(rules: &[(Option<String>, Rule)], a: &Attributes) -> bool {
    rules.iter().any(|(ns, r)| {
        ns.as_ref()
            .is_none_or(|ns| a.namespace.as_ref() == Some(ns))
            && r.allows(a)
    })
}
