//! The storage layer below the HTTP handlers (upstream's generic registry `Store`): it owns
//! every create, update and delete — decoding, defaults, validation, admission,
//! `managedFields`, the commit to the [`store`](crate::store), durability and the after-write
//! hooks that wake watchers and control loops. HTTP handlers adapt requests to it; the
//! server's own writers (bootstrap, control loops) call it directly.

mod actor;
pub(crate) mod commit;
mod convert;
mod create;
mod delete;
pub(crate) mod lookup;
mod managed_fields;
mod update;

pub use actor::Actor;
pub use commit::{after_write, durable, finish, load_derived, refresh_crds, store_error, target};
pub use convert::{needs_conversion, render, to_served, to_stored};
pub use create::{
    Checked, admit_new, admit_new_with_webhooks, check_namespace, commit_new, create, prepare_new,
};
pub use delete::{DeleteOptions, Outcome, delete_object};
pub use lookup::{def, get, list_values};
pub use managed_fields::{record_update, reset_fields, with_type};
pub use update::{UpdateMode, prepare_update, ready_to_remove, update};
