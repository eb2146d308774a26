//! The lock that serializes one server's quota charges, so two admissions never both spend the
//! last unit.

use std::sync::{Mutex, MutexGuard};

/// Serializes quota charges of one server.
#[derive(Debug, Default)]
pub struct QuotaAdmission {
    charging: Mutex<()>,
}

impl QuotaAdmission {
    /// Holds the charging lock until the guard drops.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.charging.lock().unwrap_or_else(|p| p.into_inner())
    }
}
