//! The fair lottery at the on-sale instant: buyers who joined the lobby before
//! the on-sale are put in one random order, drawn from a 32-byte seed.
//!
//! The seed's SHA-256 ([`seed_digest`]) is published before the on-sale and the
//! seed itself after, so that anyone can check that the seed was fixed in
//! advance and recompute the order with [`lottery_order`]. That is why the
//! algorithm is spelled out to the bit below and uses only a standard ChaCha20
//! keystream, never a library's sampling helpers, whose output may change from
//! one version to the next.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// SHA-256 of the 32 seed bytes, exactly those bytes with nothing before or
/// after them: the commitment published before the on-sale.
pub fn seed_digest(seed: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(seed).into()
}

/// Lowercase hexadecimal, two digits per byte, no separator (the form in which
/// seeds and digests are published).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The lottery: a permutation of `0..lobby_size` where element `k` is the index,
/// in join order, of the buyer who gets queue position `k + 1`.
///
/// The algorithm, precisely (the order is a published, checkable fact, so any
/// change here is a change of the protocol; the known-answer test pins it):
///
/// 1. **Keystream.** ChaCha20 (20 rounds) with the 32 seed bytes as the key,
///    Bernstein's original layout with a 64-bit block counter starting at 0 and a
///    64-bit nonce of 0. For the first 2^32 blocks this is the same keystream as
///    RFC 8439 with an all-zero 96-bit nonce and initial counter 0. It is
///    consumed from its first byte, 8 bytes at a time, each group read as a
///    little-endian `u64`: this is `rand_chacha` 0.10's
///    `ChaCha20Rng::from_seed(seed)` followed only by `next_u64()` calls.
/// 2. **Uniform draw of `j` in `0..=i`.** Let `n = i + 1` and
///    `r = 2^64 mod n`. Draw `x` (one `u64` from the keystream); if `x < r`,
///    discard it and draw again; otherwise `j = x mod n`. The accepted range
///    `r..2^64` holds `2^64 - r` values, a multiple of `n`, so every `j` is
///    equally likely. (With `n <= 2^32` a redraw happens with probability below
///    2^-32.)
/// 3. **Fisher–Yates shuffle.** Start from `order = [0, 1, …, lobby_size - 1]`.
///    For `i` from `lobby_size - 1` down to `1` inclusive: draw `j` in `0..=i`
///    as in step 2 and swap `order[i]` and `order[j]` (nothing when `j == i`).
///    No draw is made for `i = 0`; a lobby of 0 or 1 draws nothing.
///
/// Time is O(`lobby_size`), memory 4 bytes per buyer; bounding the lobby is the
/// caller's business.
pub fn lottery_order(seed: &[u8; 32], lobby_size: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (0..lobby_size).collect();
    let mut rng = ChaCha20Rng::from_seed(*seed);
    for i in (1..order.len()).rev() {
        // `i < lobby_size <= u32::MAX`, so both conversions are lossless.
        let j = uniform_at_most(&mut rng, i as u64) as usize;
        order.swap(i, j);
    }
    order
}

/// A uniform draw in `0..=max` by rejection, as in step 2 of [`lottery_order`].
fn uniform_at_most(rng: &mut ChaCha20Rng, max: u64) -> u64 {
    debug_assert!(max < u64::MAX, "the range 0..=u64::MAX is not drawn here");
    let n = max + 1;
    // 2^64 mod n, computed in u64 as (2^64 - n) mod n.
    let r = n.wrapping_neg() % n;
    loop {
        let x = rng.next_u64();
        if x >= r {
            return x % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_digest_is_sha256_of_the_seed_bytes() {
        // `head -c 32 /dev/zero | sha256sum`.
        assert_eq!(hex(&seed_digest(&[0; 32])), "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn keystream_is_standard_chacha20() {
        // ChaCha20 with an all-zero key and nonce, block 0: the keystream starts
        // 76 b8 e0 ad a0 f1 3d 90 40 5d 6a e5 53 86 bd 28 (RFC 8439 A.1, test
        // vector #1). Anyone with any ChaCha20 implementation can check the order.
        let mut rng = ChaCha20Rng::from_seed([0; 32]);
        assert_eq!(rng.next_u64(), u64::from_le_bytes([0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]));
        assert_eq!(rng.next_u64(), u64::from_le_bytes([0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86, 0xbd, 0x28]));
    }

    fn is_permutation(order: &[u32]) -> bool {
        let mut seen = vec![false; order.len()];
        for &k in order {
            match seen.get_mut(k as usize) {
                Some(s) if !*s => *s = true,
                _ => return false,
            }
        }
        true
    }

    #[test]
    fn order_is_a_permutation() {
        for lobby_size in [0, 1, 2, 3, 10, 1_000, 100_000] {
            let order = lottery_order(&[7; 32], lobby_size);
            assert_eq!(order.len(), lobby_size as usize);
            assert!(is_permutation(&order), "lobby of {lobby_size}");
        }
    }

    #[test]
    fn same_seed_same_order() {
        let seed = *b"the seed published after on-sale";
        assert_eq!(lottery_order(&seed, 5_000), lottery_order(&seed, 5_000));
    }

    #[test]
    fn different_seeds_different_orders() {
        let mut other = [3; 32];
        let base = lottery_order(&other, 1_000);
        other[31] ^= 1;
        assert_ne!(base, lottery_order(&other, 1_000));
        assert_ne!(lottery_order(&[0; 32], 1_000), lottery_order(&[1; 32], 1_000));
    }

    /// Each lobby member's queue position is uniform: 20,000 lotteries of a lobby
    /// of 10, each with its own seed drawn from a fixed master seed, tallied in a
    /// 10 × 10 table `counts[member][position]` (expected 2,000 per cell).
    ///
    /// The statistic. Each lottery adds a permutation matrix to the table, not one
    /// multinomial draw, so the textbook Pearson sum is not χ²-distributed as
    /// is. A uniform permutation matrix, centred, lives in the space of matrices
    /// with zero row and column sums, of dimension (n − 1)² = 81; its covariance
    /// is invariant under permuting rows and columns, and that space is
    /// irreducible for those symmetries, so the covariance there is c·I, with
    /// c·(n − 1)² = trace = n²·(1/n)(1 − 1/n), i.e. c = 1/(n − 1). Hence Pearson's
    /// X² = Σ (O − E)²/E tends to n/(n − 1)·χ²(81) (mean 90, not 81), and
    /// `(n − 1)/n · X²` tends to χ²(81).
    ///
    /// Threshold: the 0.999 quantile of χ²(81) is 126.0826 (bisection on the
    /// regularised lower incomplete gamma P(40.5, x/2) = 0.999; tables give 124.84
    /// for 80 degrees of freedom and 137.21 for 90).
    #[test]
    fn positions_are_uniform_chi_square() {
        const LOBBY: usize = 10;
        const LOTTERIES: u32 = 20_000;
        const CHI2_81_Q0999: f64 = 126.0826;

        let mut master = ChaCha20Rng::from_seed(*b"guichet lottery chi-square test!");
        let mut counts = [[0u32; LOBBY]; LOBBY];
        for _ in 0..LOTTERIES {
            let mut seed = [0u8; 32];
            for chunk in seed.chunks_exact_mut(8) {
                chunk.copy_from_slice(&master.next_u64().to_le_bytes());
            }
            for (position, &member) in lottery_order(&seed, LOBBY as u32).iter().enumerate() {
                counts[member as usize][position] += 1;
            }
        }
        let expected = f64::from(LOTTERIES) / LOBBY as f64;
        let pearson: f64 = counts.iter().flatten().map(|&o| (f64::from(o) - expected).powi(2) / expected).sum();
        let statistic = pearson * (LOBBY as f64 - 1.0) / LOBBY as f64;
        eprintln!("lottery chi-square: Pearson X² = {pearson:.3}, (n-1)/n·X² = {statistic:.3} (81 df)");
        assert!(statistic < CHI2_81_Q0999, "chi-square {statistic:.3} >= {CHI2_81_Q0999} (81 df, p < 0.001)");
    }

    /// Pins the algorithm: if this fails, orders published under the old
    /// algorithm can no longer be checked with this code. These values were also
    /// obtained from the doc comment of [`lottery_order`] alone, with an
    /// independent ChaCha20 written from RFC 8439 (Python, no library).
    #[test]
    fn known_answers() {
        assert_eq!(lottery_order(&[0; 32], 10), [9, 7, 3, 6, 1, 4, 8, 5, 2, 0]);
        assert_eq!(lottery_order(&[1; 32], 10), [7, 3, 8, 2, 4, 9, 6, 5, 1, 0]);
        // 999 draws: the keystream runs over many 64-byte blocks.
        let long = lottery_order(&[7; 32], 1_000);
        assert_eq!(long[..10], [928, 41, 324, 319, 955, 981, 478, 952, 175, 185]);
    }
}
