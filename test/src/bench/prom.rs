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
}
