//! `v1 ComponentStatus` (deprecated upstream since v1.19, still served by v1.28): computed on
//! every read, never stored, from what this server really runs — `etcd-0` is its datastore
//! (unhealthy once the durable backend failed), `controller-manager` its in-process control
//! loops (unhealthy when none runs or one has stopped). There is no scheduler in this server,
//! so there is no `scheduler` entry.

use serde_json::{Value, json};

use crate::table::printers::common::{Col, Doc, NAME, Printer, cells, name};

/// The `Warning` header upstream sends with every ComponentStatus response.
pub const WARNING: &str = r#"299 - "v1 ComponentStatus is deprecated in v1.19+""#;

fn component(name: &str, healthy: Result<(), String>) -> Value {
    let (status, message) = match healthy {
        Ok(()) => ("True", "ok".to_string()),
        Err(m) => ("False", m),
    };
    json!({"kind": "ComponentStatus", "apiVersion": "v1",
        "metadata": {"name": name, "creationTimestamp": null},
        "conditions": [{"type": "Healthy", "status": status, "message": message}]})
}

/// The controller manager's health from the loops' liveness.
pub fn controller_manager(running: &[&str], stopped: &[&str]) -> Result<(), String> {
    if !stopped.is_empty() {
        return Err(format!("control loops stopped: {}", stopped.join(", ")));
    }
    if running.is_empty() {
        return Err("no control loop is running (--controllers selects none)".into());
    }
    Ok(())
}

/// The components, as upstream lists them, from the running and stopped control loops and
/// the datastore's failure (if any).
pub fn components(running: &[&str], stopped: &[&str], store_failure: Option<&str>) -> Vec<Value> {
    let store = match store_failure {
        None => Ok(()),
        Some(e) => Err(format!("storage failed: {e}")),
    };
    vec![
        component("controller-manager", controller_manager(running, stopped)),
        component("etcd-0", store),
    ]
}

fn healthy_condition(o: &Value) -> Option<&Value> {
    o.get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Healthy"))
}

/// Upstream's printer: `NAME STATUS MESSAGE ERROR`.
pub fn printer() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Status",
                "string",
                0,
                Doc::Text("Status of the component conditions"),
            ),
            Col(
                "Message",
                "string",
                0,
                Doc::Text("Message of the component conditions"),
            ),
            Col(
                "Error",
                "string",
                0,
                Doc::Text("Error of the component conditions"),
            ),
        ],
        print: |o, _now| {
            let c = healthy_condition(o);
            let text = |k: &str| {
                c.and_then(|c| c.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or("")
            };
            let status = match text("status") {
                "True" => "Healthy",
                "False" => "Unhealthy",
                _ => "Unknown",
            };
            cells([
                name(o),
                json!(status),
                json!(text("message")),
                json!(text("error")),
            ])
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_manager_health_follows_the_loops() {
        assert_eq!(controller_manager(&["gc"], &[]), Ok(()));
        assert_eq!(
            controller_manager(&["gc"], &["job", "deployment"]),
            Err("control loops stopped: job, deployment".into())
        );
        assert!(controller_manager(&[], &[]).is_err());
        let listed = components(&["gc"], &[], Some("disk I/O error"));
        assert_eq!(
            listed[1]["conditions"][0],
            json!({"type": "Healthy", "status": "False", "message": "storage failed: disk I/O error"})
        );
        let row = (printer().print)(
            &component("x", Err("down".into())),
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            row.0,
            vec![json!("x"), json!("Unhealthy"), json!("down"), json!("")]
        );
    }
}
