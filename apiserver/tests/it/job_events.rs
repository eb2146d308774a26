//! The events upstream's job and cronjob controllers record when a job finishes: `Completed`
//! (`Job completed`) on the Job, `SawCompletedJob` and, past the history limit,
//! `SuccessfulDelete` on the CronJob.

use crate::harness::{Kubectl, eventually, server};

/// Marks the pending pod of job `job` as having run to `phase`; returns its name.
async fn finish_pod(k: &Kubectl, job: &str, phase: &str) -> String {
    let pod = eventually(20, || async {
        let p = k.ok(&[
            "get",
            "pods",
            "-l",
            &format!("job-name={job}"),
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ]);
        (!p.is_empty()).then_some(p)
    })
    .await;
    let patch = format!(r#"{{"status":{{"phase":"{phase}"}}}}"#);
    k.ok(&[
        "patch",
        "pod",
        &pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
    pod
}

/// Text with every run of whitespace one space (table columns vary in width).
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Waits until `kubectl events --for <what>` shows every one of `want` (whitespace
/// squeezed); returns the squeezed output.
async fn events_show(k: &Kubectl, what: &str, want: &[&str]) -> String {
    eventually(30, || async {
        let out = squeeze(&k.ok(&["events", "--for", what]));
        want.iter()
            .all(|w| out.contains(&squeeze(w)))
            .then_some(out)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_are_reported_as_upstream() {
    let srv = server().await;
    let k = Kubectl::new(&srv);
    k.ok(&["create", "job", "done", "--image=busybox", "--", "true"]);
    finish_pod(&k, "done", "Succeeded").await;
    events_show(&k, "job/done", &["Normal Completed Job/done Job completed"]).await;

    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: tick}\nspec:\n  schedule: '* * * * *'\n  successfulJobsHistoryLimit: 0\n  jobTemplate:\n    spec:\n      backoffLimit: 0\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{name: c, image: busybox}]\n",
    );
    let long_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10)).to_string();
    k.ok(&[
        "patch",
        "cronjob",
        "tick",
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(r#"{{"status":{{"lastScheduleTime":"{long_ago}"}}}}"#),
    ]);
    let job = eventually(20, || async {
        let active = k.ok(&[
            "get",
            "cronjob",
            "tick",
            "-o",
            "jsonpath={.status.active[0].name}",
        ]);
        (!active.is_empty()).then_some(active)
    })
    .await;
    finish_pod(&k, &job, "Succeeded").await;
    let out = events_show(
        &k,
        "cronjob/tick",
        &[
            &format!("SuccessfulCreate   CronJob/tick   Created job {job}"),
            &format!(
                "SawCompletedJob    CronJob/tick   Saw completed job: {job}, status: Complete"
            ),
            &format!("SuccessfulDelete   CronJob/tick   Deleted job {job}"),
        ],
    )
    .await;
    assert_eq!(out.matches("SawCompletedJob").count(), 1, "{out}");
}
