//! Latency summaries.

use serde::Serialize;

/// Summary of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Mean.
    pub avg_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// Nearest-rank percentile `p` (0..=100) of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises latencies in milliseconds.
pub fn summarize(mut ms: Vec<f64>) -> Summary {
    if ms.is_empty() {
        return Summary::default();
    }
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    Summary {
        n,
        avg_ms: ms.iter().sum::<f64>() / n as f64,
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        max_ms: ms[n - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s = summarize((1..=100).map(f64::from).rev().collect());
        assert_eq!(s.n, 100);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.max_ms, 100.0);
        assert!((s.avg_ms - 50.5).abs() < 1e-9);
        assert_eq!(summarize(vec![7.0]).p99_ms, 7.0);
        assert_eq!(summarize(Vec::new()), Summary::default());
    }
}
