//! Percentiles of measured durations.

use crate::json::Json;

/// Quantiles kept for drawing a CDF: 0, 0.5 %, 1 %, ..., 100 %.
pub const CDF_POINTS: usize = 201;

/// A sorted sample of durations in nanoseconds.
#[derive(Clone, Debug, Default)]
pub struct Distribution {
    sorted: Vec<u64>,
}

impl Distribution {
    /// Sorts the sample.
    pub fn new(mut sample: Vec<u64>) -> Distribution {
        sample.sort_unstable();
        Distribution { sorted: sample }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The `q`-quantile (0.0..=1.0) by nearest rank: the smallest value with
    /// at least `q` of the sample at or below it. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
        Some(self.sorted[rank.clamp(1, n) - 1])
    }

    /// The `p`-th percentile (0..=100) in milliseconds.
    pub fn ms(&self, p: f64) -> Option<f64> {
        self.quantile(p / 100.0).map(ns_to_ms)
    }

    /// The largest value in milliseconds.
    pub fn max_ms(&self) -> Option<f64> {
        self.sorted.last().copied().map(ns_to_ms)
    }

    /// The mean in milliseconds.
    pub fn mean_ms(&self) -> Option<f64> {
        if self.sorted.is_empty() {
            return None;
        }
        let sum: u128 = self.sorted.iter().map(|&v| u128::from(v)).sum();
        Some(sum as f64 / self.sorted.len() as f64 / 1e6)
    }

    /// Summary figures and [`CDF_POINTS`] evenly spaced quantiles, all in ms.
    pub fn to_json(&self) -> Json {
        let cdf: Vec<Json> = (0..CDF_POINTS)
            .map(|i| {
                self.quantile(i as f64 / (CDF_POINTS - 1) as f64)
                    .map(ns_to_ms)
            })
            .map(Json::from)
            .collect();
        Json::obj()
            .with("count", self.len())
            .with("mean_ms", self.mean_ms())
            .with("p50_ms", self.ms(50.0))
            .with("p90_ms", self.ms(90.0))
            .with("p99_ms", self.ms(99.0))
            .with("p99_9_ms", self.ms(99.9))
            .with("max_ms", self.max_ms())
            .with(
                "cdf_note",
                "cdf_ms[i] is the (i / 200)-quantile by nearest rank, i = 0..=200",
            )
            .with("cdf_ms", Json::Arr(cdf))
    }
}

/// Nanoseconds as milliseconds.
pub fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let d = Distribution::new((1..=100).rev().collect());
        assert_eq!(d.quantile(0.0), Some(1));
        assert_eq!(d.quantile(0.5), Some(50));
        assert_eq!(d.quantile(0.99), Some(99));
        assert_eq!(d.quantile(1.0), Some(100));
        assert_eq!(Distribution::new(Vec::new()).quantile(0.5), None);
    }
}
