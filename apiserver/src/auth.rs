//! Authentication (client certificates, static tokens, service-account tokens); authorization
//! is `authz`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// User name (certificate CN, token user).
    pub name: String,
    /// User uid, when known.
    pub uid: String,
    /// Groups (certificate O, token groups), always including `system:authenticated`.
    pub groups: Vec<String>,
    /// Extra attributes (set by impersonation's `Impersonate-Extra-*`).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// A user with the given name and groups plus `system:authenticated`.
    pub fn new(name: &str, uid: &str, groups: impl IntoIterator<Item = String>) -> Self {
        let mut groups: Vec<String> = groups.into_iter().collect();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".to_string());
        }
        User {
            name: name.to_string(),
            uid: uid.to_string(),
            groups,
            extra: BTreeMap::new(),
        }
    }
}

/// Token-file problems.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file could not be read.
    #[error("reading token file {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("token file {path} line {line}: {reason}")]
    Parse {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Verifies bearer tokens that are not in the static table (service-account JWTs).
pub trait TokenVerifier: Send + Sync {
    /// The user a token stands for, if it is valid.
    fn verify(&self, token: &str) -> Option<User>;
}

/// Authenticates requests.
#[derive(Clone, Default)]
pub struct Authenticator {
    tokens: HashMap<String, User>,
    verifiers: Vec<Arc<dyn TokenVerifier>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Loads static tokens in upstream's `--token-auth-file` format:
    /// `token,user,uid,"group1,group2"` per line.
    pub fn load_token_file(&mut self, path: &Path) -> Result<(), AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            path: path.display().to_string(),
            source,
        })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = parse_csv_line(line);
            if fields.len() < 3 || fields[0].is_empty() || fields[1].is_empty() {
                return Err(AuthError::Parse {
                    path: path.display().to_string(),
                    line: i + 1,
                    reason: "expected token,user,uid[,\"group1,group2\"]".into(),
                });
            }
            let groups = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            self.tokens
                .insert(fields[0].clone(), User::new(&fields[1], &fields[2], groups));
        }
        Ok(())
    }

    /// Adds a static token.
    pub fn add_token(&mut self, token: &str, user: User) {
        self.tokens.insert(token.to_string(), user);
    }

    /// Adds a verifier for tokens not in the static table.
    pub fn add_verifier(&mut self, v: Arc<dyn TokenVerifier>) {
        self.verifiers.push(v);
    }

    /// The user behind a bearer token.
    pub fn authenticate_token(&self, token: &str) -> Option<User> {
        if let Some(u) = self.tokens.get(token) {
            return Some(u.clone());
        }
        self.verifiers.iter().find_map(|v| v.verify(token))
    }

    /// The user of a verified client certificate (DER): CN is the name, O the groups.
    pub fn authenticate_cert(&self, der: &[u8]) -> Option<User> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let cn = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect::<Vec<_>>();
        Some(User::new(&cn, "", groups))
    }
}

/// Splits one CSV line with double-quoted fields.
fn parse_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_upstream_format() {
        let dir = std::env::temp_dir().join(format!("tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let p = dir.join("tokens.csv");
        std::fs::write(&p, "abc,alice,1001,\"dev,ops\"\n# comment\nxyz,bob,1002\n").ok();
        let mut a = Authenticator::default();
        a.load_token_file(&p).expect("load");
        let alice = a.authenticate_token("abc").expect("alice");
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.groups, vec!["dev", "ops", "system:authenticated"]);
        assert_eq!(
            a.authenticate_token("xyz").map(|u| u.name),
            Some("bob".into())
        );
        assert!(a.authenticate_token("nope").is_none());
        std::fs::write(&p, "onlytoken\n").ok();
        assert!(Authenticator::default().load_token_file(&p).is_err());
    }
}
