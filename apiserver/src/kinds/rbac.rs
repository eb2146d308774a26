//! RBAC kinds (Role, ClusterRole, RoleBinding, ClusterRoleBinding): names are path segments
//! (`system:admin`), and writes pass upstream's escalation prevention (`authz::escalation`).

use serde_json::Value;

use crate::authz::escalation::{check_binding, check_role};
use crate::error::ApiResult;
use crate::kinds::names::NameRule;
use crate::registry::def::{Ctx, Strategy};

/// The strategy of the four RBAC kinds.
#[derive(Debug)]
pub struct Rbac;

fn check(ctx: &Ctx<'_>, old: Option<&Value>, new: &Value) -> ApiResult<()> {
    let cluster = !ctx.def.namespaced;
    if ctx.def.kind.ends_with("Binding") {
        check_binding(ctx.store, ctx.user, cluster, old, new)
    } else {
        check_role(ctx.store, ctx.user, cluster, old, new)
    }
}

impl Strategy for Rbac {
    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }
    fn admit_create(&self, ctx: &Ctx<'_>, obj: &mut Value) -> ApiResult<()> {
        check(ctx, None, obj)
    }
    fn admit_update(&self, ctx: &Ctx<'_>, old: &Value, new: &mut Value) -> ApiResult<()> {
        check(ctx, Some(old), new)
    }
}
