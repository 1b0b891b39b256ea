//! Randomness comes in through [`Entropy`], as time comes in through the clock:
//! the server draws from the operating system, tests from a seeded generator
//! so that keys and runs can be replayed.

use std::fmt;

use parking_lot::Mutex;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// A source of random bytes.
pub trait Entropy: Send + Sync + fmt::Debug {
    /// Fills `bytes` with random bytes.
    fn fill(&self, bytes: &mut [u8]);
}

/// The operating system's cryptographically secure generator.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    /// # Panics
    ///
    /// If the operating system cannot give random bytes: nothing secret may be
    /// made without them, and there is no sensible way to go on.
    fn fill(&self, bytes: &mut [u8]) {
        if let Err(error) = getrandom::fill(bytes) {
            panic!("the operating system gave no random bytes: {error}");
        }
    }
}

/// A deterministic generator (ChaCha20 seeded from a `u64`): for tests and
/// simulations only, never for real keys.
pub struct SeededEntropy {
    rng: Mutex<ChaCha20Rng>,
}

impl SeededEntropy {
    pub fn new(seed: u64) -> Self {
        Self { rng: Mutex::new(ChaCha20Rng::seed_from_u64(seed)) }
    }
}

/// Debug shows no generator state: it would give away every byte still to come.
impl fmt::Debug for SeededEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeededEntropy").finish_non_exhaustive()
    }
}

impl Entropy for SeededEntropy {
    fn fill(&self, bytes: &mut [u8]) {
        self.rng.lock().fill_bytes(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(entropy: &dyn Entropy) -> [u8; 32] {
        let mut bytes = [0; 32];
        entropy.fill(&mut bytes);
        bytes
    }

    #[test]
    fn seeded_entropy_is_deterministic_per_seed() {
        let (first, again, other) = (SeededEntropy::new(7), SeededEntropy::new(7), SeededEntropy::new(8));
        let drawn = draw(&first);
        assert_eq!(drawn, draw(&again));
        assert_ne!(drawn, draw(&other));
        assert_ne!(drawn, draw(&first), "successive draws differ");
    }

    #[test]
    fn os_entropy_fills_the_buffer() {
        let (first, second) = (draw(&OsEntropy), draw(&OsEntropy));
        assert_ne!(first, second);
        assert_ne!(first, [0; 32]);
        let mut empty = [];
        OsEntropy.fill(&mut empty);
    }
}
