//! Interrupts a writer's MySQL/MariaDB statement once the writer should give it up
//! ([`crate::writer::interrupt`]): the engine stops (a redeploy, RDI.UNDEPLOY, MODULE UNLOAD) or
//! the server's role changed (a failover). A statement waiting on a row lock would otherwise hold the
//! writer thread until InnoDB's lock wait timeout (50 s by default), and with it the redeploy or
//! the unload. The driver's calls block, so a helper thread of the writer looks every [`POLL`] at
//! the call in flight, and sends `KILL QUERY` for it over a connection of its own. The statement then
//! fails (error 1317, transient), its transaction rolls back, and the batch stays queued.
//!
//! A statement whose answer did not come within the connection's `read_timeout` is killed too
//! ([`kill_query`]): the server would otherwise run it on for a client that is gone, waiting on the
//! lock and committing once it is released, while each retry added another.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ::mysql::prelude::Queryable;
use ::mysql::{Conn, Opts, OptsBuilder};

use crate::writer::interrupt::{self, Watch};

/// How often the helper looks at the call in flight.
const POLL: Duration = Duration::from_millis(20);

/// The helper thread of one writer; stopped and joined when dropped (with the writer).
pub(super) struct Killer {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    /// The call in flight: its number (high 32 bits, never 0) and the connection id (low 32 bits);
    /// 0 when none.
    call: AtomicU64,
    closed: AtomicBool,
}

/// Marks a call in flight until dropped.
pub(super) struct InFlight<'a>(Option<&'a State>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(state) = self.0 {
            state.call.store(0, Ordering::Release);
        }
    }
}

impl Killer {
    /// The helper of a writer opened in a writer thread (with `opts` to connect for `KILL QUERY`);
    /// `None` in other threads, whose calls are never given up (a deploy's target check).
    pub(super) fn start(opts: &Opts) -> Option<Killer> {
        let watch = interrupt::current()?;
        let state = Arc::new(State {
            call: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        let mine = state.clone();
        let opts = kill_opts(opts);
        let thread = std::thread::Builder::new()
            .name("rdi-mysql-kill".into())
            .spawn(move || watch_calls(&mine, &watch, &opts))
            .ok()?;
        Some(Killer {
            state,
            thread: Some(thread),
        })
    }
}

/// Marks a call on connection `id` in flight, for `killer` (if any) to interrupt, until the
/// returned guard is dropped.
pub(super) fn in_flight(killer: Option<&Killer>, id: u32) -> InFlight<'_> {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let Some(killer) = killer else {
        return InFlight(None);
    };
    let number = (CALLS.fetch_add(1, Ordering::Relaxed) % u64::from(u32::MAX)) + 1;
    killer
        .state
        .call
        .store(number << 32 | u64::from(id), Ordering::Release);
    InFlight(Some(&killer.state))
}

impl Drop for Killer {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The helper's loop: one `KILL QUERY` per call in flight once the writer should give it up.
fn watch_calls(state: &State, watch: &Watch, opts: &Opts) {
    let mut killed = 0;
    while !state.closed.load(Ordering::Acquire) {
        std::thread::park_timeout(POLL);
        let call = state.call.load(Ordering::Acquire);
        if call == 0 || call == killed || !watch.requested() {
            continue;
        }
        killed = call;
        let id = call & u64::from(u32::MAX);
        // The statement may have ended meanwhile: the writer is stopping, so the next one
        // failing instead is harmless.
        send_kill(opts, id);
    }
}

/// How long the connection that sends `KILL QUERY` may take for each step (a server that hangs
/// must not hold the writer long).
const KILL_TIMEOUT: Duration = Duration::from_secs(2);

/// `opts` for the connection that sends `KILL QUERY`: each step bounded by [`KILL_TIMEOUT`].
fn kill_opts(opts: &Opts) -> Opts {
    OptsBuilder::from_opts(opts.clone())
        .tcp_connect_timeout(Some(KILL_TIMEOUT))
        .read_timeout(Some(KILL_TIMEOUT))
        .write_timeout(Some(KILL_TIMEOUT))
        .into()
}

/// Best effort: the server may be unreachable.
fn send_kill(opts: &Opts, id: u64) {
    if let Ok(mut conn) = Conn::new(opts.clone()) {
        let _ = conn.query_drop(format!("KILL QUERY {id}"));
    }
}

/// Kills the statement that connection `id` runs, from the writer's thread, after its answer did
/// not come within the read timeout (the writer drops that connection).
pub(super) fn kill_query(opts: &Opts, id: u32) {
    send_kill(&kill_opts(opts), u64::from(id));
}
