//! The one locking policy of the crate: a `std` mutex whose poisoning is ignored.
//!
//! Every critical section here keeps its data consistent at each step (a map insert, a
//! counter, a timestamp), so a panic inside one leaves nothing half-written; refusing every
//! later lock would turn one panic into a process that fails every SSH call or login after
//! it. Use [`Mutex`] from here, never `std::sync::Mutex::lock().expect(…)`.

use std::sync::{MutexGuard, PoisonError};

/// A mutex that cannot poison: `lock` always hands out the guard.
#[derive(Debug, Default)]
pub struct Mutex<T>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    /// Locks, recovering the guard when an earlier holder panicked.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_locked_does_not_break_later_locks() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let held = m.clone();
        let _ = std::thread::spawn(move || {
            let mut guard = held.lock();
            *guard = 2;
            panic!("inside the critical section");
        })
        .join();
        assert_eq!(*m.lock(), 2);
    }
}
