//! An embedded Kubernetes-compatible API server.
//!
//! It plays the super cluster and tenant control planes in local mode and tests. Its standard is
//! the real kube-apiserver as clients observe it: status codes, `Status` bodies, resourceVersion
//! and watch semantics, discovery. Start one with [`ServerBuilder`].

pub mod aggregator;
pub mod api;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod controllers;
pub mod cron;
pub mod error;
pub mod field_manager;
pub mod fieldvalidation;
pub mod first_byte;
pub mod handlers;
pub mod http;
pub mod ipalloc;
pub mod kinds;
pub mod kubelet;
pub mod limitranger;
pub mod limits;
pub mod meta;
pub mod metrics;
pub mod openapi_doc;
pub mod patch_formats;
pub mod pki;
pub mod protobuf;
pub mod quota;
pub mod registry;
pub mod resolve;
pub mod router;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod storage;
pub mod store;
pub mod table;
pub mod tokens;
pub mod version;
pub mod webhook;

pub use server::{ServerBuilder, ServerHandle, StartError};
