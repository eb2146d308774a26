//! The kubelet API's request paths, parsed once for everyone who serves them (nodesim's kubelet,
//! vn-agent in front of real kubelets): the per-pod actions `/containerLogs/{ns}/{pod}/{container}`,
//! `/exec|attach|run/{ns}/{pod}[/{uid}]/{container}`, `/portForward/{ns}/{pod}[/{uid}]`, and
//! `/pods`, `/healthz` and the node-wide rest.
//!
//! Segments are returned as they appear in the path (not percent-decoded) and names are not
//! validated: what a server accepts is its own policy.

use http::Method;

/// A per-pod kubelet action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodAction {
    /// `/containerLogs/{ns}/{pod}/{container}`.
    Logs,
    /// `/exec/{ns}/{pod}[/{uid}]/{container}`.
    Exec,
    /// `/attach/{ns}/{pod}[/{uid}]/{container}`.
    Attach,
    /// `/portForward/{ns}/{pod}[/{uid}]`.
    PortForward,
    /// `/run/{ns}/{pod}[/{uid}]/{container}`.
    Run,
}

impl PodAction {
    /// The label used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PodAction::Logs => "logs",
            PodAction::Exec => "exec",
            PodAction::Attach => "attach",
            PodAction::PortForward => "portforward",
            PodAction::Run => "run",
        }
    }

    /// The first path segment, as the kubelet spells it.
    pub fn segment(self) -> &'static str {
        match self {
            PodAction::Logs => "containerLogs",
            PodAction::Exec => "exec",
            PodAction::Attach => "attach",
            PodAction::PortForward => "portForward",
            PodAction::Run => "run",
        }
    }

    /// The action whose first path segment is `s`.
    pub fn from_segment(s: &str) -> Option<Self> {
        Some(match s {
            "containerLogs" => PodAction::Logs,
            "exec" => PodAction::Exec,
            "attach" => PodAction::Attach,
            "portForward" => PodAction::PortForward,
            "run" => PodAction::Run,
            _ => return None,
        })
    }

    /// Whether the kubelet serves the action for `method` (logs: GET, run: POST, streaming
    /// actions: GET and POST).
    pub fn allows(self, method: &Method) -> bool {
        match self {
            PodAction::Logs => method == Method::GET,
            PodAction::Run => method == Method::POST,
            PodAction::Exec | PodAction::Attach | PodAction::PortForward => {
                method == Method::GET || method == Method::POST
            }
        }
    }
}

/// A per-pod request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodPath {
    /// What to do.
    pub action: PodAction,
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod uid, when the path carries one.
    pub uid: Option<String>,
    /// Container, except for port forwarding.
    pub container: Option<String>,
}

impl PodPath {
    /// The path of this request: `/{action}/{ns}/{pod}[/{uid}][/{container}]`.
    pub fn to_path(&self) -> String {
        let mut path = format!("/{}/{}/{}", self.action.segment(), self.namespace, self.pod);
        for part in [&self.uid, &self.container].into_iter().flatten() {
            path.push('/');
            path.push_str(part);
        }
        path
    }
}

/// A parsed kubelet request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubeletPath {
    /// A per-pod action.
    Pod(PodPath),
    /// `/pods` or `/pods/`: the node's pods.
    Pods,
    /// `/healthz`.
    Healthz,
    /// Any other path (node-wide endpoints such as `/metrics`, `/stats/summary`, or unknown ones).
    Other {
        /// The first segment (`metrics` for `/metrics/cadvisor`).
        endpoint: String,
        /// What follows the first segment's `/`; `None` when nothing does.
        rest: Option<String>,
    },
}

impl KubeletPath {
    /// The first path segment: the endpoint's name in metrics and logs.
    pub fn endpoint(&self) -> &str {
        match self {
            KubeletPath::Pod(p) => p.action.segment(),
            KubeletPath::Pods => "pods",
            KubeletPath::Healthz => "healthz",
            KubeletPath::Other { endpoint, .. } => endpoint,
        }
    }
}

/// Why a path is not a kubelet path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("{0} is not an absolute path")]
    NotAbsolute(String),
    /// A per-pod action's path has the wrong number of segments.
    #[error("{path} does not have the shape of a kubelet {} path", action.as_str())]
    Shape {
        /// The action named by the first segment.
        action: PodAction,
        /// The path.
        path: String,
    },
}

/// Parses a request path (without the query).
pub fn parse(path: &str) -> Result<KubeletPath, PathError> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| PathError::NotAbsolute(path.to_string()))?;
    let (first, tail) = match rest.split_once('/') {
        Some((first, tail)) => (first, Some(tail)),
        None => (rest, None),
    };
    if let Some(action) = PodAction::from_segment(first) {
        let args: Vec<&str> = tail.map(|t| t.split('/').collect()).unwrap_or_default();
        return pod_path(action, &args)
            .map(KubeletPath::Pod)
            .ok_or_else(|| PathError::Shape {
                action,
                path: path.to_string(),
            });
    }
    Ok(match (first, tail) {
        ("pods", None | Some("")) => KubeletPath::Pods,
        ("healthz", None) => KubeletPath::Healthz,
        (endpoint, rest) => KubeletPath::Other {
            endpoint: endpoint.to_string(),
            rest: rest.map(str::to_string),
        },
    })
}

fn pod_path(action: PodAction, args: &[&str]) -> Option<PodPath> {
    let (ns, pod, uid, container) = match (action, args) {
        (PodAction::Logs, [ns, pod, c]) => (ns, pod, None, Some(c)),
        (PodAction::PortForward, [ns, pod]) => (ns, pod, None, None),
        (PodAction::PortForward, [ns, pod, uid]) => (ns, pod, Some(uid), None),
        (PodAction::Exec | PodAction::Attach | PodAction::Run, [ns, pod, c]) => {
            (ns, pod, None, Some(c))
        }
        (PodAction::Exec | PodAction::Attach | PodAction::Run, [ns, pod, uid, c]) => {
            (ns, pod, Some(uid), Some(c))
        }
        _ => return None,
    };
    Some(PodPath {
        action,
        namespace: ns.to_string(),
        pod: pod.to_string(),
        uid: uid.map(|u| u.to_string()),
        container: container.map(|c| c.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(path: &str) -> PodPath {
        match parse(path) {
            Ok(KubeletPath::Pod(p)) => p,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_every_pod_action_with_and_without_uid() {
        let p = pod("/containerLogs/ns/p/c");
        assert_eq!(
            p,
            PodPath {
                action: PodAction::Logs,
                namespace: "ns".into(),
                pod: "p".into(),
                uid: None,
                container: Some("c".into()),
            }
        );
        for action in [PodAction::Exec, PodAction::Attach, PodAction::Run] {
            let seg = action.segment();
            let p = pod(&format!("/{seg}/ns/p/c"));
            assert_eq!(
                (p.action, p.uid, p.container.as_deref()),
                (action, None, Some("c"))
            );
            let p = pod(&format!("/{seg}/ns/p.x/u-1/c"));
            assert_eq!(
                (p.uid.as_deref(), p.container.as_deref()),
                (Some("u-1"), Some("c"))
            );
        }
        let p = pod("/portForward/ns/p");
        assert_eq!(
            (p.action, p.uid, p.container),
            (PodAction::PortForward, None, None)
        );
        assert_eq!(pod("/portForward/ns/p/uid").uid.as_deref(), Some("uid"));
    }

    #[test]
    fn pod_paths_render_back() {
        for path in [
            "/containerLogs/ns/p/c",
            "/exec/ns/p/u/c",
            "/attach/ns/p/c",
            "/portForward/ns/p",
            "/portForward/ns/p/u",
            "/run/ns/p/u/c",
        ] {
            assert_eq!(pod(path).to_path(), path);
        }
    }

    #[test]
    fn wrong_shapes_name_their_action() {
        for (path, action) in [
            ("/containerLogs/ns/p", PodAction::Logs),
            ("/containerLogs/ns/p/c/", PodAction::Logs),
            ("/containerLogs", PodAction::Logs),
            ("/exec/ns/p/a/b/c", PodAction::Exec),
            ("/portForward/ns/p/u/c", PodAction::PortForward),
        ] {
            assert_eq!(
                parse(path),
                Err(PathError::Shape {
                    action,
                    path: path.into()
                })
            );
        }
        assert!(matches!(parse("x"), Err(PathError::NotAbsolute(_))));
    }

    #[test]
    fn names_node_endpoints() {
        assert_eq!(parse("/pods"), Ok(KubeletPath::Pods));
        assert_eq!(parse("/pods/"), Ok(KubeletPath::Pods));
        assert_eq!(parse("/healthz"), Ok(KubeletPath::Healthz));
        let other = |endpoint: &str, rest: Option<&str>| KubeletPath::Other {
            endpoint: endpoint.into(),
            rest: rest.map(str::to_string),
        };
        assert_eq!(parse("/pods/x"), Ok(other("pods", Some("x"))));
        assert_eq!(parse("/healthz/"), Ok(other("healthz", Some(""))));
        assert_eq!(parse("/metrics"), Ok(other("metrics", None)));
        assert_eq!(parse("/stats/summary"), Ok(other("stats", Some("summary"))));
        assert_eq!(parse("/"), Ok(other("", None)));
        assert_eq!(parse("/metrics/cadvisor").unwrap().endpoint(), "metrics");
        assert_eq!(parse("/exec/n/p/c").unwrap().endpoint(), "exec");
    }

    #[test]
    fn methods_per_action() {
        assert!(PodAction::Logs.allows(&Method::GET) && !PodAction::Logs.allows(&Method::POST));
        assert!(PodAction::Run.allows(&Method::POST) && !PodAction::Run.allows(&Method::GET));
        for a in [PodAction::Exec, PodAction::Attach, PodAction::PortForward] {
            assert!(a.allows(&Method::GET) && a.allows(&Method::POST));
            assert!(!a.allows(&Method::DELETE));
        }
    }
}
