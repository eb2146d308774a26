//! ServiceAccounts: copied so super admission finds them; their token secrets are not (tokens
//! come from the tenant, see `secret`).

use k8s_openapi::api::core::v1::ServiceAccount;

use super::{Change, ConvertError, TenantCtx, same_labels_annotations, super_meta, with_meta_of};

/// The super copy of tenant service account `vsa`.
pub fn desired(
    ctx: &TenantCtx,
    vsa: &ServiceAccount,
    existing: Option<&ServiceAccount>,
) -> Result<ServiceAccount, ConvertError> {
    Ok(ServiceAccount {
        metadata: super_meta(ctx, &vsa.metadata, existing.map(|e| &e.metadata))?,
        // Super credentials are never mounted into tenant pods.
        automount_service_account_token: Some(false),
        image_pull_secrets: vsa.image_pull_secrets.clone(),
        secrets: None,
    })
}

/// What to write to an existing super service account.
pub fn diff(desired: &ServiceAccount, existing: &ServiceAccount) -> Change<ServiceAccount> {
    if desired.image_pull_secrets.clone().unwrap_or_default()
        == existing.image_pull_secrets.clone().unwrap_or_default()
        && desired.automount_service_account_token == existing.automount_service_account_token
        && same_labels_annotations(&desired.metadata, &existing.metadata)
    {
        return Change::None;
    }
    Change::Update(ServiceAccount {
        metadata: with_meta_of(&existing.metadata, &desired.metadata),
        secrets: existing.secrets.clone(),
        ..desired.clone()
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ObjectReference;

    use super::super::testutil::{ctx, vmeta};
    use super::*;

    #[test]
    fn never_automounts_and_drops_token_secrets() {
        let v = ServiceAccount {
            metadata: vmeta("default", "builder", "u"),
            secrets: Some(vec![ObjectReference {
                name: Some("builder-token-x".into()),
                ..ObjectReference::default()
            }]),
            ..ServiceAccount::default()
        };
        let d = desired(&ctx(), &v, None).expect("desired");
        assert_eq!(d.automount_service_account_token, Some(false));
        assert_eq!(d.secrets, None);
        assert_eq!(diff(&d, &d.clone()), Change::None);
    }
}
