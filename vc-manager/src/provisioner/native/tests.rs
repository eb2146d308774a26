//! The native render, checked field by field against the sample ClusterVersion.

use std::collections::BTreeMap;
use std::sync::Arc;

use crds::tenancy::TenantId;
use crds::{ClusterVersion, VirtualCluster};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Container, Secret, Service};

use super::render::*;
use super::*;
use crate::validate::ValidSpec;

const SAMPLE: &str = include_str!("../../../../config/samples/clusterversion.yaml");
const NS: &str = "team-a-1a2b3c-demo";

fn sample() -> ClusterVersion {
    serde_yaml::from_str(SAMPLE).unwrap()
}

fn inputs(hashes: &BTreeMap<String, String>) -> RenderInputs<'_> {
    RenderInputs {
        namespace: NS,
        service_cidr: "10.40.0.0/16",
        secret_hashes: hashes,
    }
}

fn container(d: &Desired, c: Component) -> &Container {
    let sts = &d.stateful_sets.iter().find(|(x, _)| *x == c).unwrap().1;
    &sts.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
}

fn args(c: &Container) -> Vec<&str> {
    c.args.iter().flatten().map(String::as_str).collect()
}

#[test]
fn services_are_the_cluster_versions_own() {
    let cv = sample();
    let d = render(&cv, &inputs(&BTreeMap::new())).unwrap();
    let names: Vec<&str> = d
        .services
        .iter()
        .map(|s| s.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["etcd", "apiserver-svc"],
        "controller-manager has no service"
    );
    for (svc, bundle) in d
        .services
        .iter()
        .zip([cv.spec.etcd.as_ref(), cv.spec.api_server.as_ref()])
    {
        let want: &Service = bundle.unwrap().service.as_ref().unwrap();
        assert_eq!(svc.spec, want.spec, "spec copied verbatim");
        assert_eq!(svc.metadata.namespace.as_deref(), Some(NS));
        let labels = svc.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "vc-manager");
        assert!(svc.status.is_none());
    }
}

#[test]
fn stateful_sets_differ_from_the_cluster_version_only_where_documented() {
    let cv = sample();
    let d = render(&cv, &inputs(&BTreeMap::new())).unwrap();
    let order: Vec<Component> = d.stateful_sets.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        order,
        vec![
            Component::Etcd,
            Component::ApiServer,
            Component::ControllerManager
        ]
    );
    for ((component, got), (_, bundle)) in d.stateful_sets.iter().zip(components(&cv)) {
        let want = bundle.stateful_set.as_ref().unwrap();
        assert_eq!(got.metadata.name, want.metadata.name);
        assert_eq!(got.metadata.namespace.as_deref(), Some(NS));
        assert_eq!(
            got.metadata.labels.as_ref().unwrap()["app.kubernetes.io/component"],
            component.as_str()
        );
        let (mut got_spec, want_spec) = (got.spec.clone().unwrap(), want.spec.clone().unwrap());
        // The documented differences: first container's args, the template's hash annotation.
        let ann = got_spec
            .template
            .metadata
            .as_mut()
            .unwrap()
            .annotations
            .take()
            .unwrap();
        assert_eq!(ann.len(), 1);
        assert_eq!(ann[ANNOTATION_PKI_HASH].len(), 16);
        got_spec.template.metadata.as_mut().unwrap().annotations = want_spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .clone();
        let got_pod = got_spec.template.spec.as_mut().unwrap();
        got_pod.containers[0].args = want_spec.template.spec.as_ref().unwrap().containers[0]
            .args
            .clone();
        assert_eq!(
            got_spec, want_spec,
            "{component:?}: everything else verbatim"
        );
    }
}

#[test]
fn etcd_gets_its_initial_cluster() {
    let mut cv = sample();
    let d = render(&cv, &inputs(&BTreeMap::new())).unwrap();
    let a = args(container(&d, Component::Etcd));
    assert_eq!(
        a.last().copied(),
        Some("--initial-cluster=etcd-0=https://etcd-0.etcd:2380")
    );
    let sts = cv
        .spec
        .etcd
        .as_mut()
        .unwrap()
        .stateful_set
        .as_mut()
        .unwrap();
    sts.spec.as_mut().unwrap().replicas = Some(3);
    let d = render(&cv, &inputs(&BTreeMap::new())).unwrap();
    assert_eq!(
        args(container(&d, Component::Etcd)).last().copied(),
        Some(
            "--initial-cluster=etcd-0=https://etcd-0.etcd:2380,etcd-1=https://etcd-1.etcd:2380,\
             etcd-2=https://etcd-2.etcd:2380"
        )
    );
}

#[test]
fn apiserver_and_controller_manager_use_the_tenant_service_cidr() {
    let d = render(&sample(), &inputs(&BTreeMap::new())).unwrap();
    for c in [Component::ApiServer, Component::ControllerManager] {
        let a = args(container(&d, c));
        let ranges: Vec<&&str> = a
            .iter()
            .filter(|x| x.starts_with("--service-cluster-ip-range"))
            .collect();
        assert_eq!(
            ranges,
            vec![&"--service-cluster-ip-range=10.40.0.0/16"],
            "{c:?}"
        );
    }
}

#[test]
fn apiserver_presents_the_kubelet_client_certificate() {
    let mut cv = sample();
    // Even a ClusterVersion that forgot it gets the mount and the flags.
    let pod = cv
        .spec
        .api_server
        .as_mut()
        .unwrap()
        .stateful_set
        .as_mut()
        .unwrap()
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap();
    pod.volumes
        .as_mut()
        .unwrap()
        .retain(|v| v.name != "kubelet-client");
    let c = &mut pod.containers[0];
    c.volume_mounts
        .as_mut()
        .unwrap()
        .retain(|m| m.name != "kubelet-client");
    c.args
        .as_mut()
        .unwrap()
        .retain(|a| !a.starts_with("--kubelet-client-"));
    let d = render(&cv, &inputs(&BTreeMap::new())).unwrap();
    let c = container(&d, Component::ApiServer);
    let a = args(c);
    assert!(a.contains(&"--kubelet-client-certificate=/etc/kubernetes/pki/kubelet-client/tls.crt"));
    assert!(a.contains(&"--kubelet-client-key=/etc/kubernetes/pki/kubelet-client/tls.key"));
    let mounts = c.volume_mounts.as_ref().unwrap();
    assert_eq!(
        mounts.iter().filter(|m| m.name == "kubelet-client").count(),
        1
    );
    let sts = &d.stateful_sets[1].1;
    let vols = sts
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .as_ref()
        .unwrap();
    let v: Vec<_> = vols.iter().filter(|v| v.name == "kubelet-client").collect();
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].secret.as_ref().unwrap().secret_name.as_deref(),
        Some("kubelet-client")
    );
}

fn secret(data: &str) -> Secret {
    Secret {
        data: Some(BTreeMap::from([(
            "tls.crt".to_string(),
            ByteString(data.as_bytes().to_vec()),
        )])),
        ..Default::default()
    }
}

fn hash_of(d: &Desired, c: Component) -> String {
    let sts = &d.stateful_sets.iter().find(|(x, _)| *x == c).unwrap().1;
    sts.spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap()[ANNOTATION_PKI_HASH]
        .clone()
}

#[test]
fn new_certificates_roll_exactly_the_pods_that_mount_them() {
    let cv = sample();
    let mut secrets = BTreeMap::from([
        ("etcd-ca".to_string(), secret("e1")),
        ("apiserver-ca".to_string(), secret("a1")),
        ("controller-manager-kubeconfig".to_string(), secret("c1")),
    ]);
    let before = render(&cv, &inputs(&secret_hashes(&secrets))).unwrap();
    secrets.insert("apiserver-ca".into(), secret("a2"));
    let after = render(&cv, &inputs(&secret_hashes(&secrets))).unwrap();
    assert_eq!(
        hash_of(&before, Component::Etcd),
        hash_of(&after, Component::Etcd)
    );
    assert_ne!(
        hash_of(&before, Component::ApiServer),
        hash_of(&after, Component::ApiServer)
    );
    assert_eq!(
        hash_of(&before, Component::ControllerManager),
        hash_of(&after, Component::ControllerManager)
    );
}

#[test]
fn incomplete_cluster_versions_are_explained() {
    let mut cv = sample();
    cv.spec.api_server.as_mut().unwrap().service = None;
    assert!(
        check_cluster_version(&cv)
            .unwrap_err()
            .contains("spec.apiServer.service")
    );
    let mut cv = sample();
    cv.spec.api_server = None;
    assert_eq!(
        check_cluster_version(&cv).unwrap_err(),
        "spec.apiServer is not set"
    );
    let mut cv = sample();
    cv.spec.etcd.as_mut().unwrap().stateful_set = None;
    assert!(
        check_cluster_version(&cv)
            .unwrap_err()
            .contains("spec.etcd.statefulset")
    );
    // etcd and controller-manager are optional (external etcd, no controllers).
    let mut cv = sample();
    cv.spec.etcd = None;
    cv.spec.controller_manager = None;
    assert!(check_cluster_version(&cv).is_ok());
}

#[test]
fn flags_in_split_form_are_replaced_in_place() {
    let mut c = Container {
        command: Some(vec![
            "kube-apiserver".into(),
            "--service-cluster-ip-range".into(),
            "1.0.0.0/16".into(),
        ]),
        args: Some(vec!["--v=2".into()]),
        ..Default::default()
    };
    set_flag(&mut c, "--service-cluster-ip-range", "10.40.0.0/16");
    assert_eq!(c.command.as_ref().unwrap()[2], "10.40.0.0/16");
    assert_eq!(c.args.as_ref().unwrap().len(), 1);
    assert!(has_flag(&c, "--service-cluster-ip-range"));
    assert!(!has_flag(&c, "--service-cluster"));
}

fn tenant(cv: ClusterVersion) -> Tenant {
    let mut vc = VirtualCluster::new("demo", Default::default());
    vc.metadata.namespace = Some("team-a".into());
    vc.metadata.uid = Some("u".into());
    Tenant {
        vc: Arc::new(vc),
        id: TenantId {
            cluster_key: NS.into(),
            vc_name: "demo".into(),
            vc_namespace: "team-a".into(),
            vc_uid: "u".into(),
        },
        spec: ValidSpec {
            provisioner: crds::Provisioner::Native,
            service_cidr: "10.40.0.0/16".parse().unwrap(),
            cluster_domain: "cluster.local".into(),
            pki_expire_days: 365,
            cluster_version: Some(cv),
            import_kubeconfig: None,
        },
    }
}

#[test]
fn endpoints_come_from_the_apiserver_service() {
    let t = tenant(sample());
    let mut svc: Service = Service::default();
    assert!(
        service_endpoints(&t, &svc, "apiserver-svc", 6443, &[]).is_none(),
        "no IP yet"
    );
    svc.spec = Some(k8s_openapi::api::core::v1::ServiceSpec {
        cluster_ip: Some("10.96.4.5".into()),
        ..Default::default()
    });
    let e = service_endpoints(&t, &svc, "apiserver-svc", 6443, &["vc.example.com".into()]).unwrap();
    assert_eq!(e.server, "https://10.96.4.5:6443");
    let dns: Vec<&str> = e.apiserver_names.dns.iter().map(String::as_str).collect();
    for want in [
        "apiserver-svc",
        "apiserver-svc.team-a-1a2b3c-demo",
        "apiserver-svc.team-a-1a2b3c-demo.svc",
        "apiserver-svc.team-a-1a2b3c-demo.svc.cluster.local",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "vc.example.com",
    ] {
        assert!(dns.contains(&want), "{want} in {dns:?}");
    }
    let ips: Vec<String> = e
        .apiserver_names
        .ips
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(ips, vec!["10.40.0.1", "10.96.4.5", "127.0.0.1"]);
    assert!(
        e.etcd_names
            .dns
            .contains("etcd-0.etcd.team-a-1a2b3c-demo.svc")
    );

    svc.spec.as_mut().unwrap().cluster_ip = Some("fd00::7".into());
    let e = service_endpoints(&t, &svc, "apiserver-svc", 6443, &[]).unwrap();
    assert_eq!(e.server, "https://[fd00::7]:6443");
    svc.spec.as_mut().unwrap().cluster_ip = Some("None".into());
    let e = service_endpoints(&t, &svc, "apiserver-svc", 6443, &[]).unwrap();
    assert_eq!(
        e.server,
        "https://apiserver-svc.team-a-1a2b3c-demo.svc:6443"
    );
}
