//! An embedded API server with nodesim attached.

use std::future::Future;
use std::time::Duration;

use apiserver::{ServerBuilder, ServerHandle};
use k8s_openapi::api::core::v1::{Container, ContainerPort, Namespace, Pod, PodSpec};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use nodesim::{NodesimConfig, NodesimHandle, PoolConfig};

pub struct Env {
    pub srv: ServerHandle,
    pub sim: NodesimHandle,
    pub client: Client,
}

pub async fn start(pools: Vec<PoolConfig>) -> Env {
    start_with(pools, |_| {}).await
}

pub async fn start_with(pools: Vec<PoolConfig>, tune: impl FnOnce(&mut NodesimConfig)) -> Env {
    common::process::install_crypto_provider();
    let srv = ServerBuilder::new()
        .start()
        .await
        .expect("api server starts");
    let mut cfg = NodesimConfig::new(srv.kube_config(), 0, srv.client_ca_pem());
    cfg.pools = pools;
    cfg.heartbeat.lease_duration = Duration::from_secs(4);
    cfg.heartbeat.renew_interval = Duration::from_millis(500);
    cfg.heartbeat.status_interval = Duration::from_secs(2);
    tune(&mut cfg);
    let sim = nodesim::start(cfg).await.expect("nodesim starts");
    sim.wait_ready(Duration::from_secs(30))
        .await
        .expect("nodes register");
    let client = srv.client();
    Env { srv, sim, client }
}

pub fn pool(name: &str, count: usize, cpu: &str) -> PoolConfig {
    PoolConfig {
        name: name.into(),
        count,
        cpu: cpu.into(),
        ..Default::default()
    }
}

pub async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("namespace: {e}"),
    }
}

pub fn pod(name: &str, cpu: Option<&str>) -> Pod {
    let mut c = Container {
        name: "app".into(),
        image: Some("nginx:1.27".into()),
        ports: Some(vec![ContainerPort {
            container_port: 8080,
            ..Default::default()
        }]),
        ..Default::default()
    };
    if let Some(cpu) = cpu {
        c.resources = Some(k8s_openapi::api::core::v1::ResourceRequirements {
            requests: Some(
                [(
                    "cpu".to_string(),
                    k8s_openapi::apimachinery::pkg::api::resource::Quantity(cpu.into()),
                )]
                .into(),
            ),
            ..Default::default()
        });
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![c],
            termination_grace_period_seconds: Some(5),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub async fn create(client: &Client, ns: &str, pod: Pod) -> Pod {
    Api::<Pod>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pod)
        .await
        .expect("pod created")
}

/// Polls until `check` yields a value.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn get(client: &Client, ns: &str, name: &str) -> Option<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
}

pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub async fn running(client: &Client, ns: &str, name: &str) -> Pod {
    eventually(&format!("{ns}/{name} Running"), || async {
        get(client, ns, name)
            .await
            .filter(|p| phase(p) == "Running")
    })
    .await
}

pub fn condition<'a>(
    p: &'a Pod,
    kind: &str,
) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}
