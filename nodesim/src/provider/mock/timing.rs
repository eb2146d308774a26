//! Reading the failure-injection annotations and judging when a run-to-completion pod ends.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

/// Parses durations like `500ms`, `3s`, `2m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    (v >= 0.0 && v.is_finite()).then(|| Duration::from_secs_f64(v * scale))
}

pub(super) fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// When a run-to-completion pod (restartPolicy `Never`/`OnFailure`, as Jobs use) would finish,
/// judged from its first container's command: `true`, `echo ...`, `date`, `exit N`, `false` and
/// `sleep N` (directly or through `sh -c`) end as they would; anything else runs until deleted.
/// Pods that restart `Always` keep running (the mock has no crash-loop backoff).
pub(super) fn command_exit(pod: &Pod) -> Option<(Duration, i32)> {
    let spec = pod.spec.as_ref()?;
    if spec.restart_policy.as_deref().unwrap_or("Always") == "Always" {
        return None;
    }
    let c = spec.containers.first()?;
    let mut argv: Vec<&str> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .map(String::as_str)
        .collect();
    if let [sh, "-c", script, ..] = argv.as_slice()
        && matches!(sh.rsplit('/').next(), Some("sh" | "bash" | "ash"))
    {
        argv = script.split_whitespace().collect();
    }
    let program = argv.first()?.rsplit('/').next()?;
    let quick = Duration::from_millis(100);
    match program {
        "true" | "echo" | "date" | "printenv" | "env" | "hostname" => Some((quick, 0)),
        "false" => Some((quick, 1)),
        "exit" => Some((quick, argv.get(1).and_then(|n| n.parse().ok()).unwrap_or(0))),
        "sleep" => {
            let secs: f64 = argv.get(1)?.trim_end_matches('s').parse().ok()?;
            (secs.is_finite() && secs >= 0.0).then(|| (Duration::from_secs_f64(secs), 0))
        }
        _ => None,
    }
}
