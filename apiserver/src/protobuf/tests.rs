//! Unit tests: bodies captured from kubectl 1.33 (`testdata/`, made by
//! `apiserver/tools/capture_kubectl_protobuf.py`), round trips, wire and value edge cases.

use serde_json::{Value, json};

use super::wire::Writer;
use super::*;

/// Fixtures with the `--dry-run=client -o json` output of the same kubectl command.
const WITH_DRY_RUN: &[&str] = &[
    "namespace",
    "deployment",
    "deployment-multi",
    "secret-generic",
    "secret-docker",
    "configmap",
    "service-clusterip",
    "service-nodeport",
    "service-externalname",
    "job",
    "cronjob",
    "quota",
    "priorityclass",
    "serviceaccount",
    "role",
    "clusterrole",
    "rolebinding",
    "clusterrolebinding",
    "ingress",
    "pdb",
    "pdb-int",
    "autoscale",
    "job-from-cronjob",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/src/protobuf/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Compares values and their key order (Go prints struct fields in declaration order).
fn assert_same(name: &str, got: &Value, want: &Value) {
    let (g, w) = (
        serde_json::to_string_pretty(got).unwrap(),
        serde_json::to_string_pretty(want).unwrap(),
    );
    assert_eq!(g, w, "{name}: decoded JSON differs from kubectl's");
}

#[test]
fn kubectl_bodies_decode_to_what_kubectl_prints() {
    for name in WITH_DRY_RUN {
        let got = decode(&fixture(&format!("{name}.pb"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want: Value = serde_json::from_slice(&fixture(&format!("{name}.json"))).unwrap();
        assert_same(name, &got, &want);
    }
}

#[test]
fn kubectl_bodies_reencode_byte_for_byte() {
    let all = WITH_DRY_RUN
        .iter()
        .chain(&["token", "can-i", "can-i-subresource", "whoami"]);
    for name in all {
        let body = fixture(&format!("{name}.pb"));
        let json = decode(&body).unwrap();
        let again = encode(&json).unwrap();
        assert_eq!(
            again, body,
            "{name}: re-encoding differs from kubectl's bytes"
        );
    }
}

#[test]
fn kubectl_create_token_decodes_to_token_request() {
    // `kubectl create token tok --duration=10m --audience=api --audience=vault`: kubectl builds
    // TokenRequest{Spec: {Audiences, ExpirationSeconds: ptr(600)}} with empty metadata (the
    // service account is in the URL). BoundObjectRef is a nil pointer whose JSON tag has no
    // omitempty, so Go prints null; Status is a value struct (token "", zero time → null).
    let got = decode(&fixture("token.pb")).unwrap();
    let want = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {"audiences": ["api", "vault"], "expirationSeconds": 600, "boundObjectRef": null},
        "status": {"token": "", "expirationTimestamp": null}
    });
    assert_same("token", &got, &want);
}

#[test]
fn kubectl_auth_can_i_decodes_to_self_subject_access_review() {
    // `kubectl auth can-i list pods -n kube-system`: ResourceAttributes is a pointer (set);
    // its value strings print only when non-empty (omitempty); status.allowed has no omitempty.
    let got = decode(&fixture("can-i.pb")).unwrap();
    let want = json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {"resourceAttributes": {"namespace": "kube-system", "verb": "list", "resource": "pods"}},
        "status": {"allowed": false}
    });
    assert_same("can-i", &got, &want);
    let sub = decode(&fixture("can-i-subresource.pb")).unwrap();
    assert_eq!(
        sub["spec"]["resourceAttributes"],
        json!({"namespace": "default", "verb": "get", "resource": "pods", "subresource": "log", "name": "web"})
    );
}

#[test]
fn kubectl_auth_whoami_decodes_to_self_subject_review() {
    let got = decode(&fixture("whoami.pb")).unwrap();
    let want = json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": {}}
    });
    assert_same("whoami", &got, &want);
}

/// A protobuf body around `raw` for `apiVersion`/`kind`, built field by field.
fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut tm = Writer::default();
    tm.bytes_field(1, api_version.as_bytes());
    tm.bytes_field(2, kind.as_bytes());
    let mut unk = Writer::default();
    unk.bytes_field(1, &tm.buf);
    unk.bytes_field(2, raw);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&unk.buf);
    out
}

fn msg(build: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::default();
    build(&mut w);
    w.buf
}

#[test]
fn envelope_errors_read_like_upstream() {
    assert_eq!(decode(b"").unwrap_err().to_string(), "empty data");
    assert_eq!(
        decode(b"{\"kind\":\"Pod\"}").unwrap_err().to_string(),
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    );
    assert_eq!(decode(b"k8s\0").unwrap_err().to_string(), "empty body");
    assert_eq!(
        decode(b"k8s\0\x0a\x05\x0a").unwrap_err().to_string(),
        "unexpected EOF"
    );
    assert_eq!(
        decode(&body("v1", "", b"")).unwrap_err().to_string(),
        "Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:\"v1\", Kind:\"\"}'"
    );
    assert_eq!(
        decode(&body("", "Pod", b"")).unwrap_err().to_string(),
        "Object 'apiVersion' is missing in 'runtime.TypeMeta{APIVersion:\"\", Kind:\"Pod\"}'"
    );
    assert_eq!(
        decode(&body("v1", "Widget", b"")).unwrap_err().to_string(),
        "no kind \"Widget\" is registered for version \"v1\" in scheme \"pkg/api/legacyscheme/scheme.go:30\""
    );
    // The endpoint's kind fills a missing one, as the serializer's defaults do.
    let v = decode_with_defaults(&body("", "", b""), Some(("v1", "ConfigMap"))).unwrap();
    assert_eq!(
        v,
        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"creationTimestamp": null}})
    );
}

#[test]
fn wire_errors_are_reported_not_panics() {
    // Field 1 of Namespace (metadata) sent as a varint.
    let err = decode(&body("v1", "Namespace", &[0x08, 0x01])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "proto: wrong wireType = 0 for field Metadata"
    );
    let err = decode(&body("v1", "Namespace", &[0x00])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "proto: Namespace: illegal tag 0 (wire type 0)"
    );
    let err = decode(&body(
        "v1",
        "Namespace",
        &[
            0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ],
    ))
    .unwrap_err();
    assert_eq!(err.to_string(), "proto: integer overflow");
    let err = decode(&body("v1", "Namespace", &[0x0a, 0x05, 0x0a])).unwrap_err();
    assert_eq!(err.to_string(), "unexpected EOF");
    let err = decode(&body("v1", "Namespace", &[0x0f])).unwrap_err();
    assert_eq!(err.to_string(), "proto: illegal wireType 7");
    // Every truncation of a real body fails cleanly or decodes a prefix; none panics.
    let full = fixture("deployment.pb");
    for n in 0..full.len() {
        let _ = decode(&full[..n]);
    }
}

#[test]
fn unknown_fields_are_skipped_like_generated_code() {
    let meta = msg(|w| {
        w.bytes_field(1, b"demo");
        w.varint_field(99, 7); // not an ObjectMeta field
        w.bytes_field(100, b"junk");
        w.fixed64_field(101, 1);
    });
    let raw = msg(|w| w.bytes_field(1, &meta));
    let v = decode(&body("v1", "Namespace", &raw)).unwrap();
    assert_eq!(
        v["metadata"],
        json!({"name": "demo", "creationTimestamp": null})
    );
}

#[test]
fn pointer_and_value_fields_follow_go_json() {
    // DeploymentSpec.replicas is *int32: an explicit 0 prints. PodSpec.hostNetwork is a bool
    // with omitempty: false does not. ContainerPort.containerPort has no omitempty: 0 prints.
    let port = msg(|w| {
        w.varint_field(3, 0);
        w.bytes_field(4, b"");
    });
    let container = msg(|w| {
        w.bytes_field(1, b"c");
        w.bytes_field(6, &port);
        w.varint_field(16, 0); // stdin=false (value bool, omitempty)
    });
    let pod_spec = msg(|w| {
        w.bytes_field(2, &container);
        w.varint_field(11, 0); // hostNetwork=false
    });
    let template = msg(|w| w.bytes_field(2, &pod_spec));
    let spec = msg(|w| {
        w.varint_field(1, 0); // replicas=0
        w.bytes_field(3, &template);
    });
    let raw = msg(|w| w.bytes_field(2, &spec));
    let v = decode(&body("apps/v1", "Deployment", &raw)).unwrap();
    assert_eq!(v["spec"]["replicas"], json!(0));
    let pod = &v["spec"]["template"]["spec"];
    assert!(pod.get("hostNetwork").is_none(), "{pod}");
    assert_eq!(
        pod["containers"][0],
        json!({"name": "c", "ports": [{"containerPort": 0}], "resources": {}})
    );
    // A value struct absent from the wire still prints; absent pointers and slices do not.
    assert_eq!(v["spec"]["strategy"], json!({}));
    assert_eq!(v["status"], json!({}));
    assert!(v["spec"].get("revisionHistoryLimit").is_none());
    // DeploymentSpec.selector is a pointer whose JSON tag lacks omitempty: nil prints null.
    assert_eq!(v["spec"].get("selector"), Some(&Value::Null));
}

#[test]
fn repeated_messages_merge_and_scalars_take_the_last() {
    let meta_a = msg(|w| {
        w.bytes_field(1, b"first");
        w.bytes_field(14, b"f1");
    });
    let meta_b = msg(|w| {
        w.bytes_field(1, b"second");
        w.bytes_field(14, b"f2");
    });
    let raw = msg(|w| {
        w.bytes_field(1, &meta_a);
        w.bytes_field(1, &meta_b);
    });
    let v = decode(&body("v1", "Namespace", &raw)).unwrap();
    assert_eq!(v["metadata"]["name"], "second");
    assert_eq!(v["metadata"]["finalizers"], json!(["f1", "f2"]));
}

#[test]
fn packed_and_negative_integers() {
    // PodSecurityContext.supplementalGroups (repeated int64), packed; runAsUser negative.
    let mut packed = Writer::default();
    packed.buf.extend_from_slice(&[1, 2, 0xac, 0x02]);
    let sc = msg(|w| {
        w.bytes_field(4, &packed.buf);
        w.varint_field(4, 7);
        w.varint_field(2, (-5i64) as u64);
    });
    let spec = msg(|w| w.bytes_field(14, &sc));
    let raw = msg(|w| w.bytes_field(2, &spec));
    let v = decode(&body("v1", "Pod", &raw)).unwrap();
    let sc = &v["spec"]["securityContext"];
    assert_eq!(sc["supplementalGroups"], json!([1, 2, 300, 7]));
    assert_eq!(sc["runAsUser"], json!(-5));
    // Negative int32 values travel as 10-byte varints and come back.
    let obj = json!({"kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1",
                     "metadata": {"name": "low", "creationTimestamp": null}, "value": -2_000_000});
    assert_eq!(decode(&encode(&obj).unwrap()).unwrap(), obj);
}

#[test]
fn secret_bytes_and_missing_map_values() {
    // A map entry without a value: Go's map decoding starts from `[]byte{}` and "" for strings.
    let entry = msg(|w| w.bytes_field(1, b"k"));
    let raw = msg(|w| {
        w.bytes_field(2, &entry);
        w.bytes_field(4, &entry);
    });
    let v = decode(&body("v1", "Secret", &raw)).unwrap();
    assert_eq!(v["data"], json!({"k": ""}));
    assert_eq!(v["stringData"], json!({"k": ""}));
    let bad = json!({"kind": "Secret", "apiVersion": "v1", "data": {"k": "***"}});
    assert!(
        encode(&bad)
            .unwrap_err()
            .to_string()
            .contains("illegal base64")
    );
}

#[test]
fn custom_types_decode_like_go() {
    // Time drops nanos; MicroTime keeps microseconds; zero-length Time is the zero time.
    assert_eq!(
        custom::format_time(1_714_979_289, None).unwrap(),
        "2024-05-06T07:08:09Z"
    );
    assert_eq!(
        custom::format_time(1_714_979_289, Some(123_456_789)).unwrap(),
        "2024-05-06T07:08:09.123456Z"
    );
    assert_eq!(
        custom::format_time(0, Some(0)).unwrap(),
        "1970-01-01T00:00:00.000000Z"
    );
    for (nanos, text) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_000_000_001, "1h2m3.000000001s"),
        (-61_000_000_000, "-1m1s"),
    ] {
        assert_eq!(custom::format_duration(nanos), text);
        assert_eq!(custom::parse_duration(text).unwrap(), nanos, "{text}");
    }
    assert_eq!(custom::parse_duration("1.5h").unwrap(), 5_400_000_000_000);
    assert_eq!(custom::parse_duration("300ms2us").unwrap(), 300_002_000);
    assert!(custom::parse_duration("5").is_err());
    assert!(custom::parse_duration("5d").is_err());
    for ok in [
        "1", "0", "1500m", "1.5", "64Mi", "1e3", "2E-2", "+1k", "-1Gi", "0.5Ei", "1n",
    ] {
        custom::check_quantity(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in ["", "1 Gi", "1Gb", "abc", "1e", "1.2.3"] {
        assert!(custom::check_quantity(bad).is_err(), "{bad}");
    }
}

#[test]
fn bad_values_are_errors() {
    let limits = |q: &[u8]| {
        let quantity = msg(|w| w.bytes_field(1, q));
        let entry = msg(|w| {
            w.bytes_field(1, b"cpu");
            w.bytes_field(2, &quantity);
        });
        let hard = msg(|w| w.bytes_field(1, &entry));
        msg(|w| w.bytes_field(2, &hard))
    };
    let err = decode(&body("v1", "ResourceQuota", &limits(b"lots"))).unwrap_err();
    assert!(
        err.to_string().starts_with("quantities must match"),
        "{err}"
    );
    let v = decode(&body("v1", "ResourceQuota", &limits(b"500m"))).unwrap();
    assert_eq!(v["spec"]["hard"], json!({"cpu": "500m"}));
    // IntOrString with a type that is neither 0 (int) nor 1 (string).
    let ios = msg(|w| w.varint_field(1, 2));
    let port = msg(|w| {
        w.varint_field(3, 80);
        w.bytes_field(4, &ios);
    });
    let spec = msg(|w| w.bytes_field(1, &port));
    let err = decode(&body("v1", "Service", &msg(|w| w.bytes_field(2, &spec)))).unwrap_err();
    assert!(
        err.to_string().contains("impossible IntOrString.Type"),
        "{err}"
    );
    // A RawExtension must hold JSON.
    let raw = msg(|w| {
        let ext = msg(|e| e.bytes_field(1, b"{not json"));
        w.bytes_field(2, &ext);
    });
    let err = decode(&body("apps/v1", "ControllerRevision", &raw)).unwrap_err();
    assert!(err.to_string().contains("RawExtension"), "{err}");
    // JSON → protobuf type mismatches are reported as encoding/json would.
    let bad = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": 5}});
    assert_eq!(
        encode(&bad).unwrap_err().to_string(),
        "json: cannot unmarshal number into Go value of type string"
    );
    let bad = json!({"kind": "Deployment", "apiVersion": "apps/v1", "spec": {"replicas": 1.5}});
    assert!(encode(&bad).is_err());
    let bad =
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"creationTimestamp": "yesterday"}});
    assert!(encode(&bad).unwrap_err().to_string().contains("RFC 3339"));
    assert!(matches!(
        encode(&json!({"kind": "Pod"})),
        Err(ProtoError::MissingVersion(_))
    ));
}

#[test]
fn encode_writes_what_go_writes() {
    // Value fields are written even when zero; the envelope carries empty contentEncoding and
    // contentType, as kubectl's namespace body shows byte for byte.
    let ns = json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "demo", "creationTimestamp": null},
                    "spec": {}, "status": {}});
    assert_eq!(encode(&ns).unwrap(), fixture("namespace.pb"));
    // Map keys are sorted on the wire whatever the JSON order.
    let a = json!({"kind": "ConfigMap", "apiVersion": "v1", "data": {"b": "2", "a": "1"}});
    let b = json!({"kind": "ConfigMap", "apiVersion": "v1", "data": {"a": "1", "b": "2"}});
    assert_eq!(encode(&a).unwrap(), encode(&b).unwrap());
    // A deeply nested CRD schema stays bounded instead of exhausting the stack.
    let mut schema = json!({"type": "string"});
    for _ in 0..400 {
        schema = json!({"type": "object", "properties": {"x": schema}});
    }
    let crd = json!({"kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1",
                     "spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]}});
    assert!(matches!(encode(&crd), Err(ProtoError::TooDeep(_))));
}

#[test]
fn watch_event_frames_embed_the_enveloped_object() {
    let pod = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "creationTimestamp": null},
                     "spec": {"containers": null}, "status": {}});
    let frame = encode_watch_event("ADDED", &pod).unwrap();
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(len, frame.len() - 4);
    let fields = wire::fields(&frame[4..], "WatchEvent").unwrap();
    assert!(matches!(fields[0], (1, wire::Wire::Bytes(b"ADDED"))));
    let wire::Wire::Bytes(ext) = fields[1].1 else {
        panic!("object is not bytes")
    };
    let inner = wire::fields(ext, "RawExtension").unwrap();
    let wire::Wire::Bytes(object) = inner[0].1 else {
        panic!("raw is not bytes")
    };
    assert_eq!(decode(object).unwrap(), pod);
}

/// kubectl 1.33 as installed on the project's machines (Google Cloud SDK's versioned binary).
const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// Serves one HTTP request with `body` as a protobuf 201 response; returns the request body.
fn serve_once(listener: std::net::TcpListener, body: Vec<u8>) -> std::thread::JoinHandle<Vec<u8>> {
    use std::io::{BufRead, BufReader, Read, Write};
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut request = vec![0; len];
        reader.read_exact(&mut request).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 201 Created\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(&body).unwrap();
        request
    })
}

/// Runs kubectl `args` against a one-shot server answering `stored` as protobuf; returns what
/// kubectl printed (`-o json` of the object it decoded) and the body it sent.
fn kubectl_against(args: &[&str], stored: &Value) -> (Value, Vec<u8>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve_once(listener, encode(stored).unwrap());
    let out = std::process::Command::new(KUBECTL)
        .arg(format!("--server=http://127.0.0.1:{port}"))
        .arg("--namespace=default")
        .args(args)
        // The printer drops managedFields unless asked: keep them to compare everything.
        .args(["-o", "json", "--show-managed-fields"])
        .output()
        .unwrap();
    let request = server.join().unwrap();
    assert!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (serde_json::from_slice(&out.stdout).unwrap(), request)
}

#[test]
fn real_kubectl_reads_our_protobuf_responses() {
    if !std::path::Path::new(KUBECTL).exists() {
        eprintln!("skipped: {KUBECTL} is not installed");
        return;
    }
    // What the "server" answers to `kubectl create configmap`: a stored object with maps,
    // bytes, times and managed fields (FieldsV1).
    let stored = json!({
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {
            "name": "cm", "namespace": "default", "uid": "8d2c5d3e-1f0a-4b7e-9a51-0d6f2b1c3e4f",
            "resourceVersion": "17", "creationTimestamp": "2024-05-06T07:08:09Z",
            "labels": {"app": "web"},
            "managedFields": [{"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
                               "time": "2024-05-06T07:08:09Z", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:data": {".": {}, "f:k": {}}}}]
        },
        "data": {"k": "v", "z": ""},
        "binaryData": {"bin": "AAEC//4="}
    });
    let (printed, request) = kubectl_against(
        &["create", "configmap", "cm", "--from-literal=k=v"],
        &stored,
    );
    // kubectl decoded our protobuf into its Go struct and printed it: the same object.
    assert_eq!(printed, stored);
    // And its request body is protobuf that we decode to the configmap it meant.
    assert_eq!(decode(&request).unwrap()["data"], json!({"k": "v"}));

    // A deployment with a full pod template: quantities, int-or-strings, probes, pointers set
    // to zero values, affinity, tolerations. Go re-prints exactly what we encoded.
    let stored = super::roundtrip_tests::rich_deployment();
    let (printed, _) = kubectl_against(&["create", "deployment", "d", "--image=nginx"], &stored);
    assert_eq!(printed, stored);
    // Our decoder prints fields in the same order as Go (declaration order, sorted map keys).
    let ours = decode(&encode(&stored).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_string_pretty(&ours).unwrap(),
        serde_json::to_string_pretty(&printed).unwrap()
    );
}
