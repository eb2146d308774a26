//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics.
//!
//! The decision ("given what I observed and the time, do I write the lease, and with what?") is
//! the pure [`decide`] function. Like client-go, a foreign lease is judged expired from the local
//! instant at which its record last *changed*, never from the `renewTime` written by another
//! machine's clock, so clock skew between candidates does not matter. The loop around it is thin:
//! acquire (retrying with jitter), renew every retry period while leading, give up leadership when
//! a renewal has not succeeded within the renew deadline, release the lease on shutdown.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The timings break client-go's rules.
    #[error("invalid leader election timings: {0}")]
    InvalidTimings(String),
    /// The identity is empty.
    #[error("leader election identity must not be empty")]
    EmptyIdentity,
    /// The API server answered with an error.
    #[error("lease {name}: {source}")]
    Api {
        /// The lease name.
        name: String,
        /// The client error.
        source: kube::Error,
    },
    /// The API server did not answer in time.
    #[error("lease {0}: request timed out")]
    Timeout(String),
}

/// Durations of leader election (client-go's defaults: 15 s, 10 s, 2 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderTimings {
    /// How long a lease is valid after its last observed change; non-leaders wait this long.
    pub lease_duration: Duration,
    /// How long the leader keeps retrying a renewal before it gives up leadership.
    pub renew_deadline: Duration,
    /// The interval between attempts to acquire or renew.
    pub retry_period: Duration,
}

impl Default for LeaderTimings {
    fn default() -> Self {
        LeaderTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// client-go's jitter factor on the retry period.
const JITTER_FACTOR: f64 = 1.2;

impl LeaderTimings {
    /// Checks client-go's rules: lease duration > renew deadline > 1.2 × retry period > 0.
    pub fn validate(&self) -> Result<(), LeaderError> {
        if self.retry_period.is_zero() {
            return Err(LeaderError::InvalidTimings(
                "retry period must be greater than zero".into(),
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(LeaderError::InvalidTimings(format!(
                "lease duration ({:?}) must be greater than renew deadline ({:?})",
                self.lease_duration, self.renew_deadline
            )));
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return Err(LeaderError::InvalidTimings(format!(
                "renew deadline ({:?}) must be greater than {JITTER_FACTOR} × retry period ({:?})",
                self.renew_deadline, self.retry_period
            )));
        }
        if self.lease_duration.as_secs() < 1 {
            return Err(LeaderError::InvalidTimings(
                "lease duration must be at least one second".into(),
            ));
        }
        Ok(())
    }
}

/// The leader-election fields of a Lease.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LeaderRecord {
    /// Current holder; `None` or empty when released.
    pub holder: Option<String>,
    /// Validity of the lease in seconds, as the holder wrote it.
    pub lease_duration_seconds: i32,
    /// When the current holder acquired it.
    pub acquire_time: Option<Timestamp>,
    /// When the current holder last renewed it.
    pub renew_time: Option<Timestamp>,
    /// How many times the lease changed hands.
    pub transitions: i32,
}

impl LeaderRecord {
    /// Reads the record from a Lease spec.
    pub fn from_spec(spec: Option<&LeaseSpec>) -> Self {
        let Some(spec) = spec else {
            return LeaderRecord::default();
        };
        LeaderRecord {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            lease_duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
            acquire_time: spec.acquire_time.as_ref().map(|t| t.0),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
        }
    }

    /// The record as a Lease spec. An empty holder is written as `""`, as client-go does.
    pub fn to_spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.holder.clone().unwrap_or_default()),
            lease_duration_seconds: Some(self.lease_duration_seconds),
            acquire_time: self.acquire_time.map(MicroTime),
            renew_time: self.renew_time.map(MicroTime),
            lease_transitions: Some(self.transitions),
            ..LeaseSpec::default()
        }
    }
}

/// What this candidate last saw of the lease, and the local instant that record last changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The record last read or written.
    pub record: LeaderRecord,
    /// Local time at which `record` was first seen in this form.
    pub changed_at: Instant,
}

/// Updates an observation with a freshly read record: the change instant moves only when the
/// record differs from the one observed before.
pub fn observe(previous: Option<Observation>, record: LeaderRecord, now: Instant) -> Observation {
    match previous {
        Some(prev) if prev.record == record => prev,
        _ => Observation {
            record,
            changed_at: now,
        },
    }
}

/// What a candidate should do with the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No lease exists: create it with this record.
    Create(LeaderRecord),
    /// Write this record (a renewal, or taking over an expired or released lease).
    Write(LeaderRecord),
    /// Another candidate holds a valid lease; try again later.
    HeldByOther {
        /// The holder.
        holder: String,
        /// How long until the lease expires unless renewed.
        expires_in: Duration,
    },
}

/// Decides what `identity` does with the lease it observed (`None`: no lease exists).
pub fn decide(
    identity: &str,
    observed: Option<&Observation>,
    now: Instant,
    wall_now: Timestamp,
    lease_duration: Duration,
) -> Decision {
    let duration_secs = i32::try_from(lease_duration.as_secs()).unwrap_or(i32::MAX);
    let Some(obs) = observed else {
        return Decision::Create(LeaderRecord {
            holder: Some(identity.to_string()),
            lease_duration_seconds: duration_secs,
            acquire_time: Some(wall_now),
            renew_time: Some(wall_now),
            transitions: 0,
        });
    };
    let old = &obs.record;
    if let Some(holder) = old.holder.as_deref().filter(|h| *h != identity) {
        let validity = Duration::from_secs(u64::try_from(old.lease_duration_seconds).unwrap_or(0));
        let expires = obs.changed_at + validity;
        if expires > now {
            return Decision::HeldByOther {
                holder: holder.to_string(),
                expires_in: expires - now,
            };
        }
    }
    let renewing = old.holder.as_deref() == Some(identity);
    Decision::Write(LeaderRecord {
        holder: Some(identity.to_string()),
        lease_duration_seconds: duration_secs,
        acquire_time: if renewing {
            old.acquire_time.or(Some(wall_now))
        } else {
            Some(wall_now)
        },
        renew_time: Some(wall_now),
        transitions: if renewing {
            old.transitions
        } else {
            old.transitions.saturating_add(1)
        },
    })
}

/// The record written when the holder releases the lease: no holder, a one-second duration so
/// the next candidate need not wait, transitions kept (as client-go does).
pub fn released(old: &LeaderRecord, wall_now: Timestamp) -> LeaderRecord {
    LeaderRecord {
        holder: None,
        lease_duration_seconds: 1,
        acquire_time: Some(wall_now),
        renew_time: Some(wall_now),
        transitions: old.transitions,
    }
}

/// A candidate identity unique to this process: the host name and a random suffix.
pub fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// A candidate for the leadership of one Lease.
#[derive(Clone)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: LeaderTimings,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("timings", &self.timings)
            .finish()
    }
}

impl LeaderElector {
    /// A candidate `identity` for Lease `namespace/name`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timings: LeaderTimings,
    ) -> Result<Self, LeaderError> {
        timings.validate()?;
        if identity.is_empty() {
            return Err(LeaderError::EmptyIdentity);
        }
        Ok(LeaderElector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            timings,
        })
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// One attempt: read the lease, decide, write it when the decision says so. Returns whether
    /// this candidate holds the lease afterwards. A lost write race (409) is "not leader".
    pub async fn try_acquire_or_renew(
        &self,
        observation: &mut Option<Observation>,
    ) -> Result<bool, LeaderError> {
        let current = self.call(self.api.get_opt(&self.name)).await?;
        let now = Instant::now();
        let resource_version = current
            .as_ref()
            .and_then(|l| l.metadata.resource_version.clone());
        *observation = current.as_ref().map(|lease| {
            observe(
                observation.take(),
                LeaderRecord::from_spec(lease.spec.as_ref()),
                now,
            )
        });
        let decision = decide(
            &self.identity,
            observation.as_ref(),
            now,
            Timestamp::now(),
            self.timings.lease_duration,
        );
        let (record, create) = match decision {
            Decision::HeldByOther { holder, expires_in } => {
                tracing::debug!(lease = %self.name, %holder, ?expires_in, "lease held by another candidate");
                return Ok(false);
            }
            Decision::Create(record) => (record, true),
            Decision::Write(record) => (record, false),
        };
        let lease = self.lease(record.clone(), resource_version);
        let written = if create {
            self.call(self.api.create(&PostParams::default(), &lease))
                .await
        } else {
            self.call(self.api.replace(&self.name, &PostParams::default(), &lease))
                .await
        };
        match written {
            Ok(_) => {
                *observation = Some(Observation {
                    record,
                    changed_at: Instant::now(),
                });
                Ok(true)
            }
            Err(LeaderError::Api {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Releases the lease if this candidate holds it. Returns whether it did.
    pub async fn release(&self) -> Result<bool, LeaderError> {
        let Some(current) = self.call(self.api.get_opt(&self.name)).await? else {
            return Ok(false);
        };
        let record = LeaderRecord::from_spec(current.spec.as_ref());
        if record.holder.as_deref() != Some(self.identity.as_str()) {
            return Ok(false);
        }
        let lease = self.lease(
            released(&record, Timestamp::now()),
            current.metadata.resource_version.clone(),
        );
        self.call(self.api.replace(&self.name, &PostParams::default(), &lease))
            .await?;
        Ok(true)
    }

    fn lease(&self, record: LeaderRecord, resource_version: Option<String>) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                resource_version,
                ..ObjectMeta::default()
            },
            spec: Some(record.to_spec()),
        }
    }

    async fn call<T>(
        &self,
        fut: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, LeaderError> {
        match tokio::time::timeout(self.timings.renew_deadline, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(source)) => Err(LeaderError::Api {
                name: self.name.clone(),
                source,
            }),
            Err(_) => Err(LeaderError::Timeout(self.name.clone())),
        }
    }

    /// Starts campaigning in the background. Leadership is published on the handle's watch.
    pub fn spawn(self) -> LeaderHandle {
        let (leading_tx, leading_rx) = watch::channel(false);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(campaign(self, leading_tx, stop_rx));
        LeaderHandle {
            leading: leading_rx,
            stop: stop_tx,
            task,
        }
    }
}

/// A running campaign.
#[derive(Debug)]
pub struct LeaderHandle {
    leading: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl LeaderHandle {
    /// Whether this candidate leads right now.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// A receiver of leadership changes (`true` while leading).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Waits until this candidate leads.
    pub async fn wait_leading(&self) {
        let mut rx = self.leading.clone();
        // Err means the campaign ended; then leadership never comes.
        if rx.wait_for(|l| *l).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Stops campaigning and releases the lease when held, so a successor need not wait for it
    /// to expire.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn campaign(
    elector: LeaderElector,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut observation = None;
    loop {
        if !acquire(&elector, &mut observation, &mut stop).await {
            break;
        }
        tracing::info!(lease = %elector.name, identity = %elector.identity, "became leader");
        let _ = leading.send(true);
        let stopped = renew_until_lost(&elector, &mut observation, &mut stop).await;
        let _ = leading.send(false);
        if stopped {
            match elector.release().await {
                Ok(_) => tracing::info!(lease = %elector.name, "released leadership"),
                Err(e) => tracing::warn!(lease = %elector.name, error = %e, "cannot release lease"),
            }
            break;
        }
        tracing::warn!(lease = %elector.name, identity = %elector.identity, "lost leadership");
    }
}

/// Retries until the lease is ours (true) or a stop is asked for (false).
async fn acquire(
    elector: &LeaderElector,
    observation: &mut Option<Observation>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        match elector.try_acquire_or_renew(observation).await {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot acquire lease"),
        }
        let wait = jittered(elector.timings.retry_period);
        if stopped_within(stop, wait).await {
            return false;
        }
    }
}

/// Renews every retry period; returns true when a stop was asked for, false when a renewal has
/// not succeeded within the renew deadline (leadership lost).
async fn renew_until_lost(
    elector: &LeaderElector,
    observation: &mut Option<Observation>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        if stopped_within(stop, elector.timings.retry_period).await {
            return true;
        }
        let deadline = Instant::now() + elector.timings.renew_deadline;
        loop {
            let attempt =
                tokio::time::timeout_at(deadline, elector.try_acquire_or_renew(observation)).await;
            match attempt {
                Ok(Ok(true)) => break,
                // As client-go: a failed attempt is retried until the renew deadline passes.
                Ok(Ok(false)) => tracing::debug!(lease = %elector.name, "renewal not granted"),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew lease"),
                Err(_) => return false,
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if stopped_within(stop, elector.timings.retry_period.min(left)).await {
                return true;
            }
        }
    }
}

/// Sleeps `wait`; returns true early when a stop is asked for (or the handle is gone).
async fn stopped_within(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    let dropped = tokio::select! {
        res = stop.wait_for(|s| *s) => res.is_err(),
        () = tokio::time::sleep(wait) => return false,
    };
    if dropped {
        // A dropped handle means nobody can stop us: keep campaigning.
        tokio::time::sleep(wait).await;
        return false;
    }
    true
}

/// client-go's `wait.Jitter`: `period + rand[0,1) × 1.2 × period`.
fn jittered(period: Duration) -> Duration {
    period.mul_f64(1.0 + rand::random::<f64>() * JITTER_FACTOR)
}

#[cfg(test)]
mod tests;
