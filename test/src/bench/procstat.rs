//! CPU time and memory of processes and threads, from `/proc`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on every Linux ABI we run on).
const TICKS_PER_SEC: f64 = 100.0;

/// user + system CPU seconds in a `stat` file.
fn stat_cpu(path: &Path) -> anyhow::Result<f64> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_stat_cpu(&text).with_context(|| format!("parsing {}", path.display()))
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in seconds. The command name
/// (field 2) may contain spaces and parentheses, so fields are counted after the last `)`.
fn parse_stat_cpu(text: &str) -> anyhow::Result<f64> {
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("no command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is at index n - 3.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) as f64 / TICKS_PER_SEC)
}

/// CPU seconds used so far by process `pid` (all its threads, live and exited).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    stat_cpu(Path::new(&format!("/proc/{pid}/stat")))
}

/// Resident memory of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Current resident set (`VmRSS`), bytes.
    pub rss: u64,
    /// Peak resident set (`VmHWM`), bytes.
    pub peak: u64,
}

/// Resident memory of process `pid`.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    Ok(parse_status(&text))
}

fn parse_status(text: &str) -> Memory {
    let kb = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |v| v * 1024)
    };
    Memory {
        rss: kb("VmRSS:"),
        peak: kb("VmHWM:"),
    }
}

/// CPU seconds of this process's live threads, summed by thread name (tokio names every thread
/// of a runtime after it; the main thread is named after the program).
pub fn threads_cpu() -> anyhow::Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task").context("reading /proc/self/task")? {
        let dir = entry?.path();
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue; // the thread exited meanwhile
        };
        let Ok(cpu) = stat_cpu(&dir.join("stat")) else {
            continue;
        };
        *out.entry(name.trim().to_string()).or_insert(0.0) += cpu;
    }
    Ok(out)
}

/// CPU seconds per component between two [`threads_cpu`] samples, with whatever is not one of
/// `groups` (main thread, exited threads) folded into `other` using the process total.
pub fn cpu_by_group(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    process_delta: f64,
    groups: &[&str],
) -> Vec<(String, f64)> {
    let delta = |g: &str| -> f64 {
        let a: f64 = after
            .iter()
            .filter(|(k, _)| k.starts_with(g))
            .map(|(_, v)| v)
            .sum();
        let b: f64 = before
            .iter()
            .filter(|(k, _)| k.starts_with(g))
            .map(|(_, v)| v)
            .sum();
        (a - b).max(0.0)
    };
    let mut out: Vec<(String, f64)> = groups.iter().map(|g| (g.to_string(), delta(g))).collect();
    let known: f64 = out.iter().map(|(_, v)| v).sum();
    out.push(("other".into(), (process_delta - known).max(0.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let line = "4242 (tokio (rt) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 1 2 3";
        assert!((parse_stat_cpu(line).unwrap() - 3.0).abs() < 1e-9);
        assert!(parse_stat_cpu("garbage").is_err());
    }

    #[test]
    fn status_memory_in_bytes() {
        let m = parse_status("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n");
        assert_eq!(m.rss, 1024 * 1024);
        assert_eq!(m.peak, 2048 * 1024);
    }

    #[test]
    fn groups_and_other() {
        let before = BTreeMap::from([("rt-super".to_string(), 1.0), ("bench".to_string(), 0.5)]);
        let after = BTreeMap::from([("rt-super".to_string(), 3.0), ("bench".to_string(), 0.7)]);
        let g = cpu_by_group(&before, &after, 2.5, &["rt-super", "rt-nodes"]);
        assert_eq!(g[0], ("rt-super".to_string(), 2.0));
        assert_eq!(g[1], ("rt-nodes".to_string(), 0.0));
        assert!((g[2].1 - 0.5).abs() < 1e-9);
    }
}
