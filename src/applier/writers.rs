//! A writer thread's connections: the writers it has open, and the connects under way on threads of
//! their own. A target that takes long to answer a connect (a host that drops packets, a server that
//! accepts and then hangs until `connect_timeout`) holds only its own jobs: the thread waits a moment
//! for the connect, then goes on with its other jobs and picks the writer up on a later attempt.

use std::collections::HashMap;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, TryRecvError};

use super::engine::Shared;
use crate::writer::{WriteError, Writer};

/// How long a writer thread waits for a connect it starts before it goes on with its other jobs.
/// A connect that answers sooner (nearly all do) is used at once.
pub(crate) const CONNECT_WAIT: Duration = Duration::from_secs(1);

type Connected = Result<Box<dyn Writer>, WriteError>;

/// The open writers of a thread, by connection name, and its connects under way.
#[derive(Default)]
pub(crate) struct Writers {
    open: HashMap<String, Box<dyn Writer>>,
    connecting: HashMap<String, Receiver<Connected>>,
}

impl Writers {
    /// The open writer of a connection.
    pub(crate) fn get(&self, conn: &str) -> Option<&dyn Writer> {
        self.open.get(conn).map(|w| &**w)
    }

    /// Closes a connection's writer (the next use connects again).
    pub(crate) fn remove(&mut self, conn: &str) {
        self.open.remove(conn);
    }

    /// The connection's writer, connecting if needed. A connect runs on a thread of its own; when it
    /// has not answered within [`CONNECT_WAIT`], this fails with a transient error and a later call
    /// takes its outcome. Only one connect per connection is under way at a time.
    pub(crate) fn writer_for(
        &mut self,
        shared: &Shared,
        conn: &str,
    ) -> Result<&mut Box<dyn Writer>, WriteError> {
        if !self.open.contains_key(conn) {
            let outcome = match self.connecting.remove(conn) {
                Some(pending) => match pending.try_recv() {
                    Ok(outcome) => outcome,
                    Err(TryRecvError::Empty) => {
                        self.connecting.insert(conn.to_string(), pending);
                        return Err(still_connecting());
                    }
                    Err(TryRecvError::Disconnected) => Err(vanished()),
                },
                None => {
                    let pending = start(shared, conn)?;
                    match pending.recv_timeout(CONNECT_WAIT) {
                        Ok(outcome) => outcome,
                        Err(RecvTimeoutError::Timeout) => {
                            self.connecting.insert(conn.to_string(), pending);
                            return Err(still_connecting());
                        }
                        Err(RecvTimeoutError::Disconnected) => Err(vanished()),
                    }
                }
            };
            self.open.insert(conn.to_string(), outcome?);
        }
        self.open
            .get_mut(conn)
            .ok_or_else(|| WriteError::Transient("writer vanished".into()))
    }
}

/// Starts connecting on a thread of its own; the outcome arrives on the receiver.
fn start(shared: &Shared, conn: &str) -> Result<Receiver<Connected>, WriteError> {
    let Some(connection) = shared.deployment.connections.get(conn).cloned() else {
        return Err(WriteError::Schema(format!(
            "connection `{conn}` is not defined"
        )));
    };
    let connector = shared.connector.clone();
    let (done, outcome) = bounded(1);
    std::thread::Builder::new()
        .name("rdi-connect".into())
        .spawn(move || {
            super::priority::lower_current_thread();
            // Nobody waits any more when the engine stopped meanwhile: the writer is dropped.
            let _ = done.send(connector(&connection));
        })
        .map_err(|e| WriteError::Transient(format!("cannot start a connect thread: {e}")))?;
    Ok(outcome)
}

/// The error of a connect still under way (callers prefix the connection's name).
fn still_connecting() -> WriteError {
    WriteError::Transient(format!(
        "connecting: no answer after {} s yet; the attempt goes on (up to the connection's \
         connect timeout) while the thread serves its other jobs",
        CONNECT_WAIT.as_secs()
    ))
}

fn vanished() -> WriteError {
    WriteError::Transient("connecting: the connect thread ended".into())
}
