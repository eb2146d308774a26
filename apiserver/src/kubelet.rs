//! The kubelet-proxied subresources (`pods/log`, `exec`, `attach`, `portforward`,
//! `nodes/proxy`): forwarded to the kubelet of the pod's node at its InternalIP and
//! `daemonEndpoints.kubeletEndpoint.Port`, over TLS with the kubelet client certificate,
//! streaming and connection upgrades passed through.

use std::sync::Arc;

use common::kubelet_proxy::{KubeletProxy, Upstream};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::api::Api;
use crate::error::{ApiError, ApiResult, Target};
use crate::http::Req;
use crate::http::response::Body;
use crate::registry::ResourceDef;
use crate::registry::def::KubeletRoute;

/// Default kubelet port.
const KUBELET_PORT: u16 = 10250;

fn pod_target(name: &str) -> Target<'_> {
    Target {
        group: "",
        resource: "pods",
        name,
    }
}

/// Where a node's kubelet listens.
fn kubelet_of(api: &Api, node_name: &str) -> ApiResult<Upstream> {
    let node = api
        .store
        .get("/nodes", "", node_name)
        .and_then(|o| o.value().ok())
        .ok_or_else(|| {
            ApiError::not_found(Target {
                group: "",
                resource: "nodes",
                name: node_name,
            })
        })?;
    let addrs = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pick = |t: &str| {
        addrs
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(t))
            .and_then(|a| a.get("address").and_then(Value::as_str))
            .map(str::to_string)
    };
    let host = pick("InternalIP")
        .or_else(|| pick("ExternalIP"))
        .or_else(|| pick("Hostname"))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "node {node_name:?} has no address to reach its kubelet"
            ))
        })?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .unwrap_or(KUBELET_PORT);
    Ok(Upstream::new(host, port))
}

/// The container a request addresses (defaulted when the pod has exactly one).
fn container(pod: &Value, name: &str, requested: Option<&str>) -> ApiResult<String> {
    let names: Vec<String> = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    match requested.filter(|c| !c.is_empty()) {
        Some(c) if names.iter().any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None => {
            let main: Vec<&String> = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c.get("name").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .filter_map(|n| names.iter().find(|x| *x == n))
                .collect();
            if main.len() == 1 {
                Ok(main[0].clone())
            } else {
                let list: Vec<&str> = main.iter().map(|s| s.as_str()).collect();
                Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    list.join(" ")
                )))
            }
        }
    }
}

/// Forwards a kubelet subresource request.
pub async fn proxy(
    api: &Arc<Api>,
    def: &ResourceDef,
    r: &mut Req,
    sub: &str,
) -> ApiResult<Response<Body>> {
    let name = r.info.name.clone().unwrap_or_default();
    let query: String = r
        .path_and_query
        .split_once('?')
        .map(|(_, q)| q.to_string())
        .unwrap_or_default();
    let (upstream, path) = if def.kubelet == Some(KubeletRoute::Node) {
        let rest = r.info.proxy_rest.clone().unwrap_or_default();
        (kubelet_of(api, &name)?, format!("/{rest}"))
    } else if def.kubelet == Some(KubeletRoute::Pod) {
        let ns = r.info.namespace.clone().unwrap_or_default();
        let pod = api
            .store
            .get("/pods", &ns, &name)
            .and_then(|o| o.value().ok())
            .ok_or_else(|| ApiError::not_found(pod_target(&name)))?;
        let node = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if node.is_empty() {
            return Err(ApiError::bad_request(format!(
                "pod {name} does not have a host assigned"
            )));
        }
        let upstream = kubelet_of(api, node)?;
        let path = match sub {
            "log" => format!(
                "/containerLogs/{ns}/{name}/{}",
                container(&pod, &name, r.q("container"))?
            ),
            "exec" => format!(
                "/exec/{ns}/{name}/{}",
                container(&pod, &name, r.q("container"))?
            ),
            "attach" => format!(
                "/attach/{ns}/{name}/{}",
                container(&pod, &name, r.q("container"))?
            ),
            "portforward" => format!("/portForward/{ns}/{name}"),
            _ => {
                return Err(ApiError::method_not_allowed(
                    "proxy",
                    Target {
                        group: "",
                        resource: "pods/proxy",
                        name: &name,
                    },
                ));
            }
        };
        (upstream, path)
    } else {
        return Err(ApiError::no_route());
    };
    let path_and_query = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let proxy = api.kubelet.clone().ok_or_else(|| {
        ApiError::unavailable(
            "no kubelet client certificate is configured (--kubelet-client-certificate)",
        )
    })?;
    let mut builder = http::Request::builder()
        .method(r.method.clone())
        .uri(&path_and_query);
    if let Some(h) = builder.headers_mut() {
        *h = r.headers.clone();
    }
    let body = r.body.take().map(|b| b.boxed()).unwrap_or_else(|| {
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed()
    });
    let mut req = builder
        .body(body)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    *req.extensions_mut() = std::mem::take(&mut r.extensions);
    let resp = proxy
        .forward(&upstream, &path_and_query, req)
        .await
        .map_err(|e| {
            let mut err = ApiError::internal(format!("error dialing backend: {e}"));
            err.code = e.status().as_u16();
            if err.code == StatusCode::BAD_GATEWAY.as_u16() || err.code == 500 {
                err.code = 500;
            }
            err
        })?;
    let (parts, body) = resp.into_parts();
    if sub == "log" && !parts.status.is_success() {
        return Err(log_error(parts.status, body).await);
    }
    // A kubelet stream that fails midway can only be cut short: the status line is sent.
    let frames = futures::stream::unfold(body, |mut b| async move {
        match b.frame().await {
            Some(Ok(f)) => Some((Ok::<_, std::convert::Infallible>(f), b)),
            _ => None,
        }
    });
    Ok(Response::from_parts(
        parts,
        http_body_util::StreamBody::new(frames).boxed(),
    ))
}

/// A kubelet's refusal of a log request as an API error, as upstream's response checker
/// turns it into one: 400 is a BadRequest carrying the kubelet's text (`previous terminated
/// container "app" in pod "web" not found`), 404 a NotFound, anything else an InternalError.
async fn log_error(status: StatusCode, body: common::kubelet_proxy::ProxyBody) -> ApiError {
    const MAX_READ: usize = 50_000;
    let mut body = body;
    let mut read = Vec::new();
    while read.len() < MAX_READ {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    read.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    read.truncate(MAX_READ);
    let text = String::from_utf8_lossy(&read).trim_end().to_string();
    match status {
        StatusCode::BAD_REQUEST => ApiError::bad_request(text),
        StatusCode::NOT_FOUND => ApiError::no_route(),
        _ => ApiError::internal(text),
    }
}

/// Builds the proxy for the given kubelet client TLS.
pub fn make_proxy(tls: rustls::ClientConfig) -> KubeletProxy {
    KubeletProxy::new(tls)
}
