//! Which control loops are running: each loop registers when it starts and is marked stopped
//! when its task ends (a panic included). `componentstatuses` reports the in-process
//! controller manager's health from it. (No crate imports: `api.rs` holds it.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The loops' states by name (`true`: running).
#[derive(Debug, Default, Clone)]
pub struct Liveness {
    loops: Arc<Mutex<BTreeMap<&'static str, bool>>>,
}

/// Marks its loop stopped when dropped (the loop's task ended, returned or panicked).
#[derive(Debug)]
pub struct Running {
    name: &'static str,
    loops: Arc<Mutex<BTreeMap<&'static str, bool>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut g = self.loops.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(self.name, false);
    }
}

impl Liveness {
    /// Registers loop `name` as running until the returned guard is dropped.
    pub fn started(&self, name: &'static str) -> Running {
        let mut g = self.loops.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(name, true);
        Running {
            name,
            loops: self.loops.clone(),
        }
    }

    /// `(running, stopped)` loop names.
    pub fn snapshot(&self) -> (Vec<&'static str>, Vec<&'static str>) {
        let g = self.loops.lock().unwrap_or_else(|p| p.into_inner());
        let running = g.iter().filter(|(_, r)| **r).map(|(n, _)| *n).collect();
        let stopped = g.iter().filter(|(_, r)| !**r).map(|(n, _)| *n).collect();
        (running, stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_marks_its_loop_stopped() {
        let l = Liveness::default();
        let a = l.started("a");
        let _b = l.started("b");
        assert_eq!(l.snapshot(), (vec!["a", "b"], vec![]));
        drop(a);
        assert_eq!(l.snapshot(), (vec!["b"], vec!["a"]));
    }
}
