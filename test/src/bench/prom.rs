//! Just enough of the Prometheus text format to read the syncer's `/metrics`.

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (with `_sum`/`_count`/`_bucket` suffixes as written).
    pub name: String,
    /// Label pairs.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every sample of a scrape; comments and malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (head, value) = line.rsplit_once(' ')?;
    let value = value.parse::<f64>().ok()?;
    let (name, labels) = match head.split_once('{') {
        Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}')?)?),
        None => (head, Vec::new()),
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `a="x",b="y"` with `\"`, `\\` and `\n` escapes in values.
fn parse_labels(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        out.push((key.trim_start_matches(',').trim().to_string(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some(out)
}

/// Sum of the samples named `name` whose labels include every pair of `with`.
pub fn sum(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && with.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

/// Number of samples named `name` with value `value`.
pub fn count_equal(samples: &[Sample], name: &str, value: f64) -> usize {
    samples
        .iter()
        .filter(|s| s.name == name && s.value == value)
        .count()
}

/// Mean of a histogram family over the observations made between two scrapes, in seconds.
pub fn hist_mean_between(
    before: &[Sample],
    after: &[Sample],
    name: &str,
    with: &[(&str, &str)],
) -> Option<f64> {
    let count = format!("{name}_count");
    let total = format!("{name}_sum");
    let n = sum(after, &count, with) - sum(before, &count, with);
    (n > 0.0).then(|| (sum(after, &total, with) - sum(before, &total, with)) / n)
}

/// Quantile `q` of a histogram family over the observations made between two scrapes, in
/// seconds, over the series `keep` selects, interpolated within its bucket as Prometheus'
/// `histogram_quantile` does (an answer in the `+Inf` bucket is the largest finite bound).
pub fn hist_quantile_between(
    before: &[Sample],
    after: &[Sample],
    name: &str,
    keep: impl Fn(&Sample) -> bool,
    q: f64,
) -> Option<f64> {
    let bucket = format!("{name}_bucket");
    let mut counts: Vec<(f64, f64)> = Vec::new();
    for (scrape, sign) in [(after, 1.0), (before, -1.0)] {
        for s in scrape.iter().filter(|s| s.name == bucket && keep(s)) {
            let Some(le) = s.label("le").and_then(|l| l.parse::<f64>().ok()) else {
                continue;
            };
            match counts.iter_mut().find(|(b, _)| *b == le) {
                Some((_, c)) => *c += sign * s.value,
                None => counts.push((le, sign * s.value)),
            }
        }
    }
    counts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = counts.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, cum) in &counts {
        if cum >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let share = if cum > below {
                (rank - below) / (cum - below)
            } else {
                1.0
            };
            return Some(lower + (le - lower) * share);
        }
        (lower, below) = (le, cum);
    }
    Some(lower)
}

/// p50 and p99 (seconds) of the syncer's pod write latency in direction `dir` between two
/// scrapes, over the tenants `tenant` accepts (0 when nothing was observed).
pub fn pod_write_latency(
    before: &[Sample],
    after: &[Sample],
    dir: &str,
    tenant: impl Fn(&str) -> bool,
) -> (f64, f64) {
    let keep = |s: &Sample| {
        s.label("direction") == Some(dir)
            && s.label("resource") == Some("pods")
            && s.label("tenant").is_some_and(&tenant)
    };
    let q = |q| {
        hist_quantile_between(before, after, "syncer_write_latency_seconds", keep, q).unwrap_or(0.0)
    };
    (q(0.5), q(0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"# HELP syncer_tenant_healthy 1 when healthy
# TYPE syncer_tenant_healthy gauge
syncer_tenant_healthy{tenant="a-1"} 1
syncer_tenant_healthy{tenant="b,\"q\""} 0
syncer_patrol_duration_seconds_sum 0.5
syncer_patrol_duration_seconds_count 4
syncer_operations_total{direction="down",resource="pods",result="created",tenant="a"} 7
syncer_operations_total{direction="up",resource="pods",result="updated",tenant="a"} 3
"#;

    #[test]
    fn parses_labels_values_and_escapes() {
        let s = parse(SCRAPE);
        assert_eq!(s.len(), 6);
        assert_eq!(s[1].label("tenant"), Some("b,\"q\""));
        assert_eq!(count_equal(&s, "syncer_tenant_healthy", 1.0), 1);
        assert_eq!(
            sum(&s, "syncer_operations_total", &[("direction", "down")]),
            7.0
        );
        assert_eq!(sum(&s, "syncer_operations_total", &[]), 10.0);
        let later = parse(
            &SCRAPE
                .replace("_sum 0.5", "_sum 1.5")
                .replace("_count 4", "_count 6"),
        );
        assert_eq!(
            hist_mean_between(&s, &later, "syncer_patrol_duration_seconds", &[]),
            Some(0.5)
        );
        assert_eq!(
            hist_mean_between(&s, &s, "syncer_patrol_duration_seconds", &[]),
            None
        );
    }

    #[test]
    fn quantiles_interpolate_within_buckets_of_the_difference() {
        let scrape = |a: f64, b: f64, c: f64| {
            parse(&format!(
                "h_bucket{{t=\"x\",le=\"0.1\"}} {a}\nh_bucket{{t=\"x\",le=\"1\"}} {b}\nh_bucket{{t=\"x\",le=\"+Inf\"}} {c}\nh_bucket{{t=\"y\",le=\"0.1\"}} 50\nh_bucket{{t=\"y\",le=\"1\"}} 50\nh_bucket{{t=\"y\",le=\"+Inf\"}} 50\n"
            ))
        };
        let (before, after) = (scrape(10.0, 10.0, 10.0), scrape(20.0, 30.0, 30.0));
        let x = |s: &Sample| s.label("t") == Some("x");
        // 20 new observations: 10 below 0.1, 10 in (0.1, 1].
        let p50 = hist_quantile_between(&before, &after, "h", x, 0.5).expect("p50");
        assert!((p50 - 0.1).abs() < 1e-9, "{p50}");
        let p75 = hist_quantile_between(&before, &after, "h", x, 0.75).expect("p75");
        assert!((p75 - 0.55).abs() < 1e-9, "{p75}");
        let late = scrape(20.0, 30.0, 40.0);
        assert_eq!(
            hist_quantile_between(&before, &late, "h", x, 0.99),
            Some(1.0)
        );
        assert_eq!(hist_quantile_between(&before, &before, "h", x, 0.5), None);
    }
}
