//! Resource request handlers: thin HTTP adapters over the storage layer (`storage`).

pub mod body;
pub mod computed;
pub mod delete;
pub mod discovery;
pub mod eviction;
pub mod filter;
pub mod openapi;
pub mod other;
pub mod patch;
pub mod read;
pub mod review;
pub mod route;
pub mod scale;
pub mod subresource;
pub mod tables;
pub mod watch;
pub mod write;

pub use crate::storage::{needs_conversion, render, to_served, to_stored};
pub use filter::Filter;
pub use route::resource;
pub use tables::{as_table, table_convertor};
