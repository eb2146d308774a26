//! `/containerLogs/{ns}/{pod}/{container}`: the kubelet's log options, checked as upstream
//! checks them, and the provider's log stream.

use std::convert::Infallible;

use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use super::ctx::KubeletCtx;
use super::query;
use super::response::{Body, provider_error, text};
use crate::provider::LogOptions;

fn parse_log_options(q: &[(String, String)]) -> Result<LogOptions, String> {
    let int = |key: &str| -> Result<Option<i64>, String> {
        query::get(q, key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("{key}: invalid value {v:?}: expected an integer"))
            })
            .transpose()
    };
    let tail_lines = int("tailLines")?;
    if tail_lines.is_some_and(|t| t < 0) {
        return Err("tailLines: must be greater than or equal to 0".into());
    }
    let limit_bytes = int("limitBytes")?;
    if limit_bytes.is_some_and(|l| l < 1) {
        return Err("limitBytes: must be greater than 0".into());
    }
    let since_seconds = int("sinceSeconds")?;
    if since_seconds.is_some_and(|s| s < 1) {
        return Err("sinceSeconds: must be greater than 0".into());
    }
    let since_time = query::get(q, "sinceTime")
        .map(|t| {
            t.parse::<jiff::Timestamp>()
                .map_err(|_| format!("sinceTime: invalid RFC 3339 time {t:?}"))
        })
        .transpose()?;
    if since_seconds.is_some() && since_time.is_some() {
        return Err("at most one of sinceTime or sinceSeconds may be specified".into());
    }
    let since = match (since_seconds, since_time) {
        (Some(s), _) => Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(s)),
        (_, t) => t,
    };
    Ok(LogOptions {
        follow: query::flag(q, "follow"),
        tail_lines,
        limit_bytes,
        timestamps: query::flag(q, "timestamps"),
        since,
        previous: query::flag(q, "previous"),
    })
}

pub(super) async fn logs(
    ctx: &KubeletCtx,
    ns: &str,
    pod: &str,
    container: &str,
    raw_query: Option<&str>,
) -> Response<Body> {
    let q = query::parse(raw_query);
    let opts = match parse_log_options(&q) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let p = match ctx.provider.get_pod(ns, pod).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return text(
                StatusCode::NOT_FOUND,
                format!("pod {pod:?} does not exist\n"),
            );
        }
        Err(e) => return provider_error(&e),
    };
    if !p
        .spec
        .as_ref()
        .is_some_and(|s| s.containers.iter().any(|c| c.name == container))
    {
        return text(
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {pod:?}\n"),
        );
    }
    match ctx.provider.container_logs(ns, pod, container, opts).await {
        Ok(stream) => {
            let body = StreamBody::new(stream.map(|b| Ok::<_, Infallible>(Frame::data(b))));
            let mut r = Response::new(BodyExt::boxed_unsync(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
        Err(e) => provider_error(&e),
    }
}
