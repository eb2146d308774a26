//! VirtualCluster management: `create`, `get`, `kubeconfig`, `delete` (also as `kubectl vc …`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use crds::condition::{CONDITION_CONTROL_PLANE_READY, CONDITION_PKI_READY, CONDITION_READY};
use crds::tenancy::{SECRET_ADMIN_KUBECONFIG, cluster_key};
use crds::{ClusterPhase, VirtualCluster};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

/// Which super cluster and namespace a command talks to.
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Kubeconfig of the super cluster (default: KUBECONFIG, then ~/.kube/config, then
    /// in-cluster).
    #[arg(long, global = true, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of the VirtualCluster.
    #[arg(short = 'n', long, global = true, default_value = "default")]
    pub namespace: String,
}

/// `create -f FILE [--wait]`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    target: Target,
    /// YAML with one or more VirtualClusters (`-` for stdin).
    #[arg(short = 'f', long = "filename")]
    file: PathBuf,
    /// Wait until each VirtualCluster is Running.
    #[arg(long)]
    wait: bool,
    /// How long `--wait` waits, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// `get [NAME]`.
#[derive(Args, Debug)]
pub struct GetArgs {
    #[command(flatten)]
    target: Target,
    /// A VirtualCluster (all when omitted).
    name: Option<String>,
    /// List VirtualClusters of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Output format: `table` or `yaml`.
    #[arg(short = 'o', long, default_value = "table")]
    output: String,
}

/// `kubeconfig NAME`.
#[derive(Args, Debug)]
pub struct KubeconfigArgs {
    #[command(flatten)]
    target: Target,
    /// The VirtualCluster.
    name: String,
}

/// `delete NAME [--wait]`.
#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    target: Target,
    /// The VirtualCluster.
    name: String,
    /// Wait until it and everything provisioned for it are gone.
    #[arg(long)]
    wait: bool,
    /// How long `--wait` waits, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

async fn client(target: &Target) -> anyhow::Result<Client> {
    let Some(path) = &target.kubeconfig else {
        return Client::try_default()
            .await
            .context("cannot reach the super cluster (set --kubeconfig or KUBECONFIG)");
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
    let kc = kube::config::Kubeconfig::from_yaml(&text)
        .with_context(|| format!("{} is not a kubeconfig", path.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .with_context(|| format!("cannot use kubeconfig {}", path.display()))?;
    Client::try_from(config).context("cannot build a client for the super cluster")
}

/// Turns API errors into sentences.
fn explain(e: kube::Error, what: &str) -> anyhow::Error {
    match e {
        kube::Error::Api(s) if s.code == 404 && s.message.contains("the server could not find") => {
            anyhow!("{what}: the VirtualCluster API is not installed (kubectl apply -k config/crd)")
        }
        kube::Error::Api(s) => anyhow!("{what}: {} ({})", s.message, s.reason),
        other => anyhow!("{what}: {other}"),
    }
}

/// Reads VirtualClusters from YAML (several documents allowed).
pub fn parse_virtualclusters(text: &str) -> anyhow::Result<Vec<VirtualCluster>> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = <serde_yaml::Value as serde::Deserialize>::deserialize(doc)
            .with_context(|| format!("document {} is not YAML", i + 1))?;
        if value.is_null() {
            continue;
        }
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        if kind != "VirtualCluster" {
            bail!(
                "document {} has kind {kind:?}; vcctl create takes VirtualClusters \
                 (use kubectl for other objects)",
                i + 1
            );
        }
        let vc: VirtualCluster = serde_yaml::from_value(value)
            .with_context(|| format!("document {} is not a valid VirtualCluster", i + 1))?;
        out.push(vc);
    }
    if out.is_empty() {
        bail!("no VirtualCluster found in the input");
    }
    Ok(out)
}

/// `vcctl create`.
pub async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let vcs = parse_virtualclusters(&text)?;
    let client = client(&args.target).await?;
    let mut created = Vec::new();
    for mut vc in vcs {
        let ns = vc
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| args.target.namespace.clone());
        vc.metadata.namespace = Some(ns.clone());
        let name = vc.name_any();
        let api: Api<VirtualCluster> = Api::namespaced(client.clone(), &ns);
        api.create(&PostParams::default(), &vc)
            .await
            .map_err(|e| explain(e, &format!("cannot create VirtualCluster {ns}/{name}")))?;
        println!("virtualcluster.tenancy.x-k8s.io/{name} created");
        created.push((ns, name));
    }
    if args.wait {
        for (ns, name) in created {
            wait_running(&client, &ns, &name, Duration::from_secs(args.timeout)).await?;
            println!("virtualcluster.tenancy.x-k8s.io/{name} is Running");
        }
    }
    Ok(())
}

/// Waits until a VirtualCluster is Running; a Failed one ends the wait with its condition.
async fn wait_running(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let api: Api<VirtualCluster> = Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, config).applied_objects().boxed();
    let mut last: Option<VirtualCluster> = None;
    let mut last_line = String::new();
    let waited = tokio::time::timeout(timeout, async {
        while let Some(vc) = stream.try_next().await? {
            let line = progress_line(&vc);
            if line != last_line {
                eprintln!("{line}");
                last_line = line;
            }
            match vc.phase() {
                Some(ClusterPhase::Running)
                    if vc
                        .status
                        .as_ref()
                        .and_then(|s| {
                            crds::condition::find_condition(&s.conditions, CONDITION_READY)
                        })
                        .is_some_and(|c| c.is_true()) =>
                {
                    return Ok(());
                }
                Some(ClusterPhase::Failed | ClusterPhase::Error) => {
                    bail!(
                        "VirtualCluster {ns}/{name} failed: {}",
                        failing_condition(&vc)
                    );
                }
                _ => {}
            }
            last = Some(vc);
        }
        bail!("the watch of VirtualCluster {ns}/{name} ended")
    })
    .await;
    match waited {
        Ok(r) => r,
        Err(_) => {
            let detail = last
                .as_ref()
                .map(failing_condition)
                .unwrap_or_else(|| "it was never seen".into());
            bail!(
                "VirtualCluster {ns}/{name} is not Running after {}s: {detail}",
                timeout.as_secs()
            )
        }
    }
}

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

/// `vcctl get`.
pub async fn get(args: GetArgs) -> anyhow::Result<()> {
    let client = client(&args.target).await?;
    let ns = args.target.namespace.as_str();
    let api: Api<VirtualCluster> = if args.all_namespaces {
        Api::all(client)
    } else {
        Api::namespaced(client, ns)
    };
    let vcs = match &args.name {
        Some(name) => vec![
            api.get_opt(name)
                .await
                .map_err(|e| explain(e, "cannot read"))?
                .ok_or_else(|| anyhow!("VirtualCluster {ns}/{name} not found"))?,
        ],
        None => {
            api.list(&ListParams::default())
                .await
                .map_err(|e| explain(e, "cannot list VirtualClusters"))?
                .items
        }
    };
    let mut out = std::io::stdout().lock();
    match args.output.as_str() {
        "yaml" => {
            for vc in &vcs {
                writeln!(out, "---\n{}", serde_yaml::to_string(vc)?.trim_end())?;
            }
        }
        "table" | "wide" => {
            if vcs.is_empty() {
                eprintln!(
                    "No VirtualClusters found in {}.",
                    if args.all_namespaces {
                        "any namespace"
                    } else {
                        ns
                    }
                );
                return Ok(());
            }
            write!(out, "{}", table(&vcs, jiff::Timestamp::now()))?;
            if args.name.is_some() {
                for vc in vcs.iter().filter(|v| !is_ready(v)) {
                    writeln!(out, "\n{}: {}", vc.name_any(), failing_condition(vc))?;
                }
            }
        }
        other => bail!("unknown output format {other:?}: use table or yaml"),
    }
    Ok(())
}

fn is_ready(vc: &VirtualCluster) -> bool {
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

/// `vcctl kubeconfig`.
pub async fn kubeconfig(args: KubeconfigArgs) -> anyhow::Result<()> {
    let client = client(&args.target).await?;
    let ns = args.target.namespace.as_str();
    let api: Api<VirtualCluster> = Api::namespaced(client.clone(), ns);
    let vc = api
        .get_opt(&args.name)
        .await
        .map_err(|e| explain(e, "cannot read"))?
        .ok_or_else(|| anyhow!("VirtualCluster {ns}/{} not found", args.name))?;
    if !vc.is_running() {
        bail!(
            "VirtualCluster {ns}/{} is not Running yet, so it has no kubeconfig: {}",
            args.name,
            failing_condition(&vc)
        );
    }
    let key = cluster_key(&vc).map_err(|e| anyhow!("{e}"))?;
    let secrets: Api<Secret> = Api::namespaced(client, &key);
    let secret = secrets
        .get_opt(SECRET_ADMIN_KUBECONFIG)
        .await
        .map_err(|e| {
            explain(
                e,
                &format!("cannot read secret {key}/{SECRET_ADMIN_KUBECONFIG}"),
            )
        })?
        .ok_or_else(|| anyhow!("secret {key}/{SECRET_ADMIN_KUBECONFIG} does not exist"))?;
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(SECRET_ADMIN_KUBECONFIG))
        .ok_or_else(|| {
            anyhow!("secret {key}/{SECRET_ADMIN_KUBECONFIG} has no key {SECRET_ADMIN_KUBECONFIG}")
        })?;
    std::io::stdout().write_all(&data.0)?;
    Ok(())
}

/// `vcctl delete`.
pub async fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    let client = client(&args.target).await?;
    let ns = args.target.namespace.as_str();
    let api: Api<VirtualCluster> = Api::namespaced(client.clone(), ns);
    match api.delete(&args.name, &DeleteParams::default()).await {
        Ok(_) => println!("virtualcluster.tenancy.x-k8s.io/{} deleted", args.name),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            bail!("VirtualCluster {ns}/{} not found", args.name)
        }
        Err(e) => return Err(explain(e, &format!("cannot delete {ns}/{}", args.name))),
    }
    if !args.wait {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut last_line = String::new();
    loop {
        match api
            .get_opt(&args.name)
            .await
            .map_err(|e| explain(e, "cannot read"))?
        {
            None => {
                println!("virtualcluster.tenancy.x-k8s.io/{} is gone", args.name);
                return Ok(());
            }
            Some(vc) => {
                let line = progress_line(&vc);
                if line != last_line {
                    eprintln!("{line}");
                    last_line = line;
                }
                if tokio::time::Instant::now() >= deadline {
                    bail!(
                        "VirtualCluster {ns}/{} still exists after {}s: {}",
                        args.name,
                        args.timeout,
                        failing_condition(&vc)
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::{ClusterCondition, VirtualClusterStatus};

    fn vc(phase: ClusterPhase, conditions: Vec<ClusterCondition>) -> VirtualCluster {
        let mut vc = VirtualCluster::new(
            "demo",
            crds::VirtualClusterSpec {
                cluster_version_name: "v1.31".into(),
                ..Default::default()
            },
        );
        vc.metadata.namespace = Some("default".into());
        vc.status = Some(VirtualClusterStatus {
            phase: Some(phase),
            cluster_namespace: Some("default-abc123-demo".into()),
            reason: Some("R".into()),
            message: Some("m".into()),
            conditions,
            observed_generation: None,
            quota: None,
        });
        vc
    }

    fn cond(t: &str, s: &str, reason: &str, msg: &str) -> ClusterCondition {
        ClusterCondition {
            type_: t.into(),
            status: s.into(),
            last_transition_time: None,
            reason: Some(reason.into()),
            message: Some(msg.into()),
        }
    }

    #[test]
    fn the_failing_condition_is_named() {
        let v = vc(
            ClusterPhase::Failed,
            vec![
                cond("PKIReady", "True", "Issued", ""),
                cond(
                    "Ready",
                    "False",
                    "ClusterVersionNotFound",
                    "ClusterVersion \"x\" does not exist",
                ),
            ],
        );
        assert_eq!(
            failing_condition(&v),
            "condition Ready=False (ClusterVersionNotFound): ClusterVersion \"x\" does not exist"
        );
        let mut none = v.clone();
        none.status = None;
        assert!(failing_condition(&none).contains("is vc-manager running"));
    }

    #[test]
    fn table_lines_up() {
        let mut v = vc(
            ClusterPhase::Running,
            vec![cond("Ready", "True", "Ready", "")],
        );
        let now = jiff::Timestamp::now();
        v.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            now - jiff::SignedDuration::from_secs(600),
        ));
        let t = table(&[v.clone()], now);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("NAMESPACE   NAME   PHASE     READY   CLUSTERVERSION"));
        assert!(lines[1].contains("Running   True    v1.31"), "{t}");
        assert!(lines[1].ends_with("default-abc123-demo   10m"), "{t}");
        assert!(
            lines[1].contains("v1.31            -      -     default"),
            "{t}"
        );
        if let Some(s) = v.status.as_mut() {
            s.quota = Some(crds::TenantQuotaStatus {
                hard: [("pods", "100"), ("requests.cpu", "10")]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
                used: [("pods", "42"), ("requests.cpu", "2500m")]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
            });
        }
        let t = table(&[v], now);
        assert!(
            t.lines()
                .nth(1)
                .is_some_and(|l| l.contains("42/100   2500m/10")),
            "{t}"
        );
    }

    #[test]
    fn ages() {
        let s = jiff::SignedDuration::from_secs;
        assert_eq!(age(s(5)), "5s");
        assert_eq!(age(s(600)), "10m");
        assert_eq!(age(s(3 * 3600)), "3h");
        assert_eq!(age(s(5 * 86_400)), "5d");
    }

    #[test]
    fn parses_multi_document_yaml() {
        let text = "apiVersion: tenancy.x-k8s.io/v1alpha1\nkind: VirtualCluster\nmetadata:\n  name: a\nspec:\n  clusterVersionName: v1\n---\n---\napiVersion: tenancy.x-k8s.io/v1alpha1\nkind: VirtualCluster\nmetadata:\n  name: b\n  namespace: t\nspec:\n  clusterVersionName: v1\n  provisioner: local\n";
        let vcs = parse_virtualclusters(text).unwrap();
        assert_eq!(vcs.len(), 2);
        assert_eq!(vcs[1].metadata.namespace.as_deref(), Some("t"));
        assert_eq!(vcs[1].spec.provisioner, Some(crds::Provisioner::Local));
        let err = parse_virtualclusters("kind: Pod\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kind \"Pod\""), "{err}");
        assert!(parse_virtualclusters("").is_err());
    }
}
