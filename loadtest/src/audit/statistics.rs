//! The statistics the audit judges by: nearest-rank quantiles and Spearman's
//! rank correlation.

/// Nearest-rank quantile; sorts in place.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let index = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    Some(values[index])
}

/// Spearman's rank correlation (ties take their average rank).
pub fn spearman(pairs: &[(f64, f64)]) -> f64 {
    let xs = ranks(pairs.iter().map(|p| p.0).collect());
    let ys = ranks(pairs.iter().map(|p| p.1).collect());
    let n = xs.len() as f64;
    let (mean_x, mean_y) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let mut covariance = 0.0;
    let (mut var_x, mut var_y) = (0.0, 0.0);
    for (x, y) in xs.iter().zip(&ys) {
        covariance += (x - mean_x) * (y - mean_y);
        var_x += (x - mean_x).powi(2);
        var_y += (y - mean_y).powi(2);
    }
    if var_x == 0.0 || var_y == 0.0 {
        return 0.0;
    }
    covariance / (var_x * var_y).sqrt()
}

fn ranks(values: Vec<f64>) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let average = (start + end) as f64 / 2.0 + 1.0;
        for &index in &order[start..=end] {
            ranks[index] = average;
        }
        start = end + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_is_one_for_the_same_order_and_minus_one_reversed() {
        let same: Vec<(f64, f64)> = (0..20).map(|i| (f64::from(i), f64::from(i * i))).collect();
        assert!((spearman(&same) - 1.0).abs() < 1e-12);
        let reversed: Vec<(f64, f64)> = (0..20).map(|i| (f64::from(i), f64::from(-i))).collect();
        assert!((spearman(&reversed) + 1.0).abs() < 1e-12);
        assert_eq!(ranks(vec![3.0, 1.0, 3.0]), vec![2.5, 1.0, 2.5]);
    }
}
