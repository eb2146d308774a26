//! Authorization as upstream's `--authorization-mode=RBAC` (plus `system:masters`, always
//! allowed): request attributes, rule matching, the subject-indexed policy, impersonation,
//! forbidden messages, access reviews, escalation prevention and the bootstrap policy.

pub mod attributes;
pub mod authorizer;
pub mod bootstrap_policy;
pub mod covers;
pub mod escalation;
pub mod forbidden;
pub mod impersonation;
pub mod index;
pub mod request;
pub mod review;
pub mod rule;
