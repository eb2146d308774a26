//! Service accounts: copied down (every super namespace's own `default` is adopted), plus the
//! tenant tokens of their pods ([`token`]): a super secret per (namespace, service account)
//! holds a token from the tenant's TokenRequest API, replaced before it expires.

pub mod entry;
pub mod token;

use crate::queue::Resource;

/// `core/v1` ServiceAccount.
pub const RESOURCE: Resource = Resource::namespaced("serviceaccounts");
