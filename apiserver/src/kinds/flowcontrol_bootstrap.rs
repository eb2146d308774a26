//! Upstream v1.28's API Priority and Fairness bootstrap configuration and the rule that
//! maintains it. `flowcontrol_bootstrap.json` holds the specs of the mandatory (`exempt`,
//! `catch-all`) and suggested FlowSchemas and PriorityLevelConfigurations as a v1.28
//! kube-apiserver creates them (Apache-2.0, read from a running v1.28 server).
//!
//! Maintenance, as upstream documents it: a missing object is created (deletion is not
//! respected); a mandatory object's spec is put back; a suggested object's spec is put back
//! only while the server controls it — annotation `apf.kubernetes.io/autoupdate-spec: "true"`,
//! or, without the annotation, `metadata.generation` 1 (the annotation is then added saying
//! who controls it).

use serde_json::{Value, json};

use super::flowcontrol::AUTOUPDATE;

const DATA: &str = include_str!("flowcontrol_bootstrap.json");

/// Names of the mandatory objects (both resources).
const MANDATORY: [&str; 2] = ["exempt", "catch-all"];

/// One bootstrap object.
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrap {
    /// `flowschemas` or `prioritylevelconfigurations`.
    pub resource: &'static str,
    /// The object (v1beta3) with the autoupdate annotation.
    pub object: Value,
    /// Whether it is mandatory.
    pub mandatory: bool,
}

/// Every bootstrap object, priority levels first.
pub fn objects() -> Vec<Bootstrap> {
    let data: Value = serde_json::from_str(DATA).unwrap_or(Value::Null);
    let mut out = Vec::new();
    for (resource, kind) in [
        ("prioritylevelconfigurations", "PriorityLevelConfiguration"),
        ("flowschemas", "FlowSchema"),
    ] {
        for o in data
            .get(resource)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
            out.push(Bootstrap {
                resource,
                object: json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": kind,
                    "metadata": {"name": name, "annotations": {AUTOUPDATE: "true"}},
                    "spec": o.get("spec").cloned().unwrap_or(Value::Null)}),
                mandatory: MANDATORY.contains(&name),
            });
        }
    }
    out
}

/// What maintenance does to an existing object.
#[derive(Debug, Clone, PartialEq)]
pub enum Maintenance {
    /// Create it.
    Create,
    /// Replace it with this object (spec and annotation changed).
    Update(Value),
    /// Leave it.
    Leave,
}

/// Maintenance of `have` against the bootstrap object `want`.
pub fn maintain(have: Option<&Value>, want: &Bootstrap) -> Maintenance {
    let Some(have) = have else {
        return Maintenance::Create;
    };
    let annotation = have
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(AUTOUPDATE))
        .and_then(Value::as_str);
    let server_controls = want.mandatory
        || match annotation {
            Some(v) => v == "true",
            None => have.pointer("/metadata/generation").and_then(Value::as_i64) == Some(1),
        };
    let mut next = have.clone();
    if server_controls {
        next["spec"] = want.object["spec"].clone();
    }
    let value = if server_controls { "true" } else { "false" };
    if want.mandatory || annotation.is_none() {
        match next
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            Some(a) => {
                a.insert(AUTOUPDATE.into(), json!(value));
            }
            None => next["metadata"]["annotations"] = json!({AUTOUPDATE: value}),
        }
    }
    if &next == have {
        Maintenance::Leave
    } else {
        Maintenance::Update(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(name: &str, resource: &str) -> Bootstrap {
        objects()
            .into_iter()
            .find(|b| b.resource == resource && b.object["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{resource}/{name}"))
    }

    #[test]
    fn the_v1_28_configuration() {
        let all = objects();
        assert_eq!(all.len(), 21);
        assert_eq!(all.iter().filter(|b| b.mandatory).count(), 4);
        let fs = find("exempt", "flowschemas");
        assert_eq!(fs.object["spec"]["matchingPrecedence"], 1);
        let pl = find("global-default", "prioritylevelconfigurations");
        assert_eq!(pl.object["spec"]["limited"]["nominalConcurrencyShares"], 20);
    }

    #[test]
    fn maintenance_respects_who_controls_the_spec() {
        let want = find("global-default", "prioritylevelconfigurations");
        assert_eq!(maintain(None, &want), Maintenance::Create);
        assert_eq!(maintain(Some(&want.object), &want), Maintenance::Leave);
        let mut changed = want.object.clone();
        changed["spec"]["limited"]["nominalConcurrencyShares"] = json!(99);
        assert_eq!(
            maintain(Some(&changed), &want),
            Maintenance::Update(want.object.clone())
        );
        changed["metadata"]["annotations"][AUTOUPDATE] = json!("false");
        assert_eq!(maintain(Some(&changed), &want), Maintenance::Leave);
        // No annotation: generation 1 is the server's, later generations the user's.
        changed["metadata"]["annotations"] = json!({});
        changed["metadata"]["generation"] = json!(2);
        let Maintenance::Update(next) = maintain(Some(&changed), &want) else {
            panic!("annotation expected");
        };
        assert_eq!(next["metadata"]["annotations"][AUTOUPDATE], "false");
        assert_eq!(next["spec"]["limited"]["nominalConcurrencyShares"], 99);
        // A mandatory object is always put back.
        let exempt = find("exempt", "prioritylevelconfigurations");
        let mut user = exempt.object.clone();
        user["metadata"]["annotations"][AUTOUPDATE] = json!("false");
        user["spec"]["exempt"]["lendablePercent"] = json!(10);
        assert_eq!(
            maintain(Some(&user), &exempt),
            Maintenance::Update(exempt.object.clone())
        );
    }
}
