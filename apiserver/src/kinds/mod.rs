//! Per-kind behaviour: one [`Strategy`](crate::registry::def::Strategy) per kind (defaults,
//! validation, admission, hooks), as upstream's registry strategies and admission plugins do
//! it. Strategies are registered on their resource definitions in `registry/builtin.rs`.

pub mod admissionregistration;
pub mod apiregistration;
pub mod certificates;
pub mod componentstatus;
pub mod crd;
pub mod custom;
pub mod endpoints;
pub mod event;
pub mod flowcontrol;
pub mod flowcontrol_bootstrap;
pub mod flowcontrol_print;
pub mod hpa;
pub mod hpa_metrics;
pub mod misc;
pub mod names;
pub mod namespace;
pub mod pdb;
pub mod pod;
pub mod pod_admission;
pub mod pod_ephemeral;
pub mod quota;
pub mod rbac;
pub mod service;
pub mod workload;

pub use crate::registry::def::{Ctx, Origin};
