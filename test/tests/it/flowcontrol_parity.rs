//! API Priority and Fairness configuration, driven with kubectl against the embedded API
//! server and against the real upstream v1.28 kube-apiserver: the bootstrap objects and their
//! columns, a FlowSchema whose priority level is missing (`Dangling`) until it exists, v1beta2
//! and its warning, validation messages. The transcripts must be equal.

use std::time::{Duration, Instant};

use crate::support::{Kubectl, Step, record, run_scenario, step};

/// Table output without the AGE column (`age` is its index).
fn without_age((ok, out, err): (bool, String, String), age: usize) -> (bool, String, String) {
    let rows: Vec<String> = out
        .lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.split_whitespace().collect();
            if cells.len() > age {
                cells.remove(age);
            }
            cells.join(" ")
        })
        .collect();
    (ok, rows.join("\n"), err)
}

const DANGLING: &str = "apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata: {name: dangling}\nspec:\n  distinguisherMethod: {type: ByNamespace}\n  priorityLevelConfiguration: {name: tenant-pl}\n  rules:\n  - subjects: [{kind: Group, group: {name: tenants}}]\n    resourceRules: [{verbs: [get, list], apiGroups: [\"\"], resources: [pods], namespaces: [\"*\"]}]\n";

const LEVEL_V1BETA2: &str = "apiVersion: flowcontrol.apiserver.k8s.io/v1beta2\nkind: PriorityLevelConfiguration\nmetadata: {name: tenant-pl}\nspec:\n  type: Limited\n  limited:\n    assuredConcurrencyShares: 7\n    limitResponse: {type: Queue, queuing: {queues: 16}}\n";

const INVALID: &str = "apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata: {name: bad-fs}\nspec:\n  matchingPrecedence: 20000\n  distinguisherMethod: {type: ByColor}\n  priorityLevelConfiguration: {name: \"Bad_Name\"}\n  rules:\n  - subjects: [{kind: User}, {kind: Group, group: {name: g}, user: {name: u}}]\n    resourceRules: [{verbs: [get, \"*\"], apiGroups: [\"*\", apps], resources: [], namespaces: [Bad_NS]}]\n    nonResourceRules: [{verbs: [get], nonResourceURLs: [healthz, \"/a/*/b\", \"/x//y\"]}]\n---\napiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: PriorityLevelConfiguration\nmetadata: {name: bad-pl}\nspec:\n  type: Limited\n  limited:\n    nominalConcurrencyShares: -1\n    lendablePercent: 101\n    limitResponse: {type: Queue, queuing: {queues: 1000000000, handSize: 50, queueLengthLimit: -1}}\n---\napiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: PriorityLevelConfiguration\nmetadata: {name: bad-exempt}\nspec:\n  type: Exempt\n  limited: {limitResponse: {type: Reject, queuing: {queues: 3}}}\n";

fn scenario(admin_yaml: &str) -> Vec<Step> {
    let k = Kubectl::new(admin_yaml);
    let mut s = Vec::new();
    record(
        &mut s,
        "flow schemas",
        without_age(k.run(&["get", "flowschemas"]), 4),
    );
    record(
        &mut s,
        "priority levels",
        without_age(k.run(&["get", "prioritylevelconfigurations"]), 6),
    );
    record(
        &mut s,
        "a bootstrap object",
        k.run(&[
            "get",
            "flowschema",
            "service-accounts",
            "-o",
            "jsonpath={.metadata.annotations} {.spec}",
        ]),
    );
    k.ok_stdin(&["apply", "-f", "-"], DANGLING);
    let cond = || {
        k.ok(&[
            "get",
            "flowschema",
            "dangling",
            "-o",
            "jsonpath={.status.conditions[0].type}={.status.conditions[0].status} {.status.conditions[0].reason}: {.status.conditions[0].message}",
        ])
    };
    let wait = |prefix: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let c = cond();
            if c.starts_with(prefix) || Instant::now() > deadline {
                return c;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    s.push(("dangling".into(), wait("Dangling=True")));
    record(
        &mut s,
        "dangling row",
        without_age(k.run(&["get", "flowschema", "dangling", "--no-headers"]), 4),
    );
    record(
        &mut s,
        "v1beta2 level",
        k.run_stdin(&["create", "-f", "-"], LEVEL_V1BETA2),
    );
    record(
        &mut s,
        "read as v1beta3",
        k.run(&[
            "get",
            "prioritylevelconfigurations.v1beta3.flowcontrol.apiserver.k8s.io",
            "tenant-pl",
            "-o",
            "jsonpath={.spec}",
        ]),
    );
    record(
        &mut s,
        "read as v1beta2",
        k.run(&[
            "get",
            "prioritylevelconfigurations.v1beta2.flowcontrol.apiserver.k8s.io",
            "tenant-pl",
            "-o",
            "jsonpath={.spec}",
        ]),
    );
    s.push(("found".into(), wait("Dangling=False")));
    record(
        &mut s,
        "invalid objects",
        k.run_stdin(&["create", "-f", "-"], INVALID),
    );
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flowcontrol_scenario_matches_upstream() {
    let test = "flowcontrol_scenario_matches_upstream";
    common::process::install_crypto_provider();
    let srv = apiserver::ServerBuilder::new().start().await.unwrap();
    let embedded = run_scenario(srv.kubeconfig_yaml().to_string(), scenario).await;
    assert!(step(&embedded, "dangling").starts_with("Dangling=True NotFound"));
    assert!(step(&embedded, "found").starts_with("Dangling=False Found"));
    crate::upstream::compare_with_upstream(test, "flowcontrol-parity", &embedded, scenario).await;
}
