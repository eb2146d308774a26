//! Server-side printer columns driven by the real kubectl: `kubectl get <kind>` and
//! `-o wide` headers and representative cells of the kinds that print upstream's columns
//! beyond `NAME CREATED AT` (compared by hand against a v1.28 kube-apiserver; `PreemptionPolicy`
//! and ResourceQuota's trailing `AGE` are v1.33's).

use crate::harness::{Kubectl, server};

/// Namespaced objects, one (or two) of each kind, in namespace `prn`.
const NAMESPACED: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: prn}
---
apiVersion: v1
kind: PodTemplate
metadata: {name: pt, namespace: prn}
template:
  metadata: {labels: {app: web, tier: fe}}
  spec: {containers: [{name: a, image: nginx}, {name: b, image: busybox}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: rc, namespace: prn}
spec:
  replicas: 0
  selector: {app: rc}
  template:
    metadata: {labels: {app: rc}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: rq, namespace: prn}
spec:
  hard: {pods: "10", requests.cpu: "1", limits.memory: 2Gi}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hpa, namespace: prn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: es, namespace: prn}
addressType: IPv4
ports: [{port: 80, name: http}, {port: 53, name: dns}]
endpoints:
- addresses: [10.0.0.1]
- addresses: [10.0.0.2]
- addresses: [10.0.0.3]
- addresses: [10.0.0.4]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing, namespace: prn}
spec:
  ingressClassName: ic
  tls: [{hosts: [a.example.com]}]
  rules: [{host: a.example.com}, {host: b.example.com}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: prn}
spec:
  podSelector:
    matchLabels: {app: web}
    matchExpressions: [{key: tier, operator: In, values: [fe, be]}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pdb, namespace: prn}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: prn}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
- {kind: User, name: bob, apiGroup: rbac.authorization.k8s.io}
- {kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}
- {kind: ServiceAccount, name: sa, namespace: prn}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: prn}
spec:
  replicas: 0
  serviceName: web
  selector: {matchLabels: {app: sts}}
  template:
    metadata: {labels: {app: sts}}
    spec: {containers: [{name: c, image: nginx}]}
"#;

/// Cluster-scoped objects, one of each kind.
const CLUSTER: &str = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: ic}
spec:
  controller: example.com/ingress
  parameters: {apiGroup: k8s.example.com, kind: Params, name: p}
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: rtc}
handler: runc
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prn-crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: Group, name: devs, apiGroup: rbac.authorization.k8s.io}]
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: prn-pc}
value: 1000
preemptionPolicy: Never
---
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {name: csi.example.com}
spec:
  attachRequired: false
  tokenRequests: [{audience: a}, {audience: b}]
  volumeLifecycleModes: [Persistent, Ephemeral]
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {name: prn-node}
spec:
  drivers: [{name: csi.example.com, nodeID: n1}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: prn-sc
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: example.com/p
allowVolumeExpansion: true
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {name: prn-va}
spec:
  attacher: csi.example.com
  nodeName: n1
  source: {persistentVolumeName: pv1}
"#;

/// The header line of `out` with runs of spaces collapsed.
fn header(out: &str) -> String {
    out.lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The row of `name` in `out`, with runs of spaces collapsed.
fn row(out: &str, name: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{out}"));
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks `kubectl get <args>` and its `-o wide` headers, and that the row of `name` in the
/// wide output contains `cell`.
fn check(k: &Kubectl, args: &[&str], plain: &str, wide: &str, name: &str, cell: &str) {
    let out = k.ok(&[&["get"], args].concat());
    assert_eq!(header(&out), plain, "{args:?}:\n{out}");
    let out = k.ok(&[&["get"], args, &["-o", "wide"]].concat());
    assert_eq!(header(&out), wide, "{args:?} -o wide:\n{out}");
    let line = row(&out, name);
    assert!(line.contains(cell), "{args:?}: {cell:?} not in {line:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_prints_upstream_columns_for_namespaced_kinds() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok_stdin(&["apply", "-f", "-"], NAMESPACED);
    // Usage is the quota controller's to report; here the test reports it.
    k.ok(&[
        "patch", "quota", "rq", "-n", "prn", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"hard":{"pods":"10","requests.cpu":"1","limits.memory":"2Gi"},"used":{"pods":"3","limits.memory":"1Gi"}}}"#,
    ]);
    let uid = k.ok(&[
        "get",
        "sts",
        "web",
        "-n",
        "prn",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: apps/v1\nkind: ControllerRevision\nmetadata:\n  name: web-1\n  namespace: prn\n  ownerReferences: [{{apiVersion: apps/v1, kind: StatefulSet, name: web, uid: {uid}, controller: true}}]\nrevision: 3\ndata: {{}}\n"
        ),
    );
    let ns = |kind: &'static str| [kind, "-n", "prn"];

    check(
        &k,
        &ns("podtemplates"),
        "NAME CONTAINERS IMAGES POD LABELS",
        "NAME CONTAINERS IMAGES POD LABELS",
        "pt",
        "a,b nginx,busybox app=web,tier=fe",
    );
    check(
        &k,
        &ns("rc"),
        "NAME DESIRED CURRENT READY AGE",
        "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR",
        "rc",
        "c nginx app=rc",
    );
    check(
        &k,
        &ns("quota"),
        "NAME REQUEST LIMIT AGE",
        "NAME REQUEST LIMIT AGE",
        "rq",
        "pods: 3/10, requests.cpu: 0/1 limits.memory: 1Gi/2Gi",
    );
    check(
        &k,
        &ns("controllerrevisions"),
        "NAME CONTROLLER REVISION AGE",
        "NAME CONTROLLER REVISION AGE",
        "web-1",
        "statefulset.apps/web 3",
    );
    check(
        &k,
        &ns("hpa"),
        "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE",
        "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE",
        "hpa",
        "Deployment/web cpu: <unknown>/50% 2 5 0",
    );
    check(
        &k,
        &ns("endpointslices"),
        "NAME ADDRESSTYPE PORTS ENDPOINTS AGE",
        "NAME ADDRESSTYPE PORTS ENDPOINTS AGE",
        "es",
        "IPv4 80,53 10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
    );
    check(
        &k,
        &ns("ingresses"),
        "NAME CLASS HOSTS ADDRESS PORTS AGE",
        "NAME CLASS HOSTS ADDRESS PORTS AGE",
        "ing",
        "ic a.example.com,b.example.com 80, 443",
    );
    check(
        &k,
        &ns("netpol"),
        "NAME POD-SELECTOR AGE",
        "NAME POD-SELECTOR AGE",
        "np",
        "app=web,tier in (be,fe)",
    );
    check(
        &k,
        &ns("pdb"),
        "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE",
        "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE",
        "pdb",
        "pdb 2 N/A 0 ",
    );
    check(
        &k,
        &ns("rolebindings"),
        "NAME ROLE AGE",
        "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS",
        "rb",
        "ClusterRole/view",
    );
    let wide = row(
        &k.ok(&["get", "rolebindings", "-n", "prn", "-o", "wide"]),
        "rb",
    );
    assert!(wide.ends_with("alice, bob devs prn/sa"), "{wide}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_prints_upstream_columns_for_cluster_kinds() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok_stdin(&["apply", "-f", "-"], CLUSTER);

    check(
        &k,
        &["ingressclasses"],
        "NAME CONTROLLER PARAMETERS AGE",
        "NAME CONTROLLER PARAMETERS AGE",
        "ic",
        "example.com/ingress Params.k8s.example.com/p",
    );
    check(
        &k,
        &["runtimeclasses"],
        "NAME HANDLER AGE",
        "NAME HANDLER AGE",
        "rtc",
        "rtc runc",
    );
    check(
        &k,
        &["clusterrolebindings"],
        "NAME ROLE AGE",
        "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS",
        "prn-crb",
        "ClusterRole/view",
    );
    check(
        &k,
        &["priorityclasses"],
        "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY",
        "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY",
        "prn-pc",
        "1000 false",
    );
    assert!(row(&k.ok(&["get", "pc"]), "prn-pc").ends_with("Never"));
    let csi = "NAME ATTACHREQUIRED PODINFOONMOUNT STORAGECAPACITY TOKENREQUESTS REQUIRESREPUBLISH MODES AGE";
    check(
        &k,
        &["csidrivers"],
        csi,
        csi,
        "csi.example.com",
        "false false false a,b false Persistent,Ephemeral",
    );
    check(
        &k,
        &["csinodes"],
        "NAME DRIVERS AGE",
        "NAME DRIVERS AGE",
        "prn-node",
        "prn-node 1 ",
    );
    let sc = "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE";
    check(
        &k,
        &["storageclasses"],
        sc,
        sc,
        "prn-sc",
        "prn-sc (default) example.com/p Delete Immediate true",
    );
    let va = "NAME ATTACHER PV NODE ATTACHED AGE";
    check(
        &k,
        &["volumeattachments"],
        va,
        va,
        "prn-va",
        "csi.example.com pv1 n1 false",
    );
    // Kinds upstream prints with the default convertor keep `NAME CREATED AT`.
    let out = k.ok(&["get", "clusterroles", "view"]);
    assert_eq!(header(&out), "NAME CREATED AT", "{out}");
}
