//! Non-resource endpoints: version, health, metrics, OpenAPI, OIDC discovery.

use std::collections::HashMap;

use http::{HeaderMap, Method, Response, StatusCode};
use serde_json::json;

use crate::api::Api;
use crate::error::ApiError;
use crate::http::response::{self, Body, Encoding};

pub use crate::version::KUBE_VERSION;

/// Serves a path that is not a resource path.
pub async fn serve(
    api: &Api,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        return response::error(&ApiError::method_not_allowed(
            method.as_str(),
            Default::default(),
        ));
    }
    match path {
        "/version" => response::object(StatusCode::OK, &version(), Encoding::Json),
        "/healthz" | "/livez" | "/readyz" => health(api, path, query.contains_key("verbose")),
        p if p.starts_with("/healthz/")
            || p.starts_with("/livez/")
            || p.starts_with("/readyz/") =>
        {
            health(api, p, false)
        }
        "/metrics" => api.metrics.render(&api.store),
        p if p.starts_with("/openapi/") || p == "/openapi" => {
            super::openapi::serve(api, p, headers, query)
        }
        "/.well-known/openid-configuration" | "/openid/v1/jwks" => oidc(api, path),
        "" | "/" => {
            let paths: Vec<String> = [
                "/api",
                "/api/v1",
                "/apis",
                "/healthz",
                "/livez",
                "/readyz",
                "/metrics",
                "/openapi/v2",
                "/openapi/v3",
                "/version",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(api.registry.groups().iter().map(|g| format!("/apis/{g}")))
            .collect();
            response::object(StatusCode::OK, &json!({"paths": paths}), Encoding::Json)
        }
        _ => response::error(&ApiError::no_route()),
    }
}

/// `/version` as upstream reports it.
pub fn version() -> serde_json::Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": KUBE_VERSION,
        "gitCommit": "virtualcluster-embedded",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn health(api: &Api, path: &str, verbose: bool) -> Response<Body> {
    let storage_ok = api.store_healthy();
    let check = path.split('/').nth(2);
    if let Some(c) = check {
        let ok = match c {
            "ping" | "log" => true,
            "etcd" => storage_ok,
            _ => return response::error(&ApiError::no_route()),
        };
        return if ok {
            response::text(StatusCode::OK, "ok")
        } else {
            response::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("[-]{c} failed: reason withheld\n"),
            )
        };
    }
    let shutting_down = api.shutdown.is_cancelled() && path == "/readyz";
    let ok = storage_ok && !shutting_down;
    if verbose {
        let mut text = String::new();
        text.push_str("[+]ping ok\n[+]log ok\n");
        text.push_str(if storage_ok {
            "[+]etcd ok\n"
        } else {
            "[-]etcd failed: reason withheld\n"
        });
        if path == "/readyz" {
            text.push_str(if shutting_down {
                "[-]shutdown failed: reason withheld\n"
            } else {
                "[+]shutdown ok\n"
            });
        }
        let name = path.trim_start_matches('/');
        text.push_str(&format!(
            "{name} check {}\n",
            if ok { "passed" } else { "failed" }
        ));
        let code = if ok {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        return response::text(code, text);
    }
    if ok {
        response::text(StatusCode::OK, "ok")
    } else {
        response::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "[-]etcd failed: reason withheld\nhealthz check failed\n",
        )
    }
}

/// `/.well-known/openid-configuration` and `/openid/v1/jwks`.
fn oidc(api: &Api, path: &str) -> Response<Body> {
    let Some(signer) = api.tokens.as_ref() else {
        return response::error(&ApiError::no_route());
    };
    if path == "/openid/v1/jwks" {
        return response::object(StatusCode::OK, &signer.jwks(), Encoding::Json);
    }
    let doc = json!({
        "issuer": signer.issuer,
        "jwks_uri": format!("https://{}/openid/v1/jwks", api.settings.advertise),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    });
    response::object(StatusCode::OK, &doc, Encoding::Json)
}
