//! Secrets: copied as they are, except service-account token secrets, which become `Opaque`
//! copies under a derived name (a super token controller would otherwise rewrite them) found by
//! the tenant secret's uid label; and the super secrets holding tenant tokens for pods.

use std::collections::BTreeMap;

use crds::tenancy::{self, short_hash};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Change, ConvertError, TenantCtx, same_labels_annotations, super_meta, with_meta_of};

/// Secret type of legacy service-account token secrets.
pub const SA_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
/// Label on super secrets that hold a TokenRequest token: the service account's name.
pub const LABEL_TOKEN_FOR: &str = "tenancy.x-k8s.io/token-for";
/// Annotation on token secrets: the full name of the service account.
pub const ANNOTATION_TOKEN_SA: &str = "tenancy.x-k8s.io/token-for";
/// Annotation on token secrets: when the token expires (RFC 3339).
pub const ANNOTATION_TOKEN_EXPIRY: &str = "tenancy.x-k8s.io/token-expiry";
/// Annotation on token secrets: when the token was issued (RFC 3339).
pub const ANNOTATION_TOKEN_ISSUED: &str = "tenancy.x-k8s.io/token-issued";

const MAX_NAME: usize = 253;

fn bounded(name: String, seed: &str) -> String {
    if name.len() <= MAX_NAME {
        return name;
    }
    format!("{}-{}", &name[..MAX_NAME - 11], short_hash(seed, 10))
}

/// Whether a tenant secret is a legacy service-account token secret.
pub fn is_sa_token(vsec: &Secret) -> bool {
    vsec.type_.as_deref() == Some(SA_TOKEN_TYPE)
}

/// The super name of a tenant secret (derived from its uid for token secrets).
pub fn super_name(vsec: &Secret) -> String {
    let name = vsec.metadata.name.clone().unwrap_or_default();
    if !is_sa_token(vsec) {
        return name;
    }
    let uid = vsec.metadata.uid.as_deref().unwrap_or_default();
    bounded(format!("{name}-{}", short_hash(uid, 5)), uid)
}

/// Whether a super secret is one the syncer issued to hold pods' tenant tokens.
pub fn is_token_secret(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(ANNOTATION_TOKEN_SA))
}

/// Name prefix of the super secrets holding pods' tenant tokens; tenant secrets may not use it.
pub const TOKEN_SECRET_PREFIX: &str = "vc-sa-token-";

/// The super secret holding the tenant token of service account `sa` for pods.
pub fn token_secret_name(sa: &str) -> String {
    bounded(format!("{TOKEN_SECRET_PREFIX}{sa}"), sa)
}

/// The super copy of tenant secret `vsec`.
pub fn desired(
    ctx: &TenantCtx,
    vsec: &Secret,
    existing: Option<&Secret>,
) -> Result<Secret, ConvertError> {
    let mut meta = super_meta(ctx, &vsec.metadata, existing.map(|e| &e.metadata))?;
    let mut type_ = vsec.type_.clone();
    if is_sa_token(vsec) {
        meta.name = Some(super_name(vsec));
        type_ = Some("Opaque".into());
        let uid = vsec.metadata.uid.clone().unwrap_or_default();
        meta.labels
            .get_or_insert_default()
            .insert(tenancy::LABEL_SECRET_UID.into(), uid);
        meta.annotations.get_or_insert_default().insert(
            tenancy::LABEL_SECRET_NAME.into(),
            vsec.metadata.name.clone().unwrap_or_default(),
        );
    }
    Ok(Secret {
        metadata: meta,
        data: merged_data(vsec),
        string_data: None,
        type_,
        immutable: vsec.immutable,
    })
}

/// `data` with `stringData` folded in, as the API server stores it.
fn merged_data(s: &Secret) -> Option<BTreeMap<String, ByteString>> {
    let mut data = s.data.clone().unwrap_or_default();
    for (k, v) in s.string_data.iter().flatten() {
        data.insert(k.clone(), ByteString(v.clone().into_bytes()));
    }
    (!data.is_empty() || s.data.is_some()).then_some(data)
}

fn data_of(s: &Secret) -> BTreeMap<String, ByteString> {
    merged_data(s).unwrap_or_default()
}

/// What to write to an existing super secret.
pub fn diff(desired: &Secret, existing: &Secret) -> Change<Secret> {
    let same_data = data_of(desired) == data_of(existing);
    let same_type = desired.type_.as_deref().unwrap_or("Opaque")
        == existing.type_.as_deref().unwrap_or("Opaque");
    let same_immutable = desired.immutable.unwrap_or(false) == existing.immutable.unwrap_or(false);
    if same_data
        && same_type
        && same_immutable
        && same_labels_annotations(&desired.metadata, &existing.metadata)
    {
        return Change::None;
    }
    if !same_type || (existing.immutable == Some(true) && !(same_data && same_immutable)) {
        return Change::Recreate(desired.clone());
    }
    Change::Update(Secret {
        metadata: with_meta_of(&existing.metadata, &desired.metadata),
        ..desired.clone()
    })
}

/// A token issued by the tenant for a service account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    /// The bearer token.
    pub token: String,
    /// When it was issued.
    pub issued: jiff::Timestamp,
    /// When it expires.
    pub expiry: jiff::Timestamp,
}

/// The super secret holding a tenant token for the pods of service account `sa` in tenant
/// namespace `tenant_ns`: `token`, the tenant CA as `ca.crt`, and `namespace`.
pub fn token_secret(
    ctx: &TenantCtx,
    tenant_ns: &str,
    (sa, sa_uid): (&str, &str),
    issued: &IssuedToken,
    ca_pem: &[u8],
) -> Result<Secret, ConvertError> {
    let IssuedToken {
        token,
        issued,
        expiry,
    } = issued;
    let mut labels = ctx.id.labels();
    labels.insert(LABEL_TOKEN_FOR.into(), crds::tenancy::label_value(sa));
    let mut annotations = ctx.id.object_annotations(sa_uid, tenant_ns, &[]);
    annotations.insert(ANNOTATION_TOKEN_SA.into(), sa.to_string());
    annotations.insert(ANNOTATION_TOKEN_EXPIRY.into(), expiry.to_string());
    annotations.insert(ANNOTATION_TOKEN_ISSUED.into(), issued.to_string());
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(token_secret_name(sa)),
            namespace: Some(ctx.super_ns(tenant_ns)?),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            ("token".to_string(), ByteString(token.as_bytes().to_vec())),
            ("ca.crt".to_string(), ByteString(ca_pem.to_vec())),
            (
                "namespace".to_string(),
                ByteString(tenant_ns.as_bytes().to_vec()),
            ),
        ])),
        type_: Some("Opaque".into()),
        ..Secret::default()
    })
}

/// Whether a token secret must be re-issued at `now`: past 80% of its lifetime, or unreadable.
pub fn token_needs_refresh(secret: &Secret, now: jiff::Timestamp) -> bool {
    match token_refresh_at(secret) {
        Some(at) => now >= at,
        None => true,
    }
}

/// When a token secret should be refreshed: 80% into its lifetime.
pub fn token_refresh_at(secret: &Secret) -> Option<jiff::Timestamp> {
    let ann = secret.metadata.annotations.as_ref()?;
    let expiry: jiff::Timestamp = ann.get(ANNOTATION_TOKEN_EXPIRY)?.parse().ok()?;
    let issued: jiff::Timestamp = ann.get(ANNOTATION_TOKEN_ISSUED)?.parse().ok()?;
    let life = expiry.duration_since(issued);
    let lead = life.checked_div(5).unwrap_or_default();
    expiry.checked_sub(lead).ok()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ctx, vmeta};
    use super::*;

    fn vsec(type_: Option<&str>) -> Secret {
        Secret {
            metadata: vmeta("default", "creds", "sec-uid"),
            data: Some(BTreeMap::from([("k".into(), ByteString(b"v".to_vec()))])),
            string_data: Some(BTreeMap::from([("s".into(), "t".into())])),
            type_: type_.map(Into::into),
            immutable: None,
        }
    }

    #[test]
    fn copies_data_and_folds_string_data() {
        let d = desired(&ctx(), &vsec(Some("Opaque")), None).expect("desired");
        assert_eq!(d.metadata.name.as_deref(), Some("creds"));
        let data = d.data.expect("data");
        assert_eq!(data.get("s"), Some(&ByteString(b"t".to_vec())));
        assert_eq!(d.string_data, None);
    }

    #[test]
    fn sa_token_secrets_become_opaque_under_a_derived_name() {
        let v = vsec(Some(SA_TOKEN_TYPE));
        let d = desired(&ctx(), &v, None).expect("desired");
        assert_eq!(d.type_.as_deref(), Some("Opaque"));
        let name = d.metadata.name.clone().unwrap_or_default();
        assert!(name.starts_with("creds-") && name != "creds", "{name}");
        assert_eq!(name, super_name(&v));
        assert_eq!(
            d.metadata
                .labels
                .unwrap_or_default()
                .get(tenancy::LABEL_SECRET_UID)
                .map(String::as_str),
            Some("sec-uid")
        );
    }

    #[test]
    fn diff_updates_data_and_recreates_immutable() {
        let d = desired(&ctx(), &vsec(None), None).expect("desired");
        let mut existing = d.clone();
        existing.metadata.uid = Some("p".into());
        assert_eq!(diff(&d, &existing), Change::None);
        let mut changed = vsec(None);
        changed.data = Some(BTreeMap::from([("k".into(), ByteString(b"new".to_vec()))]));
        let d2 = desired(&ctx(), &changed, None).expect("desired");
        assert!(matches!(diff(&d2, &existing), Change::Update(_)));
        existing.immutable = Some(true);
        assert!(matches!(diff(&d2, &existing), Change::Recreate(_)));
    }

    #[test]
    fn token_refresh_at_eighty_percent() {
        let issued: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().expect("ts");
        let expiry: jiff::Timestamp = "2025-01-01T01:00:00Z".parse().expect("ts");
        let tok = IssuedToken {
            token: "tok".into(),
            issued,
            expiry,
        };
        let s =
            token_secret(&ctx(), "default", ("default", "sa-uid"), &tok, b"ca").expect("secret");
        assert_eq!(s.metadata.name.as_deref(), Some("vc-sa-token-default"));
        let at = token_refresh_at(&s).expect("refresh time");
        assert_eq!(at.to_string(), "2025-01-01T00:48:00Z");
        assert!(!token_needs_refresh(
            &s,
            "2025-01-01T00:47:59Z".parse().expect("ts")
        ));
        assert!(token_needs_refresh(
            &s,
            "2025-01-01T00:48:00Z".parse().expect("ts")
        ));
        assert_eq!(
            s.data.expect("data").get("namespace"),
            Some(&ByteString(b"default".to_vec()))
        );
    }
}
