//! The state of client-go's event correlator (kept on the server's `Api`): which events were
//! seen, which are similar, and each object's rate-limit tokens. Pure: no I/O.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(600);
const MAX_SIMILAR: usize = 10;
const BURST: f64 = 25.0;
const REFILL: Duration = Duration::from_secs(300);
/// Remembered keys before the memory is cleared (bounds it like upstream's LRU caches).
const MAX_KEYS: usize = 4096;

/// What to write for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A new event with this message.
    Create {
        /// Final message (maybe prefixed as combined).
        message: String,
        /// Key under which later repeats are counted.
        key: String,
    },
    /// Bump the earlier event `name` to `count`.
    Update {
        /// Earlier event's name.
        name: String,
        /// New count.
        count: i64,
        /// Message (the combined event's changes).
        message: String,
    },
    /// Rate-limited: nothing is written.
    Drop,
}

#[derive(Default)]
struct State {
    similar: HashMap<String, (Instant, HashSet<String>)>,
    seen: HashMap<String, (Instant, String, i64)>,
    tokens: HashMap<String, (Instant, f64)>,
}

/// The correlator state of one server.
#[derive(Default)]
pub struct Correlator {
    state: Mutex<State>,
}

impl std::fmt::Debug for Correlator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Correlator")
    }
}

impl Correlator {
    /// Decides what one event becomes. `object` identifies the involved object and source,
    /// `reason` includes the type.
    pub fn observe(&self, object: &str, reason: &str, message: &str, now: Instant) -> Decision {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.seen.len() > MAX_KEYS || st.similar.len() > MAX_KEYS || st.tokens.len() > MAX_KEYS {
            *st = State::default();
        }
        let (at, tokens) = st.tokens.get(object).copied().unwrap_or((now, BURST));
        let refilled =
            (tokens + now.duration_since(at).as_secs_f64() / REFILL.as_secs_f64()).min(BURST);
        if refilled < 1.0 {
            st.tokens.insert(object.to_string(), (now, refilled));
            return Decision::Drop;
        }
        st.tokens.insert(object.to_string(), (now, refilled - 1.0));

        let aggregate = format!("{object}\u{0}{reason}");
        let entry = st
            .similar
            .entry(aggregate.clone())
            .or_insert_with(|| (now, HashSet::new()));
        if now.duration_since(entry.0) > WINDOW {
            *entry = (now, HashSet::new());
        }
        entry.0 = now;
        entry.1.insert(message.to_string());
        let (key, message) = if entry.1.len() > MAX_SIMILAR {
            (
                aggregate,
                format!("(combined from similar events): {message}"),
            )
        } else {
            (format!("{aggregate}\u{0}{message}"), message.to_string())
        };
        match st.seen.get(&key) {
            Some((last, name, count)) if now.duration_since(*last) <= WINDOW => {
                let (name, count) = (name.clone(), count + 1);
                st.seen.insert(key, (now, name.clone(), count));
                Decision::Update {
                    name,
                    count,
                    message,
                }
            }
            _ => Decision::Create { message, key },
        }
    }

    /// Remembers that the event first decided under `key` was created as `name`.
    pub fn created(&self, key: String, name: String, now: Instant) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.seen.insert(key, (now, name, 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_similar_ones_combined_and_bursts_limited() {
        let c = Correlator::default();
        let t0 = Instant::now();
        let first = c.observe("o", "Normal\u{0}R", "m", t0);
        let Decision::Create { key, .. } = first else {
            panic!("{first:?}")
        };
        c.created(key, "o.1".into(), t0);
        assert_eq!(
            c.observe("o", "Normal\u{0}R", "m", t0),
            Decision::Update {
                name: "o.1".into(),
                count: 2,
                message: "m".into()
            }
        );
        for i in 1..10 {
            let d = c.observe("o", "Normal\u{0}R", &format!("m{i}"), t0);
            assert!(matches!(d, Decision::Create { .. }), "{i}: {d:?}");
        }
        let combined = c.observe("o", "Normal\u{0}R", "m10", t0);
        assert!(
            matches!(&combined, Decision::Create { message, .. } if message == "(combined from similar events): m10"),
            "{combined:?}"
        );
        for _ in 0..20 {
            c.observe("p", "Normal\u{0}S", "x", t0);
        }
        let d: Vec<Decision> = (0..10)
            .map(|_| c.observe("p", "Normal\u{0}S", "x", t0))
            .collect();
        assert!(d.iter().filter(|x| **x == Decision::Drop).count() >= 5);
        assert!(!matches!(
            c.observe("p", "Normal\u{0}S", "x", t0 + REFILL * 2),
            Decision::Drop
        ));
    }
}
