//! Service-account tokens: ES256 JWTs issued by TokenRequest (and for legacy token secrets),
//! accepted back as bearer tokens, and the OIDC discovery documents that publish the key.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::auth::{TokenVerifier, User};
use crate::error::ApiError;

use crate::store::Store;

/// Default issuer (upstream's default `--service-account-issuer` in most installers).
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Signs and verifies service-account tokens.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    kid: String,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// Audiences accepted when verifying (the issuer by default).
    pub audiences: Vec<String>,
    rng: SystemRandom,
    store: Arc<Store>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("service account signing key: {0}")]
pub struct KeyError(String);

/// What a token is bound to.
#[derive(Debug, Clone, Default)]
pub struct Binding {
    /// Bound pod `(name, uid)`.
    pub pod: Option<(String, String)>,
    /// Bound secret `(name, uid)`.
    pub secret: Option<(String, String)>,
}

impl TokenSigner {
    /// A signer from a PKCS#8 PEM P-256 key.
    pub fn from_pem(pem: &str, issuer: &str, store: Arc<Store>) -> Result<Self, KeyError> {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(
            pem_body(pem).ok_or_else(|| KeyError("not a PEM private key".into()))?,
        );
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            der.secret_pkcs8_der(),
            &rng,
        )
        .map_err(|e| KeyError(e.to_string()))?;
        use sha2::Digest;
        let kid = B64.encode(sha2::Sha256::digest(key.public_key().as_ref()));
        Ok(TokenSigner {
            key,
            kid,
            issuer: issuer.to_string(),
            audiences: vec![issuer.to_string()],
            rng,
            store,
        })
    }

    /// Issues a token for `namespace/sa` with the given audiences and lifetime.
    pub fn issue(
        &self,
        namespace: &str,
        sa: &str,
        sa_uid: &str,
        audiences: &[String],
        expiration_secs: i64,
        binding: &Binding,
    ) -> Result<(String, i64), ApiError> {
        let now = jiff::Timestamp::now().as_second();
        let exp = now + expiration_secs;
        let mut k8s =
            json!({"namespace": namespace, "serviceaccount": {"name": sa, "uid": sa_uid}});
        if let Some((n, u)) = &binding.pod {
            k8s["pod"] = json!({"name": n, "uid": u});
        }
        if let Some((n, u)) = &binding.secret {
            k8s["secret"] = json!({"name": n, "uid": u});
        }
        let aud = if audiences.is_empty() {
            self.audiences.clone()
        } else {
            audiences.to_vec()
        };
        let claims = json!({
            "aud": aud,
            "exp": exp,
            "iat": now,
            "nbf": now,
            "iss": self.issuer,
            "jti": crate::meta::new_uid(),
            "sub": format!("system:serviceaccount:{namespace}:{sa}"),
            "kubernetes.io": k8s,
        });
        let header = json!({"alg": "ES256", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| ApiError::internal("signing service account token"))?;
        Ok((format!("{signing_input}.{}", B64.encode(sig.as_ref())), exp))
    }

    /// The claims of a token whose signature, lifetime and audience are valid.
    fn verified_claims(&self, token: &str) -> Option<Value> {
        self.verified_claims_for(token, &self.audiences)
    }

    /// The claims of a valid token meant for one of `audiences`.
    fn verified_claims_for(&self, token: &str, audiences: &[String]) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&B64.decode(h).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "ES256" {
            return None;
        }
        let sig = B64.decode(s).ok()?;
        let pubkey = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        );
        pubkey.verify(format!("{h}.{c}").as_bytes(), &sig).ok()?;
        let claims: Value = serde_json::from_slice(&B64.decode(c).ok()?).ok()?;
        if claims.get("iss")?.as_str()? != self.issuer {
            return None;
        }
        let now = jiff::Timestamp::now().as_second();
        if claims.get("exp")?.as_i64()? < now {
            return None;
        }
        (!token_audiences(&claims, audiences).is_empty()).then_some(claims)
    }

    /// A TokenReview: the user and the audiences (of `requested`, or the server's when none are
    /// requested) the token is valid for.
    pub fn review(&self, token: &str, requested: &[String]) -> Option<(User, Vec<String>)> {
        let audiences = if requested.is_empty() {
            &self.audiences
        } else {
            requested
        };
        let claims = self.verified_claims_for(token, audiences)?;
        let user = self.user_of(&claims)?;
        Some((user, token_audiences(&claims, audiences)))
    }

    /// The JWKS document publishing the public key.
    pub fn jwks(&self) -> Value {
        let pk = self.key.public_key().as_ref();
        let (x, y) = if pk.len() == 65 {
            (&pk[1..33], &pk[33..65])
        } else {
            (&pk[0..0], &pk[0..0])
        };
        json!({"keys": [{"use": "sig", "kty": "EC", "kid": self.kid, "crv": "P-256", "alg": "ES256", "x": B64.encode(x), "y": B64.encode(y)}]})
    }
}

/// The token's audiences that are among `accepted`.
fn token_audiences(claims: &Value, accepted: &[String]) -> Vec<String> {
    let listed: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    listed
        .into_iter()
        .filter(|a| accepted.iter().any(|x| x == a))
        .map(str::to_string)
        .collect()
}

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()
}

impl TokenVerifier for TokenSigner {
    fn verify(&self, token: &str) -> Option<User> {
        let claims = self.verified_claims(token)?;
        self.user_of(&claims)
    }
}

impl TokenSigner {
    /// The service account user of verified claims, while its account (and bound object) lives.
    fn user_of(&self, claims: &Value) -> Option<User> {
        let k8s = claims.get("kubernetes.io")?;
        let ns = k8s.get("namespace")?.as_str()?;
        let sa = k8s.pointer("/serviceaccount/name")?.as_str()?;
        let sa_uid = k8s.pointer("/serviceaccount/uid")?.as_str()?;
        // The token dies with its service account (and with its bound pod or secret).
        let live = self.store.get("/serviceaccounts", ns, sa)?;
        if &*live.uid != sa_uid {
            return None;
        }
        for (res, key) in [("/pods", "pod"), ("/secrets", "secret")] {
            if let Some(b) = k8s.get(key) {
                let (n, u) = (b.get("name")?.as_str()?, b.get("uid")?.as_str()?);
                let obj = self.store.get(res, ns, n)?;
                if &*obj.uid != u {
                    return None;
                }
            }
        }
        Some(User::new(
            &format!("system:serviceaccount:{ns}:{sa}"),
            sa_uid,
            [
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{ns}"),
            ],
        ))
    }
}
