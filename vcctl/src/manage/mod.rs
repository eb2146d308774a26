//! VirtualCluster management: `create`, `get`, `kubeconfig`, `delete` (also as `kubectl vc …`).
//! What `get` and `create --wait` print is rendered in `print`.

mod print;

use print::{failing_condition, is_ready, progress_line, table};

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use crds::condition::CONDITION_READY;
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
        writeln!(
            std::io::stdout(),
            "virtualcluster.tenancy.x-k8s.io/{name} created"
        )?;
        created.push((ns, name));
    }
    if args.wait {
        for (ns, name) in created {
            wait_running(&client, &ns, &name, Duration::from_secs(args.timeout)).await?;
            writeln!(
                std::io::stdout(),
                "virtualcluster.tenancy.x-k8s.io/{name} is Running"
            )?;
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
        Ok(_) => writeln!(
            std::io::stdout(),
            "virtualcluster.tenancy.x-k8s.io/{} deleted",
            args.name
        )?,
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
                writeln!(
                    std::io::stdout(),
                    "virtualcluster.tenancy.x-k8s.io/{} is gone",
                    args.name
                )?;
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
mod tests;
