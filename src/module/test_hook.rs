//! Test hooks: a variable set in a test server's environment makes the module panic once, at the
//! place that calls [`PanicOnce::fire`], to check that the thread there survives a bug.

use std::sync::atomic::{AtomicBool, Ordering};

/// Panics the first time it fires in a process whose environment sets `env`; never otherwise.
pub struct PanicOnce {
    env: &'static str,
    spent: AtomicBool,
}

impl PanicOnce {
    pub const fn new(env: &'static str) -> Self {
        PanicOnce {
            env,
            spent: AtomicBool::new(false),
        }
    }

    /// The first call reads the environment; later ones cost one load.
    pub fn fire(&self) {
        if self.spent.load(Ordering::Relaxed) || self.spent.swap(true, Ordering::Relaxed) {
            return;
        }
        if std::env::var_os(self.env).is_some() {
            // The hook's whole point: only a server started with it set panics here.
            #[allow(clippy::panic)]
            std::panic::panic_any(self.env);
        }
    }
}
