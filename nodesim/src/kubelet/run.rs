//! `/run/{ns}/{pod}[/{uid}]/{container}`: a command run to completion, its output the answer.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::ctx::{KubeletCtx, locate};
use super::query;
use super::response::{Body, provider_error, text};
use crate::stream::{ExecIo, ExecOutcome};

pub(super) async fn run(
    ctx: &KubeletCtx,
    ns: &str,
    pod: &str,
    uid: Option<&str>,
    container: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let mut q = query::parse(req.uri().query());
    if let Ok(body) = req.into_body().collect().await {
        let form = String::from_utf8_lossy(&body.to_bytes()).to_string();
        q.extend(query::parse(Some(&form)));
    }
    let cmd: Vec<String> = query::get(&q, "cmd")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if cmd.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "you must specify a command with the cmd parameter",
        );
    }
    if let Err(r) = locate(ctx, ns, pod, uid, Some(container)).await {
        return r;
    }
    let (out_w, mut out_r) = tokio::io::duplex(1 << 20);
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut out_r, &mut buf).await;
        buf
    });
    let (err_w, mut err_r) = tokio::io::duplex(1 << 20);
    let err_reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut err_r, &mut buf).await;
        buf
    });
    let io = ExecIo {
        stdin: None,
        stdout: Some(Box::new(out_w)),
        stderr: Some(Box::new(err_w)),
        tty: false,
        resize: None,
    };
    let outcome = ctx.provider.exec(ns, pod, container, cmd.clone(), io).await;
    let mut output = reader.await.unwrap_or_default();
    output.extend(err_reader.await.unwrap_or_default());
    match outcome {
        Ok(ExecOutcome::Exited(0)) => {
            let mut r = Response::new(Full::new(Bytes::from(output)).boxed_unsync());
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
        Ok(ExecOutcome::Exited(code)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "command {:?} exited with {code}: {}",
                cmd.join(" "),
                String::from_utf8_lossy(&output)
            ),
        ),
        Ok(ExecOutcome::Error(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => provider_error(&e),
    }
}
