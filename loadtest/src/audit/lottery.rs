//! The lottery recomputed from its published specification (docs/api.md,
//! "the lottery"), with the audit's own code: RustCrypto's ChaCha20 rather
//! than the engine's `rand_chacha`, and none of the engine's room module. The
//! audit checks the server's order against this, so a fault in the engine's
//! lottery shows up as a failed audit instead of agreeing with itself.

use chacha20::rand_core::{Rng, SeedableRng};
use chacha20::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// Bytes in one ChaCha20 block; the keystream is produced a block at a time.
const BLOCK_BYTES: usize = 64;
/// Bytes of keystream per draw (one little-endian `u64`).
const DRAW_BYTES: usize = 8;

/// SHA-256 of the 32 seed bytes alone: the digest published before the on-sale.
pub fn seed_digest(seed: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(seed).into()
}

/// Lowercase hexadecimal, two digits a byte: how seeds and digests are published.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A published seed: exactly 64 hexadecimal digits.
pub fn parse_seed(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut seed = [0u8; 32];
    for (byte, pair) in seed.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(seed)
}

/// Element `k` is the join-order number of the buyer given queue position
/// `k + 1`. Fisher–Yates from the last place down: for `i` from
/// `lobby_size - 1` to 1, swap places `i` and `j`, `j` drawn in `0..=i`.
pub fn lottery_order(seed: &[u8; 32], lobby_size: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (0..lobby_size).collect();
    let mut keystream = Keystream::new(seed);
    for i in (1..lobby_size).rev() {
        let j = draw_at_most(u64::from(i), || keystream.next_u64());
        // j <= i < lobby_size, so both are places in `order`.
        order.swap(i as usize, j as usize);
    }
    order
}

/// A uniform draw in `0..=max`: with `n = max + 1`, a draw below `2^64 mod n`
/// is thrown away (what remains is a whole multiple of `n` values), else the
/// answer is the draw modulo `n`.
fn draw_at_most(max: u64, mut next: impl FnMut() -> u64) -> u64 {
    let n = u128::from(max) + 1;
    // Below 2^64, since n > 1 whenever there is anything to draw.
    let rejected_below = ((1u128 << 64) % n) as u64;
    loop {
        let draw = next();
        if draw >= rejected_below {
            return (u128::from(draw) % n) as u64;
        }
    }
}

/// The ChaCha20 keystream keyed by the seed (nonce and block counter from 0),
/// read from its first byte, eight bytes at a time as little-endian `u64`s.
struct Keystream {
    cipher: ChaCha20Rng,
    block: [u8; BLOCK_BYTES],
    read: usize,
}

impl Keystream {
    fn new(seed: &[u8; 32]) -> Self {
        Keystream { cipher: ChaCha20Rng::from_seed(*seed), block: [0; BLOCK_BYTES], read: BLOCK_BYTES }
    }

    fn next_u64(&mut self) -> u64 {
        if self.read == BLOCK_BYTES {
            self.cipher.fill_bytes(&mut self.block);
            self.read = 0;
        }
        let mut word = [0u8; DRAW_BYTES];
        word.copy_from_slice(&self.block[self.read..self.read + DRAW_BYTES]);
        self.read += DRAW_BYTES;
        u64::from_le_bytes(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keystream_is_rfc_8439_chacha20_read_little_endian() {
        // RFC 8439 A.1, all-zero key and nonce: test vector #1 (block 0) starts
        // 76 b8 e0 ad a0 f1 3d 90, test vector #2 (block 1) starts 9f 07 e7 be 55 51 38 7a.
        let mut keystream = Keystream::new(&[0; 32]);
        assert_eq!(keystream.next_u64(), u64::from_le_bytes([0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90]));
        for _ in 1..BLOCK_BYTES / DRAW_BYTES {
            keystream.next_u64();
        }
        assert_eq!(keystream.next_u64(), u64::from_le_bytes([0x9f, 0x07, 0xe7, 0xbe, 0x55, 0x51, 0x38, 0x7a]));
    }

    #[test]
    fn the_digest_is_sha_256_of_the_seed_bytes() {
        // `head -c 32 /dev/zero | sha256sum`.
        assert_eq!(hex(&seed_digest(&[0; 32])), "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925");
        assert_eq!(parse_seed(&hex(&[0xa5; 32])), Some([0xa5; 32]));
        assert_eq!(parse_seed("a5"), None);
        assert_eq!(parse_seed(&"g0".repeat(32)), None);
    }

    #[test]
    fn draws_below_two_to_the_64_mod_n_are_thrown_away() {
        fn from(draws: &[u64]) -> impl FnMut() -> u64 + '_ {
            let mut draws = draws.iter().copied();
            move || draws.next().expect("the draw asked for more than the test gave")
        }
        // 2^64 mod 3 = 1: only 0 is thrown away.
        assert_eq!(draw_at_most(2, from(&[0, 4])), 1);
        assert_eq!(draw_at_most(2, from(&[1])), 1);
        // 2^64 mod 6 = 4: 0 to 3 are thrown away.
        assert_eq!(draw_at_most(5, from(&[0, 1, 2, 3, 11])), 5);
        // 2^32 divides 2^64: nothing is thrown away.
        assert_eq!(draw_at_most(u64::from(u32::MAX), from(&[0])), 0);
        assert_eq!(draw_at_most(1, from(&[u64::MAX])), 1);
    }

    /// Orders that were also computed from the specification alone, outside
    /// this code base (an independent ChaCha20 written from RFC 8439).
    #[test]
    fn known_orders() {
        assert_eq!(lottery_order(&[0; 32], 10), [9, 7, 3, 6, 1, 4, 8, 5, 2, 0]);
        assert_eq!(lottery_order(&[1; 32], 10), [7, 3, 8, 2, 4, 9, 6, 5, 1, 0]);
        // 999 draws run over many keystream blocks.
        assert_eq!(lottery_order(&[7; 32], 1_000)[..10], [928, 41, 324, 319, 955, 981, 478, 952, 175, 185]);
        assert!(lottery_order(&[7; 32], 0).is_empty());
        assert_eq!(lottery_order(&[7; 32], 1), [0]);
    }

    #[test]
    fn the_audit_and_the_engine_draw_the_same_lottery() {
        const SIZES: [u32; 12] = [0, 1, 2, 3, 4, 7, 8, 9, 63, 64, 257, 2_000];
        for n in 0..200u32 {
            let mut counter = [0u8; 32];
            counter[..4].copy_from_slice(&n.to_le_bytes());
            let seed = seed_digest(&counter);
            assert_eq!(hex(&seed_digest(&seed)), guichet_engine::room::hex(&guichet_engine::room::seed_digest(&seed)));
            for lobby_size in SIZES {
                assert_eq!(
                    lottery_order(&seed, lobby_size),
                    guichet_engine::room::lottery_order(&seed, lobby_size),
                    "seed {}, lobby of {lobby_size}",
                    hex(&seed)
                );
            }
        }
    }
}
