//! apiserver: not built yet (issue 3).
pub mod schema;
pub mod patch;
pub mod fieldvalidation;
