//! Endpoint address validation as upstream v1.28: 422 Invalid with field causes for addresses
//! that are not IPs, of the wrong family, or special (unspecified, loopback, link-local).

use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::harness::server;

const LOOPBACK: &str = "may not be in the loopback range (127.0.0.0/8, ::1/128)";
const LINK_LOCAL: &str = "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
const LINK_LOCAL_MULTICAST: &str =
    "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)";

fn api_err(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// (field, message) of every cause, after checking the Status is a 422 Invalid.
fn causes(s: &kube::core::Status) -> Vec<(String, String)> {
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
    s.details
        .as_ref()
        .expect("details")
        .causes
        .iter()
        .map(|c| {
            assert_eq!(c.reason, "FieldValueInvalid", "{c:?}");
            (c.field.clone(), c.message.clone())
        })
        .collect()
}

fn endpoints(name: &str, ready: &[&str], not_ready: &[&str]) -> Endpoints {
    let addrs = |ips: &[&str]| -> Value { ips.iter().map(|ip| json!({"ip": ip})).collect() };
    let mut subset = json!({"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]});
    if !ready.is_empty() {
        subset["addresses"] = addrs(ready);
    }
    if !not_ready.is_empty() {
        subset["notReadyAddresses"] = addrs(not_ready);
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "subsets": [subset]})).unwrap()
}

fn slice(name: &str, address_type: &str, addrs: &[&str]) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "addressType": address_type,
        "endpoints": addrs.iter().map(|a| json!({"addresses": [a]})).collect::<Vec<_>>(),
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }))
    .unwrap()
}

#[tokio::test]
async fn endpoints_refuse_special_and_invalid_addresses() {
    let srv = server().await;
    let eps: Api<Endpoints> = Api::namespaced(srv.client(), "default");
    let pp = PostParams::default();

    let ok = eps
        .create(
            &pp,
            &endpoints("ok", &["10.1.2.3", "192.0.2.10"], &["2001:db8::7"]),
        )
        .await
        .unwrap();
    assert_eq!(ok.subsets.unwrap()[0].addresses.as_ref().unwrap().len(), 2);

    for (ip, msg) in [
        ("127.0.0.1", LOOPBACK.to_string()),
        ("::1", LOOPBACK.to_string()),
        ("0.0.0.0", "may not be unspecified (0.0.0.0)".to_string()),
        ("::", "may not be unspecified (::)".to_string()),
        ("169.254.169.254", LINK_LOCAL.to_string()),
        ("fe80::1", LINK_LOCAL.to_string()),
        ("224.0.0.1", LINK_LOCAL_MULTICAST.to_string()),
        ("ff02::2", LINK_LOCAL_MULTICAST.to_string()),
    ] {
        let s = api_err(
            eps.create(&pp, &endpoints("bad", &["10.1.2.3", ip], &[]))
                .await
                .unwrap_err(),
        );
        assert_eq!(
            causes(&s),
            vec![(
                "subsets[0].addresses[1].ip".to_string(),
                format!("Invalid value: {ip:?}: {msg}")
            )],
            "{ip}"
        );
        assert_eq!(
            s.message,
            format!(
                "Endpoints \"bad\" is invalid: subsets[0].addresses[1].ip: Invalid value: {ip:?}: {msg}"
            )
        );
    }

    let s = api_err(
        eps.create(&pp, &endpoints("bad", &[], &["not-an-ip"]))
            .await
            .unwrap_err(),
    );
    let field = "subsets[0].notReadyAddresses[0].ip".to_string();
    assert_eq!(
        causes(&s),
        vec![
            (
                field.clone(),
                "Invalid value: \"not-an-ip\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
                    .to_string()
            ),
            (
                field,
                "Invalid value: \"not-an-ip\": must be a valid IP address".to_string()
            ),
        ]
    );

    // Updates are checked the same way: replace and patch.
    let mut cur = eps.get("ok").await.unwrap();
    cur.subsets.as_mut().unwrap()[0]
        .not_ready_addresses
        .as_mut()
        .unwrap()[0]
        .ip = "127.0.0.2".into();
    let s = api_err(eps.replace("ok", &pp, &cur).await.unwrap_err());
    assert_eq!(
        causes(&s),
        vec![(
            "subsets[0].notReadyAddresses[0].ip".to_string(),
            format!("Invalid value: \"127.0.0.2\": {LOOPBACK}")
        )]
    );
    let patch =
        json!({"subsets": [{"addresses": [{"ip": "169.254.0.9"}], "ports": [{"port": 80}]}]});
    let s = api_err(
        eps.patch("ok", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        causes(&s),
        vec![(
            "subsets[0].addresses[0].ip".to_string(),
            format!("Invalid value: \"169.254.0.9\": {LINK_LOCAL}")
        )]
    );
    let patch =
        json!({"subsets": [{"addresses": [{"ip": "10.9.9.9"}], "ports": [{"port": 8080}]}]});
    let patched = eps
        .patch("ok", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        patched.subsets.unwrap()[0].addresses.as_ref().unwrap()[0].ip,
        "10.9.9.9"
    );
    assert!(eps.get_opt("bad").await.unwrap().is_none());
}

#[tokio::test]
async fn endpoint_slices_refuse_special_addresses_and_the_wrong_family() {
    let srv = server().await;
    let slices: Api<EndpointSlice> = Api::namespaced(srv.client(), "default");
    let pp = PostParams::default();

    slices
        .create(&pp, &slice("v4", "IPv4", &["10.1.2.3", "192.0.2.10"]))
        .await
        .unwrap();
    slices
        .create(&pp, &slice("v6", "IPv6", &["2001:db8::1"]))
        .await
        .unwrap();
    slices
        .create(&pp, &slice("fqdn", "FQDN", &["db.example.com"]))
        .await
        .unwrap();

    let s = api_err(
        slices
            .create(
                &pp,
                &slice("bad", "IPv4", &["10.1.2.3", "127.0.0.1", "2001:db8::1"]),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        causes(&s),
        vec![
            (
                "endpoints[1].addresses[0]".to_string(),
                format!("Invalid value: \"127.0.0.1\": {LOOPBACK}")
            ),
            (
                "endpoints[2].addresses[0]".to_string(),
                "Invalid value: \"2001:db8::1\": must be a valid IPv4 address".to_string()
            ),
        ]
    );
    assert_eq!(
        s.message,
        format!(
            "EndpointSlice.discovery.k8s.io \"bad\" is invalid: [endpoints[1].addresses[0]: Invalid value: \"127.0.0.1\": {LOOPBACK}, endpoints[2].addresses[0]: Invalid value: \"2001:db8::1\": must be a valid IPv4 address]"
        )
    );
    assert_eq!(s.details.as_ref().unwrap().group, "discovery.k8s.io");

    let s = api_err(
        slices
            .create(&pp, &slice("bad", "IPv6", &["::", "10.0.0.1", "fe80::9"]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        causes(&s),
        vec![
            (
                "endpoints[0].addresses[0]".to_string(),
                "Invalid value: \"::\": may not be unspecified (::)".to_string()
            ),
            (
                "endpoints[1].addresses[0]".to_string(),
                "Invalid value: \"10.0.0.1\": must be a valid IPv6 address".to_string()
            ),
            (
                "endpoints[2].addresses[0]".to_string(),
                format!("Invalid value: \"fe80::9\": {LINK_LOCAL}")
            ),
        ]
    );

    let s = api_err(
        slices
            .create(&pp, &slice("bad", "IPv4", &["x"]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        causes(&s),
        vec![
            (
                "endpoints[0].addresses[0]".to_string(),
                "Invalid value: \"x\": must be a valid IPv4 address".to_string()
            ),
            (
                "endpoints[0].addresses[0]".to_string(),
                "Invalid value: \"x\": must be a valid IP address".to_string()
            ),
        ]
    );

    // Updates: a replace and a patch to a multicast address fail; a valid patch goes through.
    let mut cur = slices.get("v4").await.unwrap();
    cur.endpoints[0].addresses = vec!["224.0.0.22".into()];
    let s = api_err(slices.replace("v4", &pp, &cur).await.unwrap_err());
    assert_eq!(
        causes(&s),
        vec![(
            "endpoints[0].addresses[0]".to_string(),
            format!("Invalid value: \"224.0.0.22\": {LINK_LOCAL_MULTICAST}")
        )]
    );
    let patch = json!({"endpoints": [{"addresses": ["10.7.7.7"]}, {"addresses": ["0.0.0.0"]}]});
    let s = api_err(
        slices
            .patch("v4", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        causes(&s),
        vec![(
            "endpoints[1].addresses[0]".to_string(),
            "Invalid value: \"0.0.0.0\": may not be unspecified (0.0.0.0)".to_string()
        )]
    );
    let patch = json!({"endpoints": [{"addresses": ["10.7.7.7"]}]});
    let patched = slices
        .patch("v4", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(patched.endpoints[0].addresses, vec!["10.7.7.7".to_string()]);
}

#[tokio::test]
async fn the_servers_own_loopback_endpoints_are_still_written() {
    // The test server listens on 127.0.0.1: its `kubernetes` endpoints carry that address, an
    // in-process write the address checks do not apply to. A client writing the same address
    // is refused, as upstream refuses it.
    let srv = server().await;
    let eps: Api<Endpoints> = Api::namespaced(srv.client(), "default");
    let ep = eps.get("kubernetes").await.unwrap();
    let ip = ep.subsets.as_ref().unwrap()[0].addresses.as_ref().unwrap()[0]
        .ip
        .clone();
    assert_eq!(ip, "127.0.0.1");
    let slices: Api<EndpointSlice> = Api::namespaced(srv.client(), "default");
    let es = slices.get("kubernetes").await.unwrap();
    assert_eq!(es.address_type, "IPv4");
    assert_eq!(es.endpoints[0].addresses, vec!["127.0.0.1".to_string()]);
    let s = api_err(
        eps.create(
            &PostParams::default(),
            &endpoints("mine", &["127.0.0.1"], &[]),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(causes(&s)[0].0, "subsets[0].addresses[0].ip");
}

#[tokio::test]
async fn controllers_still_publish_pods_on_a_nodes_loopback_address() {
    // nodesim's nodes default to 127.0.0.1, and host-network pods take the node's address:
    // the endpoints controllers write it in-process, outside the client checks.
    use k8s_openapi::api::core::v1::{Pod, Service};
    let srv = server().await;
    let svcs: Api<Service> = Api::namespaced(srv.client(), "default");
    let svc = json!({"metadata": {"name": "hostnet"},
        "spec": {"selector": {"app": "hostnet"}, "ports": [{"port": 80}]}});
    svcs.create(
        &PostParams::default(),
        &serde_json::from_value(svc).unwrap(),
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(srv.client(), "default");
    let pod = json!({"metadata": {"name": "h1", "labels": {"app": "hostnet"}},
        "spec": {"hostNetwork": true, "containers": [{"name": "c", "image": "nginx"}]}});
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
    let status = json!({"status": {"phase": "Running", "podIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status("h1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let eps: Api<Endpoints> = Api::namespaced(srv.client(), "default");
    let ip = crate::harness::eventually(10, || async {
        eps.get_opt("hostnet")
            .await
            .unwrap()
            .and_then(|e| e.subsets)
            .and_then(|s| s.first().and_then(|s| s.addresses.clone()))
            .and_then(|a| a.first().map(|a| a.ip.clone()))
    })
    .await;
    assert_eq!(ip, "127.0.0.1");
    let slices: Api<EndpointSlice> = Api::namespaced(srv.client(), "default");
    let addrs = crate::harness::eventually(10, || async {
        let l = slices
            .list(&kube::api::ListParams::default().labels("kubernetes.io/service-name=hostnet"))
            .await
            .unwrap();
        l.items
            .first()
            .and_then(|s| s.endpoints.first().map(|e| e.addresses.clone()))
    })
    .await;
    assert_eq!(addrs, vec!["127.0.0.1".to_string()]);
}
