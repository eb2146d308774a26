//! The printed table: figures next to their targets (never enforced).

use std::fmt::Write as _;

/// A target: the bound and whether lower is better.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The figure must be at most this.
    AtMost(f64),
    /// The figure must be at least this.
    AtLeast(f64),
}

impl Target {
    fn met(self, v: f64) -> bool {
        match self {
            Target::AtMost(t) => v <= t,
            Target::AtLeast(t) => v >= t,
        }
    }

    fn text(self, unit: &str) -> String {
        match self {
            Target::AtMost(t) => format!("<= {}{unit}", trim(t)),
            Target::AtLeast(t) => format!(">= {}{unit}", trim(t)),
        }
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Rows of a result table.
#[derive(Default)]
pub struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    /// A section heading.
    pub fn section(&mut self, title: &str) {
        self.rows.push([
            format!("**{title}**"),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }

    /// A figure without a target.
    pub fn info(&mut self, metric: &str, value: impl std::fmt::Display) {
        self.rows.push([
            metric.into(),
            value.to_string(),
            String::new(),
            String::new(),
        ]);
    }

    /// A figure with its target (`unit` printed after the bound).
    pub fn target(
        &mut self,
        metric: &str,
        value: f64,
        decimals: usize,
        target: Target,
        unit: &str,
    ) {
        let met = if target.met(value) { "yes" } else { "NO" };
        self.rows.push([
            metric.into(),
            format!("{value:.decimals$}"),
            target.text(unit),
            met.into(),
        ]);
    }

    /// The table in Markdown.
    pub fn render(&self) -> String {
        let header = ["metric", "value", "target", "met"];
        let mut widths = header.map(str::len);
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let mut out = String::new();
        let line = |cells: [&str; 4], out: &mut String| {
            let _ = writeln!(
                out,
                "| {:<w0$} | {:>w1$} | {:<w2$} | {:<w3$} |",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
        };
        line(header, &mut out);
        let dashes = widths.map(|w| "-".repeat(w));
        line([&dashes[0], &dashes[1], &dashes[2], &dashes[3]], &mut out);
        for r in &self.rows {
            line([&r[0], &r[1], &r[2], &r[3]], &mut out);
        }
        out
    }
}

/// What every report says about the machine.
pub fn machine_note() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!(
        "note: {cores} cores shared by everything — the super API server, nodesim, every tenant API \
         server and the load generator run in this process (one runtime each), the syncer in its own; \
         wall-clock figures are bounded by that shared CPU (1-minute load average at the end: {load})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_targets() {
        let mut t = Table::default();
        t.section("sync");
        t.target("overhead", 1.2, 2, Target::AtMost(1.1), "x");
        t.target("pods/s", 2500.0, 0, Target::AtLeast(2000.0), "");
        t.info("pods", 10);
        let s = t.render();
        assert!(s.contains("| overhead"));
        assert!(s.contains("<= 1.1x"));
        assert!(s.contains("NO"));
        assert!(s.contains(">= 2000"));
        assert!(s.contains("yes"));
        assert_eq!(s.lines().count(), 6);
    }
}
