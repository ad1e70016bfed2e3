//! Seeded dice for random faults that can be replayed. Whether a call is faulted, and how, is a
//! pure function of the seed, of what the call is (its key: operation, account, resource) and
//! of how many times that same call came before. A run with the same seed therefore gives every
//! call the same fate, whatever order concurrent callers happen to send them in.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Dice {
    seed: u64,
    rate: f64,
    /// How often each key has been rolled for.
    seen: Mutex<HashMap<u64, u64>>,
}

impl Dice {
    /// Faults about `rate` (0 to 1) of the calls.
    pub fn new(seed: u64, rate: f64) -> Dice {
        Dice {
            seed,
            rate: rate.clamp(0.0, 1.0),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `None` for most calls; for about `rate` of them, a number to choose the fault with.
    pub fn roll(&self, key: &str) -> Option<u64> {
        let hash = fnv1a(key.as_bytes());
        let nth = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let n = seen.entry(hash).or_insert(0);
            *n += 1;
            *n
        };
        let r = splitmix(self.seed ^ splitmix(hash ^ nth.rotate_left(32)));
        (unit(r) < self.rate).then(|| splitmix(r))
    }
}

/// One of `options`, chosen by `r`.
pub fn pick<T: Clone>(r: u64, options: &[T]) -> T {
    options[(r % options.len() as u64) as usize].clone()
}

/// A number in `[low, high)` chosen by `r` (another part of it than [`pick`] uses).
pub fn between(r: u64, low: f64, high: f64) -> f64 {
    low + (high - low) * unit(splitmix(r ^ 0x5eed))
}

fn unit(r: u64) -> f64 {
    (r >> 11) as f64 / (1u64 << 53) as f64
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SplitMix64's finaliser: a well-mixed 64-bit number from any 64-bit number.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
