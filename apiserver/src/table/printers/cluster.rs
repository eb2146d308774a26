//! Printers of cluster policy kinds: PodDisruptionBudgets, PriorityClasses, RuntimeClasses,
//! RoleBindings and ClusterRoleBindings.

use serde_json::{Value, json};

use super::common::*;

/// Upstream's printer for PodDisruptionBudgets.
pub fn pod_disruption_budget() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Min Available",
                "string",
                0,
                Doc::Text("The minimum number of pods that must be available."),
            ),
            Col(
                "Max Unavailable",
                "string",
                0,
                Doc::Text("The maximum number of pods that may be unavailable."),
            ),
            Col(
                "Allowed Disruptions",
                "integer",
                0,
                Doc::Text("Calculated number of pods that may be disrupted at this time."),
            ),
            AGE,
        ],
        print: |o, now| {
            // Exactly one of the two is normally set; the other prints as N/A.
            let bound = |ptr: &str| match o.pointer(ptr) {
                None | Some(Value::Null) => "N/A".to_owned(),
                Some(v) => text(v),
            };
            cells([
                name(o),
                bound("/spec/minAvailable").into(),
                bound("/spec/maxUnavailable").into(),
                json!(n(o, "/status/disruptionsAllowed")),
                created(o, now),
            ])
        },
    }
}

/// Upstream's printer for PriorityClasses (v1.33 adds `PreemptionPolicy`, printed by default).
pub fn priority_class() -> Printer {
    let pc = "io.k8s.api.scheduling.v1.PriorityClass";
    Printer {
        columns: vec![
            NAME,
            Col("Value", "integer", 0, Doc::Field(pc, "value")),
            Col(
                "Global-Default",
                "boolean",
                0,
                Doc::Field(pc, "globalDefault"),
            ),
            AGE,
            Col(
                "PreemptionPolicy",
                "string",
                0,
                Doc::Field(pc, "preemptionPolicy"),
            ),
        ],
        print: |o, now| {
            cells([
                name(o),
                json!(n(o, "/value")),
                flag(o, "/globalDefault", false),
                created(o, now),
                s(o, "/preemptionPolicy").into(),
            ])
        },
    }
}

/// Upstream's printer for RuntimeClasses.
pub fn runtime_class() -> Printer {
    Printer {
        columns: vec![
            NAME,
            // Upstream looks the description up on ObjectMeta, where there is none.
            Col("Handler", "string", 0, Doc::Text("")),
            AGE,
        ],
        print: |o, now| cells([name(o), s(o, "/handler").into(), created(o, now)]),
    }
}

/// Upstream's printer for RoleBindings.
pub fn role_binding() -> Printer {
    Printer {
        columns: binding_columns(
            "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.",
            [
                "Users in the roleBinding",
                "Groups in the roleBinding",
                "ServiceAccounts in the roleBinding",
            ],
        ),
        print: print_binding,
    }
}

/// Upstream's printer for ClusterRoleBindings.
pub fn cluster_role_binding() -> Printer {
    Printer {
        columns: binding_columns(
            "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.",
            [
                "Users in the clusterRoleBinding",
                "Groups in the clusterRoleBinding",
                "ServiceAccounts in the clusterRoleBinding",
            ],
        ),
        print: print_binding,
    }
}

/// The binding columns; upstream describes `Role` with the rbac/v1beta1 text (without v1's
/// immutability note).
fn binding_columns(role_ref: &'static str, subjects: [&'static str; 3]) -> Vec<Col> {
    let [users, groups, sas] = subjects;
    vec![
        NAME,
        Col("Role", "string", 0, Doc::Text(role_ref)),
        AGE,
        Col("Users", "string", 1, Doc::Text(users)),
        Col("Groups", "string", 1, Doc::Text(groups)),
        Col("ServiceAccounts", "string", 1, Doc::Text(sas)),
    ]
}

fn print_binding(o: &Value, now: jiff::Timestamp) -> RowCells {
    let role = format!("{}/{}", s(o, "/roleRef/kind"), s(o, "/roleRef/name"));
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr(o, "/subjects") {
        match s(subject, "/kind") {
            "User" => users.push(s(subject, "/name").to_owned()),
            "Group" => groups.push(s(subject, "/name").to_owned()),
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                s(subject, "/namespace"),
                s(subject, "/name")
            )),
            // Other kinds are not shown in any column upstream.
            _ => {}
        }
    }
    cells([
        name(o),
        role.into(),
        created(o, now),
        users.join(", ").into(),
        groups.join(", ").into(),
        sas.join(", ").into(),
    ])
}
