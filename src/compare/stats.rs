//! The statistics of a comparison.
//!
//! A sample is the unit: a sample run N times under a variant scores the fraction of its runs
//! that pass, so a sample run twice does not count twice. A variant's compliance is the mean
//! of its samples' scores, with a 95% Wilson interval over the samples. Two variants are
//! compared sample by sample (each sample against itself): the **sign test** over the samples
//! whose scores differ, two-sided and exact (with one run per sample it is the exact `McNemar`
//! test), says whether the difference is more than chance.

// Counts of words, runs and samples are far below 2^52: as f64 they are exact.
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeMap;

/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// How one sample did under one variant: of its runs, how many passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Score {
    pub passed: usize,
    pub runs: usize,
}

impl Score {
    /// The fraction of its runs that passed; `None` without runs.
    #[must_use]
    pub fn rate(self) -> Option<f64> {
        (self.runs > 0).then(|| self.passed as f64 / self.runs as f64)
    }

    /// Whether the sample passes under the variant: more than half of its runs pass.
    #[must_use]
    pub fn passes(self) -> bool {
        2 * self.passed > self.runs
    }
}

/// The mean of the samples' rates and its 95% Wilson interval over the samples; `None`
/// without samples.
#[must_use]
pub fn compliance(scores: &BTreeMap<String, Score>) -> Option<(f64, (f64, f64))> {
    let rates: Vec<f64> = scores.values().filter_map(|s| s.rate()).collect();
    if rates.is_empty() {
        return None;
    }
    let n = rates.len() as f64;
    let total: f64 = rates.iter().sum();
    let mean = total / n;
    wilson(total, n).map(|interval| (mean, interval))
}

/// The 95% Wilson score interval of `successes` out of `n` (successes may be fractional: a sum
/// of per-sample rates); `None` when `n` is not positive.
#[must_use]
pub fn wilson(successes: f64, n: f64) -> Option<(f64, f64)> {
    if n.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let p = (successes / n).clamp(0.0, 1.0);
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// Two variants compared over the samples both have.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Paired {
    /// Samples scoring higher under the second variant, by id.
    pub better: Vec<String>,
    /// Samples scoring lower under the second variant.
    pub worse: Vec<String>,
    /// Samples scoring the same under both.
    pub ties: usize,
    /// Samples that fail under the first variant and pass under the second ([`Score::passes`]).
    pub newly_pass: Vec<String>,
    /// Samples that pass under the first variant and fail under the second.
    pub newly_fail: Vec<String>,
    /// The two-sided exact sign test's p-value over `better` and `worse` (1 when none differ).
    pub p_value: f64,
}

impl Paired {
    /// Whether the difference is more than chance at the 5% level.
    #[must_use]
    pub fn significant(&self) -> bool {
        self.p_value < 0.05
    }

    /// Whether the second variant is significantly worse.
    #[must_use]
    pub fn regressed(&self) -> bool {
        self.significant() && self.worse.len() > self.better.len()
    }
}

/// Compares variant `b` against variant `a`, sample by sample, over the samples both have.
#[must_use]
pub fn paired(a: &BTreeMap<String, Score>, b: &BTreeMap<String, Score>) -> Paired {
    let mut out = Paired::default();
    for (id, sa) in a {
        let Some(sb) = b.get(id) else {
            continue;
        };
        let (Some(ra), Some(rb)) = (sa.rate(), sb.rate()) else {
            continue;
        };
        if rb > ra {
            out.better.push(id.clone());
        } else if rb < ra {
            out.worse.push(id.clone());
        } else {
            out.ties += 1;
        }
        match (sa.passes(), sb.passes()) {
            (false, true) => out.newly_pass.push(id.clone()),
            (true, false) => out.newly_fail.push(id.clone()),
            _ => {}
        }
    }
    out.p_value = sign_test(out.better.len(), out.worse.len());
    out
}

/// The two-sided exact sign test: the probability, with no real difference, of a split at
/// least as uneven as `up` against `down`.
#[must_use]
pub fn sign_test(up: usize, down: usize) -> f64 {
    let n = up + down;
    if n == 0 {
        return 1.0;
    }
    let tail = binomial_half_cdf(n, up.min(down));
    (2.0 * tail).min(1.0)
}

/// P(X ≤ k) for X ~ Binomial(n, 1/2), summed in log space so that large `n` stays exact
/// enough.
fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_choose = 0.0_f64; // ln C(n, 0)
    let mut total = (-ln_half_n).exp();
    for i in 1..=k {
        ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        total += (ln_choose - ln_half_n).exp();
    }
    total.min(1.0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    fn scores(entries: &[(&str, usize, usize)]) -> BTreeMap<String, Score> {
        entries
            .iter()
            .map(|&(id, passed, runs)| ((*id).to_owned(), Score { passed, runs }))
            .collect()
    }

    #[test]
    fn wilson_matches_hand_computed_intervals() {
        // 8 of 10: p = 0.8, z² = 3.8415; center 0.7168, half-width 0.2266.
        let (lo, hi) = wilson(8.0, 10.0).expect("an interval");
        assert!(close(lo, 0.4902) && close(hi, 0.9433), "{lo} {hi}");
        // 0 of 20: the interval still has width (unlike p ± z·se, which is 0 ± 0).
        let (lo, hi) = wilson(0.0, 20.0).expect("an interval");
        assert!(close(lo, 0.0) && close(hi, 0.1611), "{lo} {hi}");
        // 20 of 20, mirrored.
        let (lo, hi) = wilson(20.0, 20.0).expect("an interval");
        assert!(close(lo, 0.8389) && close(hi, 1.0), "{lo} {hi}");
        assert_eq!(wilson(1.0, 0.0), None);
    }

    #[test]
    fn a_sample_scores_the_fraction_of_its_runs_and_counts_once() {
        // q1 passed 2 of 4 runs, q2 1 of 1, q3 0 of 3: mean of 0.5, 1 and 0.
        let s = scores(&[("q1", 2, 4), ("q2", 1, 1), ("q3", 0, 3)]);
        let (mean, (lo, hi)) = compliance(&s).expect("compliance");
        assert!(close(mean, 0.5));
        // Wilson of 1.5 out of 3.
        let (wlo, whi) = wilson(1.5, 3.0).expect("an interval");
        assert!(close(lo, wlo) && close(hi, whi));
        assert!(!s["q1"].passes(), "half is not more than half");
        assert!(s["q2"].passes());
        assert_eq!(compliance(&BTreeMap::new()), None);
    }

    #[test]
    fn the_sign_test_matches_hand_computed_p_values() {
        // 9 up, 1 down: 2 × (1 + 10) / 1024.
        assert!(close(sign_test(9, 1), 22.0 / 1024.0));
        // 6 up, 4 down: 2 × (1 + 10 + 45 + 120 + 210) / 1024.
        assert!(close(sign_test(6, 4), 772.0 / 1024.0));
        // 5 against 0: 2 / 32.
        assert!(close(sign_test(0, 5), 2.0 / 32.0));
        assert!((sign_test(0, 0) - 1.0).abs() < f64::EPSILON);
        assert!((sign_test(3, 3) - 1.0).abs() < f64::EPSILON);
        // Large n stays finite and sensible: 600 against 400 is far from chance.
        let p = sign_test(600, 400);
        assert!(p > 0.0 && p < 1e-9, "{p}");
    }

    #[test]
    fn a_paired_comparison_names_the_flips_and_knows_a_regression() {
        // Ten samples run once each: nine got worse, one got better.
        let mut a = BTreeMap::new();
        let mut b = BTreeMap::new();
        for i in 0..10 {
            let id = format!("q{i}");
            let worse = i < 9;
            a.insert(
                id.clone(),
                Score {
                    passed: usize::from(worse),
                    runs: 1,
                },
            );
            b.insert(
                id,
                Score {
                    passed: usize::from(!worse),
                    runs: 1,
                },
            );
        }
        // A sample only one variant has is not compared.
        a.insert("only-a".to_owned(), Score { passed: 1, runs: 1 });
        let p = paired(&a, &b);
        assert_eq!(p.worse.len(), 9);
        assert_eq!(p.better, ["q9"]);
        assert_eq!(p.newly_fail.len(), 9);
        assert_eq!(p.newly_pass, ["q9"]);
        assert_eq!(p.ties, 0);
        assert!(close(p.p_value, 22.0 / 1024.0));
        assert!(p.significant() && p.regressed());
        // The other way round it is an improvement, not a regression.
        let back = paired(&b, &a);
        assert!(back.significant() && !back.regressed());
        // Scores that move without crossing one half are not flips.
        let a = scores(&[("q1", 3, 4)]);
        let b = scores(&[("q1", 4, 4)]);
        let p = paired(&a, &b);
        assert_eq!(p.better, ["q1"]);
        assert!(p.newly_pass.is_empty() && p.newly_fail.is_empty());
        assert!(!p.significant());
    }

    proptest! {
        #[test]
        fn p_values_are_probabilities_and_symmetric(up in 0usize..300, down in 0usize..300) {
            let p = sign_test(up, down);
            prop_assert!((0.0..=1.0).contains(&p));
            prop_assert!((p - sign_test(down, up)).abs() < 1e-12);
            // A more uneven split is never less surprising.
            if up > down {
                prop_assert!(sign_test(up + 1, down) <= p + 1e-12);
            }
        }

        #[test]
        fn wilson_holds_the_observed_rate(successes in 0u32..200, extra in 0u32..200) {
            let n = f64::from(successes + extra);
            if let Some((lo, hi)) = wilson(f64::from(successes), n) {
                let p = f64::from(successes) / n;
                prop_assert!(0.0 <= lo && lo <= p + 1e-12 && p <= hi + 1e-12 && hi <= 1.0);
            }
        }
    }
}
