//! A PostgreSQL connection used from a writer thread: the asynchronous client driven by a runtime of
//! its own, so that the writer can keep more than one statement in flight (pipelining) where the
//! blocking client would wait for each reply before sending the next statement.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use ::tokio_postgres::types::{ToSql, Type};
use ::tokio_postgres::{CancelToken, Client, Error, Row, Statement, ToStatement};

use super::super::super::{interrupt, WriteError};
use super::tls::Tls;

/// One connection and the runtime that drives it. The runtime has one thread, the caller's: the
/// connection makes progress only while the writer waits in [`Session::block_on`], which is when it has
/// something to send or receive.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    client: Client,
    watchdog: Watchdog,
}

/// Bounds how long a call waits for the server: a server that accepts the connection and then never
/// answers (stopped, hung, or a black hole that still acknowledges TCP) would otherwise hold the writer
/// thread, and every job it serves, until the server comes back. When the limit passes, the
/// statement is cancelled (so that the server does not run it on, and commit it later, for a client
/// that is gone) and the connection dropped: the call then ends with the driver's "connection
/// closed" error, and [`Session::timed_out`] says why. A call is also cancelled, and then waited
/// for, once the writer's engine stops or the server's role changes ([`interrupt`]): a statement
/// waiting on a row lock would otherwise hold up a redeploy or an unload.
pub struct Watchdog {
    connection: tokio::task::AbortHandle,
    limit: Duration,
    fired: Cell<bool>,
    cancel: CancelToken,
    tls: Tls,
}

/// How often a call in progress looks whether it should be interrupted.
const INTERRUPT_POLL: Duration = Duration::from_millis(20);

/// How long a cancel request may take (it opens a connection of its own).
const CANCEL_LIMIT: Duration = Duration::from_secs(2);

impl Watchdog {
    /// `work`, but cancelled when the writer is interrupted, and the connection dropped if it has
    /// not ended within the limit.
    pub async fn guard<F: Future>(&self, work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        let deadline = tokio::time::Instant::now() + self.limit;
        let mut cancelled = false;
        loop {
            let next = match cancelled {
                true => deadline,
                false => deadline.min(tokio::time::Instant::now() + INTERRUPT_POLL),
            };
            if let Ok(out) = tokio::time::timeout_at(next, &mut work).await {
                return out;
            }
            if tokio::time::Instant::now() >= deadline {
                self.fired.set(true);
                self.send_cancel().await;
                self.connection.abort();
                // Every request of the connection now fails at once.
                return work.await;
            }
            if !cancelled && interrupt::requested() {
                cancelled = true;
                self.send_cancel().await;
            }
        }
    }

    /// Asks the server to cancel the statement it runs for this connection, if any. Best effort:
    /// the server may have finished it meanwhile, or be unreachable.
    async fn send_cancel(&self) {
        let _ = tokio::time::timeout(CANCEL_LIMIT, self.tls.cancel(&self.cancel)).await;
    }
}

impl Session {
    /// A session of a connection just made on `runtime` (see [`runtime`]), whose `connection` is driven
    /// from now on by the runtime.
    /// Each call waits at most `read_timeout` for its answers.
    pub(super) fn new(
        runtime: tokio::runtime::Runtime,
        client: Client,
        connection: Connection,
        read_timeout: Duration,
        tls: Tls,
    ) -> Self {
        let task = runtime.spawn(async move {
            // A lost connection reaches the client's next call as a closed connection.
            let _ = connection.await;
        });
        let watchdog = Watchdog {
            connection: task.abort_handle(),
            limit: read_timeout,
            fired: Cell::new(false),
            cancel: client.cancel_token(),
            tls,
        };
        Session {
            runtime,
            client,
            watchdog,
        }
    }

    /// Runs `work` to its end, driving the connection meanwhile, within the read timeout.
    pub fn block_on<F: Future>(&self, work: F) -> F::Output {
        self.runtime.block_on(self.watchdog.guard(work))
    }

    /// Whether a call outlasted the read timeout, which dropped the connection.
    pub fn timed_out(&self) -> Option<Duration> {
        self.watchdog.fired.get().then_some(self.watchdog.limit)
    }

    /// The client, to build statements' futures for [`Session::block_on`].
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The runtime, the client and the watchdog apart, for work that needs the client mutably (a
    /// transaction): `runtime.block_on(watchdog.guard(...))`.
    pub fn parts(&mut self) -> (&tokio::runtime::Runtime, &mut Client, &Watchdog) {
        (&self.runtime, &mut self.client, &self.watchdog)
    }

    /// Whether the server closed the connection (or it broke).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The client's `query`, waited for.
    pub fn query<T>(&self, statement: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.block_on(self.client.query(statement, params))
    }

    /// The client's `query_one`, waited for.
    pub fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error> {
        self.block_on(self.client.query_one(sql, params))
    }

    /// The client's `query_opt`, waited for.
    pub fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        self.block_on(self.client.query_opt(sql, params))
    }

    /// The client's `batch_execute`, waited for.
    pub fn batch_execute(&self, sql: &str) -> Result<(), Error> {
        self.block_on(self.client.batch_execute(sql))
    }

    /// The client's `prepare_typed`, waited for.
    pub fn prepare_typed(&self, sql: &str, types: &[Type]) -> Result<Statement, Error> {
        self.block_on(self.client.prepare_typed(sql, types))
    }
}

/// A connection (plain or TLS) to drive until it ends.
pub(super) type Connection = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// The runtime of one session: the calling thread only, with the I/O and time drivers.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, WriteError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            WriteError::Transient(format!("postgresql: no runtime for the connection: {e}"))
        })
}
