//! A Fenwick (binary indexed) tree of `u32` counts that grows by appending.
//!
//! The waiting room keeps one count per queue slot (1 while the buyer in that
//! slot is still waiting, 0 once admitted, gone or departed) and asks "how many
//! live buyers are ahead of slot `s`?" on every poll. With 1,000,000 waiting
//! buyers a linear count per poll is too slow; the tree answers in O(log n) and
//! updates in O(log n), for 4 bytes per slot (4 MB per million).
//!
//! Why `u32` nodes suffice: a node holds the sum of a range of values, and the
//! room stores at most 1 per slot, so a node sum is at most the number of slots,
//! which is at most `u32::MAX`. Values above 1 are allowed as long as every
//! range sum still fits in a `u32`; a push or an add that would overflow (or go
//! below zero) is a bug in the caller and trips a `debug_assert`. Prefix sums
//! are returned as `u64` so that adding several nodes cannot overflow.

/// Counts at indices `0..len()`, with O(log n) prefix sums, point updates and
/// appends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fenwick {
    /// `tree[k - 1]` is the sum of the values at (0-based) indices
    /// `k - lowbit(k) .. k`, where `lowbit(k)` is the lowest set bit of `k`.
    tree: Vec<u32>,
}

/// The lowest set bit of `k` (`k > 0`).
fn lowbit(k: usize) -> usize {
    k & k.wrapping_neg()
}

impl Fenwick {
    pub(crate) fn new() -> Self {
        Self { tree: Vec::new() }
    }

    /// Builds the tree over `values` in O(n): each node is added once into its
    /// parent, in increasing order, so every child is complete before it is used.
    pub(crate) fn from_values(values: &[u32]) -> Self {
        let mut tree = values.to_vec();
        let n = tree.len();
        for k in 1..=n {
            let parent = k + lowbit(k);
            if parent <= n {
                let child = tree[k - 1];
                tree[parent - 1] = checked_sum(tree[parent - 1], child);
            }
        }
        Self { tree }
    }

    pub(crate) fn len(&self) -> usize {
        self.tree.len()
    }

    /// Appends `value` at index `len()`, in O(log n): the new node `k` covers
    /// `k - lowbit(k) .. k`, which is its own value plus the nodes `k - 1`,
    /// `k - 2`, `k - 4`, … `k - lowbit(k) / 2`, all already complete.
    /// Elements the tree has room for without reallocating.
    pub(crate) fn capacity(&self) -> usize {
        self.tree.capacity()
    }

    pub(crate) fn push(&mut self, value: u32) {
        let k = self.tree.len() + 1;
        let mut node = value;
        let mut step = 1;
        while step < lowbit(k) {
            node = checked_sum(node, self.tree[k - step - 1]);
            step <<= 1;
        }
        self.tree.push(node);
    }

    /// Adds `delta` to the value at `index`, in O(log n).
    ///
    /// # Panics
    /// If `index >= len()`. In debug builds, also if a value or a node sum would
    /// go below 0 or above `u32::MAX`.
    pub(crate) fn add(&mut self, index: usize, delta: i32) {
        assert!(index < self.tree.len(), "Fenwick::add: index {index} out of 0..{}", self.tree.len());
        let mut k = index + 1;
        while k <= self.tree.len() {
            let node = &mut self.tree[k - 1];
            debug_assert!(
                node.checked_add_signed(delta).is_some(),
                "Fenwick::add: node {k} = {node} cannot take {delta} (index {index})"
            );
            *node = node.wrapping_add_signed(delta);
            k += lowbit(k);
        }
    }

    /// The sum of the values at indices `0..end`, in O(log n).
    ///
    /// # Panics
    /// If `end > len()`.
    pub(crate) fn prefix_sum(&self, end: usize) -> u64 {
        assert!(end <= self.tree.len(), "Fenwick::prefix_sum: end {end} beyond len {}", self.tree.len());
        let mut sum = 0u64;
        let mut k = end;
        while k > 0 {
            sum += u64::from(self.tree[k - 1]);
            k -= lowbit(k);
        }
        sum
    }
}

/// `a + b` for node sums: the module's invariant is that they fit.
fn checked_sum(a: u32, b: u32) -> u32 {
    debug_assert!(a.checked_add(b).is_some(), "Fenwick: node sum {a} + {b} overflows u32");
    a.wrapping_add(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Push(u32),
        /// Index taken modulo the length at the time (skipped when empty).
        Add(usize, i32),
        /// End taken modulo `len + 1`.
        Prefix(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..1_000).prop_map(Op::Push),
            (any::<usize>(), -1_000i32..1_000).prop_map(|(i, d)| Op::Add(i, d)),
            any::<usize>().prop_map(Op::Prefix),
        ]
    }

    proptest! {
        #[test]
        fn matches_a_naive_vec(ops in prop::collection::vec(op(), 0..300)) {
            let mut tree = Fenwick::new();
            let mut model: Vec<u32> = Vec::new();
            for op in ops {
                match op {
                    Op::Push(v) => {
                        tree.push(v);
                        model.push(v);
                    }
                    Op::Add(i, d) => {
                        if model.is_empty() {
                            continue;
                        }
                        let i = i % model.len();
                        // Keep the value non-negative, as the room does.
                        let d = d.max(-(model[i] as i32));
                        tree.add(i, d);
                        model[i] = model[i].wrapping_add_signed(d);
                    }
                    Op::Prefix(e) => {
                        let e = e % (model.len() + 1);
                        let naive: u64 = model[..e].iter().map(|&v| u64::from(v)).sum();
                        prop_assert_eq!(tree.prefix_sum(e), naive);
                    }
                }
                prop_assert_eq!(tree.len(), model.len());
            }
            for e in 0..=model.len() {
                let naive: u64 = model[..e].iter().map(|&v| u64::from(v)).sum();
                prop_assert_eq!(tree.prefix_sum(e), naive);
            }
            prop_assert_eq!(&Fenwick::from_values(&model), &tree);
        }

        #[test]
        fn from_values_equals_repeated_push(values in prop::collection::vec(0u32..1_000, 0..600)) {
            let mut pushed = Fenwick::new();
            for &v in &values {
                pushed.push(v);
            }
            prop_assert_eq!(Fenwick::from_values(&values), pushed);
        }
    }

    #[test]
    fn a_million_live_buyers() {
        let n = 1_000_000;
        let mut tree = Fenwick::from_values(&vec![1; n]);
        assert_eq!(tree.prefix_sum(n), n as u64);
        // Admit every third buyer.
        for i in (0..n).step_by(3) {
            tree.add(i, -1);
        }
        assert_eq!(tree.prefix_sum(n), (n - n.div_ceil(3)) as u64);
        assert_eq!(tree.prefix_sum(600_000), 400_000);
        tree.push(1);
        assert_eq!(tree.len(), n + 1);
        assert_eq!(tree.prefix_sum(n + 1), (n - n.div_ceil(3) + 1) as u64);
    }

    #[test]
    fn empty() {
        let tree = Fenwick::new();
        assert_eq!(tree.len(), 0);
        assert_eq!(tree.prefix_sum(0), 0);
    }

    #[test]
    #[should_panic(expected = "out of")]
    fn add_out_of_bounds_panics() {
        Fenwick::from_values(&[1, 1]).add(2, 1);
    }
}
