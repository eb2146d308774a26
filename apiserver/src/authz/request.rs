//! The per-request authorization step (after authentication, before routing): impersonation,
//! then RBAC on the request's attributes, as upstream's filter chain orders them.

use std::collections::HashMap;

use http::{HeaderMap, Method};

use super::attributes::Attributes;
use super::authorizer::{Authorizer, MASTERS};
use super::impersonation::impersonate;
use crate::auth::User;
use crate::error::ApiError;
use crate::store::Store;

/// The user to serve the request as, or the 403 (or impersonation error) to answer.
pub fn authorize_request(
    az: &Authorizer,
    store: &Store,
    user: User,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<User, ApiError> {
    let user = impersonate(az, store, &user, headers)?.unwrap_or(user);
    // The privileged group needs no attributes (the common case of admin clients).
    if user.groups.iter().any(|g| g == MASTERS) {
        return Ok(user);
    }
    let attrs = Attributes::from_request(user, method, path, query);
    let d = az.authorize(store, &attrs);
    if d.allowed {
        Ok(attrs.user)
    } else {
        tracing::debug!(user = %attrs.user.name, verb = %attrs.verb, path, reason = %d.reason, "forbidden");
        Err(super::forbidden::error(&attrs, &d.reason))
    }
}

/// The identity of a request without credentials (upstream's anonymous authenticator).
pub fn anonymous() -> User {
    User {
        name: "system:anonymous".into(),
        groups: vec!["system:unauthenticated".into()],
        ..Default::default()
    }
}
