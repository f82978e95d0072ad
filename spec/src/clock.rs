//! Time, injected so that expiry is testable without sleeping: the one clock the verifier,
//! the registry and the wallet read.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of Unix seconds.
pub trait Clock: Send + Sync {
    /// The current time in Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// A clock that stands still until moved (tests, vectors).
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock at `secs`.
    pub fn new(secs: i64) -> Self {
        Self(AtomicI64::new(secs))
    }

    /// Moves the clock to `secs`.
    pub fn set(&self, secs: i64) {
        self.0.store(secs, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
