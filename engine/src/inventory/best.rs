//! Best-available search inside one row: pure functions over "is seat i free".
//!
//! Rows are listed front to back, so the caller walks rows in order; inside a
//! row the best run is the one closest to the row's centre.

/// The best start for `n` adjacent free seats in a row of `len` seats, each
/// run holding at least one seat `wanted` says (`|_| true`: any): the first
/// leaves no single free seat stranded beside the run (an orphan), the
/// second may. Ties go to the run nearer the centre, then to the left.
pub(crate) fn best_runs(
    len: usize,
    n: usize,
    is_free: impl Fn(usize) -> bool,
    wanted: impl Fn(usize) -> bool,
) -> (Option<usize>, Option<usize>) {
    debug_assert!(n >= 1);
    let mut best_clean: Option<(usize, usize)> = None;
    let mut best_any: Option<(usize, usize)> = None;
    let mut offset = 0;
    while offset < len {
        if !is_free(offset) {
            offset += 1;
            continue;
        }
        let run_start = offset;
        while offset < len && is_free(offset) {
            offset += 1;
        }
        let run_end = offset;
        if run_end - run_start < n {
            continue;
        }
        for start in run_start..=run_end - n {
            if !(start..start + n).any(&wanted) {
                continue;
            }
            let distance = (2 * start + n).abs_diff(len);
            let leaves_orphan = start - run_start == 1 || run_end - (start + n) == 1;
            if best_any.is_none_or(|(d, _)| distance < d) {
                best_any = Some((distance, start));
            }
            if !leaves_orphan && best_clean.is_none_or(|(d, _)| distance < d) {
                best_clean = Some((distance, start));
            }
        }
    }
    (best_clean.map(|(_, s)| s), best_any.map(|(_, s)| s))
}

/// Maximal runs of free seats in a row, as `(start, length)`, longest first
/// (ties: leftmost first). Used to split a group across rows with as few
/// breaks as possible.
pub(crate) fn free_runs_longest_first(len: usize, is_free: impl Fn(usize) -> bool) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut offset = 0;
    while offset < len {
        if is_free(offset) {
            let start = offset;
            while offset < len && is_free(offset) {
                offset += 1;
            }
            runs.push((start, offset - start));
        } else {
            offset += 1;
        }
    }
    runs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pattern: &str) -> impl Fn(usize) -> bool + '_ {
        move |i| pattern.as_bytes()[i] == b'.'
    }

    #[test]
    fn a_run_may_be_required_to_hold_a_wanted_seat() {
        // Seats 1 to 3 free; only seat 2 is wanted (an accessible seat between companions).
        let wanted = |i: usize| i == 2;
        assert_eq!(best_runs(5, 1, row("x...x"), wanted), (None, Some(2)));
        assert_eq!(best_runs(5, 2, row("x...x"), wanted), (None, Some(1)));
        assert_eq!(best_runs(5, 2, row("xx.xx"), wanted), (None, None));
    }

    #[test]
    fn prefers_the_centre_of_an_empty_row() {
        assert_eq!(best_runs(10, 2, row(".........."), |_| true), (Some(4), Some(4)));
    }

    #[test]
    fn avoids_leaving_a_single_orphan_seat() {
        // Seats 0..=3 free: 1-2 is central but strands seat 0; 2-3 strands nothing.
        assert_eq!(best_runs(5, 2, row("....x"), |_| true), (Some(2), Some(1)));
        // Only a run of three: any pair strands one seat.
        assert_eq!(best_runs(3, 2, row("..."), |_| true), (None, Some(0)));
    }

    #[test]
    fn finds_nothing_when_no_run_is_long_enough() {
        assert_eq!(best_runs(5, 3, row("..x.."), |_| true), (None, None));
    }

    #[test]
    fn lists_runs_longest_first() {
        assert_eq!(free_runs_longest_first(8, row(".x...x..")), vec![(2, 3), (6, 2), (0, 1)]);
    }
}
