//! `flowcontrol.apiserver.k8s.io` with kubectl, each expectation read off a real v1.28 server:
//! the bootstrap configuration and its columns, a FlowSchema whose priority level is missing
//! (`Dangling`), validation messages, v1beta2's shares and deprecation warning, and the
//! maintenance of the bootstrap objects across a restart.

use apiserver::ServerBuilder;

use crate::harness::{Kubectl, eventually, server};

/// Rows without the AGE column (the fifth of FlowSchemas, the seventh of priority levels).
fn rows(out: &str, age: usize) -> Vec<String> {
    out.lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.split_whitespace().collect();
            if cells.len() > age {
                cells.remove(age);
            }
            cells.join(" ")
        })
        .collect()
}

const BAD_FS: &str = r#"apiVersion: flowcontrol.apiserver.k8s.io/v1beta3
kind: FlowSchema
metadata: {name: bad-fs}
spec:
  matchingPrecedence: 20000
  distinguisherMethod: {type: ByColor}
  priorityLevelConfiguration: {name: ""}
  rules:
  - subjects: []
    resourceRules: [{verbs: ["get", "*"], apiGroups: [], resources: ["pods"], namespaces: []}]
  - subjects: [{kind: User}, {kind: Robot}]
    nonResourceRules: [{verbs: [], nonResourceURLs: ["healthz"]}]
  - subjects: [{kind: ServiceAccount, serviceAccount: {namespace: "", name: x}}]
"#;

/// What upstream v1.28 answers to `BAD_FS`.
const BAD_FS_ERRORS: &str = r#"The FlowSchema "bad-fs" is invalid: 
* spec.matchingPrecedence: Invalid value: 20000: must not be greater than 10000
* spec.distinguisherMethod.type: Unsupported value: flowcontrol.FlowDistinguisherMethod{Type:"ByColor"}: supported values: "ByNamespace", "ByUser"
* spec.priorityLevelConfiguration.name: Required value: must reference a priority level
* spec.rules[0].subjects: Required value: subjects must contain at least one value
* spec.rules[0].resourceRules[0].verbs: Invalid value: []string{"get", "*"}: if '*' is present, must not specify other verbs
* spec.rules[0].resourceRules[0].apiGroups: Required value: resource rules must supply at least one api group
* spec.rules[0].resourceRules[0].namespaces: Required value: resource rules that are not cluster scoped must supply at least one namespace
* spec.rules[1].subjects[0].user: Required value: user is required when subject kind is 'User'
* spec.rules[1].subjects[1].kind: Unsupported value: "Robot": supported values: "Group", "ServiceAccount", "User"
* spec.rules[1].nonResourceRules[0].verbs: Required value: verbs must contain at least one value
* spec.rules[1].nonResourceRules[0].nonResourceURLs[0]: Invalid value: "healthz": must start with slash
* spec.rules[2].subjects[0].serviceAccount.namespace: Required value: must specify namespace for service account
* spec.rules[2]: Required value: at least one of resourceRules and nonResourceRules has to be non-empty"#;

const BAD_PLC: &str = r#"apiVersion: flowcontrol.apiserver.k8s.io/v1beta3
kind: PriorityLevelConfiguration
metadata: {name: bad-plc}
spec:
  type: Limited
  limited:
    limitResponse: {type: Queue, queuing: {queues: 5, handSize: 10, queueLengthLimit: -1}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_schemas_and_priority_levels_as_upstream() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    let fs = k.ok(&["get", "flowschemas"]);
    assert_eq!(
        rows(&fs, 4),
        [
            "NAME PRIORITYLEVEL MATCHINGPRECEDENCE DISTINGUISHERMETHOD MISSINGPL",
            "exempt exempt 1 <none> False",
            "probes exempt 2 <none> False",
            "system-leader-election leader-election 100 ByUser False",
            "endpoint-controller workload-high 150 ByUser False",
            "workload-leader-election leader-election 200 ByUser False",
            "system-node-high node-high 400 ByUser False",
            "system-nodes system 500 ByUser False",
            "kube-controller-manager workload-high 800 ByNamespace False",
            "kube-scheduler workload-high 800 ByNamespace False",
            "kube-system-service-accounts workload-high 900 ByNamespace False",
            "service-accounts workload-low 9000 ByUser False",
            "global-default global-default 9900 ByUser False",
            "catch-all catch-all 10000 ByUser False",
        ],
        "{fs}"
    );
    let pl = k.ok(&["get", "prioritylevelconfigurations"]);
    assert_eq!(
        rows(&pl, 6),
        [
            "NAME TYPE NOMINALCONCURRENCYSHARES QUEUES HANDSIZE QUEUELENGTHLIMIT",
            "catch-all Limited 5 <none> <none> <none>",
            "exempt Exempt <none> <none> <none> <none>",
            "global-default Limited 20 128 6 50",
            "leader-election Limited 10 16 4 50",
            "node-high Limited 40 64 6 50",
            "system Limited 30 64 6 50",
            "workload-high Limited 40 128 6 50",
            "workload-low Limited 100 128 6 50",
        ],
        "{pl}"
    );

    // A FlowSchema whose priority level does not exist is Dangling until it does.
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata: {name: dangling}\nspec:\n  priorityLevelConfiguration: {name: nope}\n  rules:\n  - subjects: [{kind: User, user: {name: alice}}]\n    nonResourceRules: [{verbs: [\"*\"], nonResourceURLs: [\"*\"]}]\n",
    );
    let cond = || {
        k.ok(&[
            "get",
            "flowschema",
            "dangling",
            "-o",
            "jsonpath={.spec.matchingPrecedence} {.status.conditions[0].type}={.status.conditions[0].status} {.status.conditions[0].reason}: {.status.conditions[0].message}",
        ])
    };
    let want = r#"1000 Dangling=True NotFound: This FlowSchema references the PriorityLevelConfiguration object named "nope" but there is no such object"#;
    eventually(20, || async { (cond() == want).then_some(()) }).await;
    let row = k.ok(&["get", "flowschema", "dangling", "--no-headers"]);
    assert_eq!(rows(&row, 4), ["dangling nope 1000 <none> True"]);

    // v1beta2 speaks assuredConcurrencyShares and warns.
    let (ok, _, err) = k.run_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: flowcontrol.apiserver.k8s.io/v1beta2\nkind: PriorityLevelConfiguration\nmetadata: {name: nope}\nspec:\n  type: Limited\n  limited: {assuredConcurrencyShares: 7, limitResponse: {type: Reject}}\n"),
    );
    assert!(ok, "{err}");
    assert!(err.contains("Warning: flowcontrol.apiserver.k8s.io/v1beta2 PriorityLevelConfiguration is deprecated in v1.26+, unavailable in v1.29+; use flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfiguration"), "{err}");
    let spec = k.ok(&[
        "get",
        "prioritylevelconfigurations.v1beta3.flowcontrol.apiserver.k8s.io",
        "nope",
        "-o",
        "jsonpath={.spec}",
    ]);
    assert_eq!(
        spec,
        r#"{"limited":{"lendablePercent":0,"limitResponse":{"type":"Reject"},"nominalConcurrencyShares":7},"type":"Limited"}"#
    );
    let want = r#"1000 Dangling=False Found: This FlowSchema references the PriorityLevelConfiguration object named "nope" and it exists"#;
    eventually(20, || async { (cond() == want).then_some(()) }).await;

    let (ok, _, err) = k.run_stdin(&["apply", "-f", "-"], Some(BAD_FS));
    assert!(!ok);
    assert_eq!(err.trim_end(), BAD_FS_ERRORS);
    let (ok, _, err) = k.run_stdin(&["create", "-f", "-"], Some(BAD_PLC));
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        "The PriorityLevelConfiguration \"bad-plc\" is invalid: \n* spec.limited.limitResponse.queuing.queueLengthLimit: Invalid value: -1: must be positive\n* spec.limited.limitResponse.queuing.handSize: Invalid value: 10: should not be greater than queues (5)"
    );
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_configuration_is_maintained_across_restarts() {
    common::process::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let srv = ServerBuilder::new()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let k = Kubectl::new(&srv);
    // The user takes over global-default; workload-low stays the server's; one is deleted;
    // the mandatory exempt level is edited although it says it is the user's.
    k.ok(&[
        "annotate",
        "prioritylevelconfiguration",
        "global-default",
        "apf.kubernetes.io/autoupdate-spec=false",
        "--overwrite",
    ]);
    for name in ["global-default", "workload-low"] {
        k.ok(&[
            "patch",
            "prioritylevelconfiguration",
            name,
            "--type=merge",
            "-p",
            r#"{"spec":{"limited":{"nominalConcurrencyShares":3}}}"#,
        ]);
    }
    k.ok(&[
        "annotate",
        "prioritylevelconfiguration",
        "exempt",
        "apf.kubernetes.io/autoupdate-spec=false",
        "--overwrite",
    ]);
    k.ok(&[
        "patch",
        "prioritylevelconfiguration",
        "exempt",
        "--type=merge",
        "-p",
        r#"{"spec":{"exempt":{"lendablePercent":10}}}"#,
    ]);
    k.ok(&["delete", "prioritylevelconfiguration", "leader-election"]);
    srv.shutdown().await;

    let srv = ServerBuilder::new()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let k = Kubectl::new(&srv);
    let shares = |name: &str| {
        k.ok(&[
            "get",
            "prioritylevelconfiguration",
            name,
            "-o",
            "jsonpath={.spec.limited.nominalConcurrencyShares}",
        ])
    };
    assert_eq!(shares("global-default"), "3");
    assert_eq!(shares("workload-low"), "100");
    assert_eq!(shares("leader-election"), "10");
    let exempt = k.ok(&[
        "get",
        "prioritylevelconfiguration",
        "exempt",
        "-o",
        "jsonpath={.spec.exempt.lendablePercent} {.metadata.annotations}",
    ]);
    assert_eq!(exempt, r#"0 {"apf.kubernetes.io/autoupdate-spec":"true"}"#);
}
