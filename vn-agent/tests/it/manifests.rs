//! The deployable manifests agree with the binary: flags parse, ports and RBAC match.

use clap::Parser;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::rbac::v1::ClusterRole;
use vn_agent::Config;

fn read(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/vn-agent")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn daemonset_runs_on_every_node_with_host_network_and_valid_flags() {
    let ds: DaemonSet = serde_yaml::from_str(&read("daemonset.yaml")).unwrap();
    let pod = ds.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.host_network, Some(true));
    let tolerations = pod.tolerations.unwrap();
    assert!(
        tolerations
            .iter()
            .any(|t| t.operator.as_deref() == Some("Exists") && t.key.is_none()),
        "must tolerate every taint"
    );
    let c = &pod.containers[0];
    let mut argv = vec!["vn-agent".to_string()];
    argv.extend(c.args.clone().unwrap());
    let config = Config::try_parse_from(&argv).unwrap();
    assert_eq!(config.listen.port(), 10550);
    let ports = c.ports.clone().unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p.container_port == 10550 && p.host_port == Some(10550))
    );
    assert!(
        ports
            .iter()
            .any(|p| i32::from(config.metrics_bind_address.port()) == p.container_port)
    );
    // The mounted secret is the one the flags read.
    let cert = config.kubelet_client_certificate.unwrap();
    let mount = &c.volume_mounts.as_ref().unwrap()[0];
    assert!(cert.starts_with(&mount.mount_path));
}

#[test]
fn rbac_allows_reading_only_root_ca_secrets() {
    let text = read("rbac.yaml");
    let role_doc = text.split("\n---\n").next().unwrap();
    let role: ClusterRole = serde_yaml::from_str(role_doc).unwrap();
    let rules = role.rules.unwrap();
    let secrets = rules
        .iter()
        .find(|r| {
            r.resources
                .as_ref()
                .is_some_and(|x| x.contains(&"secrets".to_string()))
        })
        .unwrap();
    assert_eq!(
        secrets.resource_names.as_deref(),
        Some(&["root-ca".to_string()][..])
    );
    assert_eq!(secrets.verbs, vec!["get".to_string()]);
    for r in &rules {
        assert!(
            r.verbs
                .iter()
                .all(|v| ["get", "list", "watch"].contains(&v.as_str())),
            "read-only: {r:?}"
        );
    }
}
