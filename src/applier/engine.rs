//! The running pipeline: writer threads, their jobs, and the counters that status reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};

use super::batch::OutputPlan;
use super::queue::Queue;
use super::stats::{ConnStats, JobStats};
use super::worker;
use crate::config::{Connection, Deployment, Job};
use crate::writer::{WriteError, Writer};

/// Opens a writer for a connection; the module passes [`crate::writer::connect`], tests pass fakes.
pub type Connector = dyn Fn(&Connection) -> Result<Box<dyn Writer>, WriteError> + Send + Sync;

/// One deployed job and its counters.
#[derive(Debug)]
pub struct JobRuntime {
    /// The job as deployed.
    pub job: Job,
    /// Its outputs, planned.
    pub outputs: Vec<OutputPlan>,
    /// Its counters.
    pub stats: Arc<JobStats>,
}

/// Environment variable of the crash-between-commit-and-acknowledgement test hook.
pub const ABORT_BEFORE_ACK_ENV: &str = "RDI_TEST_ABORT_BEFORE_ACK";

/// What writer threads share.
pub(crate) struct Shared {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) deployment: Deployment,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) connector: Arc<Connector>,
    pub(crate) conn_stats: BTreeMap<String, Arc<ConnStats>>,
    /// Test hook (`RDI_TEST_ABORT_BEFORE_ACK` set in the server's environment): abort the process
    /// right after a batch committed and before it is acknowledged, as a `kill -9` there would.
    pub(crate) abort_before_ack: bool,
}

/// The writer threads of one deployment.
pub struct Engine {
    shared: Arc<Shared>,
    jobs: Vec<Arc<JobRuntime>>,
    /// Wake-up hint per thread (capacity 1: a pending hint is as good as many).
    wakers: Vec<Sender<()>>,
    /// Thread index of each job, by job position.
    owner: Vec<usize>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Engine {
    /// Starts `applier.writer_threads` threads (no more than there are jobs). Counters of jobs that
    /// already ran under a previous deployment are carried over through `previous`.
    pub fn start(
        deployment: Deployment,
        queue: Arc<dyn Queue>,
        connector: Arc<Connector>,
        previous: &dyn Fn(&str) -> Option<Arc<JobStats>>,
        previous_conn: &dyn Fn(&str) -> Option<Arc<ConnStats>>,
    ) -> Engine {
        Self::start_after(None, deployment, queue, connector, previous, previous_conn)
    }

    /// [`Engine::start`], but the threads touch no queue before every thread of `before` (an engine
    /// asked to stop, possibly still finishing a batch) has ended: two engines never write the same
    /// queue at once, so an older value read by the old one is never committed after a newer one.
    pub fn start_after(
        before: Option<Arc<Engine>>,
        deployment: Deployment,
        queue: Arc<dyn Queue>,
        connector: Arc<Connector>,
        previous: &dyn Fn(&str) -> Option<Arc<JobStats>>,
        previous_conn: &dyn Fn(&str) -> Option<Arc<ConnStats>>,
    ) -> Engine {
        let jobs: Vec<Arc<JobRuntime>> = deployment
            .jobs
            .iter()
            .map(|job| {
                Arc::new(JobRuntime {
                    outputs: job.outputs.iter().map(OutputPlan::new).collect(),
                    stats: previous(&job.name).unwrap_or_default(),
                    job: job.clone(),
                })
            })
            .collect();
        let conn_stats = deployment
            .connections
            .keys()
            .map(|name| (name.clone(), previous_conn(name).unwrap_or_default()))
            .collect();
        let n = deployment
            .applier
            .writer_threads
            .clamp(1, jobs.len().max(1));
        let shared = Arc::new(Shared {
            stop: Arc::new(AtomicBool::new(false)),
            deployment,
            queue,
            connector,
            conn_stats,
            abort_before_ack: std::env::var_os(ABORT_BEFORE_ACK_ENV).is_some(),
        });
        let owner: Vec<usize> = (0..jobs.len()).map(|i| i % n).collect();
        // The role's term now: these threads never write once the role has changed (a failover).
        let term = crate::writer::fence::term();
        let mut wakers = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for t in 0..n {
            let (tx, rx) = bounded(1);
            wakers.push(tx);
            let mine: Vec<Arc<JobRuntime>> = jobs
                .iter()
                .zip(&owner)
                .filter(|(_, o)| **o == t)
                .map(|(j, _)| j.clone())
                .collect();
            if mine.is_empty() {
                continue;
            }
            let sh = shared.clone();
            let before = before.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("rdi-writer-{t}"))
                .spawn(move || {
                    crate::writer::fence::hold(term);
                    crate::writer::interrupt::watch(sh.stop.clone());
                    if let Some(before) = before {
                        // Even when asked to stop meanwhile, this thread lives until `before` has
                        // ended, so that an engine started after this one waits for both.
                        while before.is_running() {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        if sh.stop.load(Ordering::Acquire) {
                            return;
                        }
                    }
                    worker::run(sh, mine, rx)
                });
            if let Ok(h) = spawned {
                threads.push(h);
            }
        }
        Engine {
            shared,
            jobs,
            wakers,
            owner,
            threads: Mutex::new(threads),
        }
    }

    /// The deployment it runs.
    pub fn deployment(&self) -> &Deployment {
        &self.shared.deployment
    }

    /// The jobs, in deployment order.
    pub fn jobs(&self) -> &[Arc<JobRuntime>] {
        &self.jobs
    }

    /// Health per connection name.
    pub fn connection_stats(&self) -> &BTreeMap<String, Arc<ConnStats>> {
        &self.shared.conn_stats
    }

    /// How many writer threads run.
    pub fn thread_count(&self) -> usize {
        self.threads.lock().map(|t| t.len()).unwrap_or(0)
    }

    /// Hints the writer of job `index` that its queue has new entries.
    pub fn wake_job(&self, index: usize) {
        if let Some(w) = self.owner.get(index).and_then(|t| self.wakers.get(*t)) {
            let _ = w.try_send(());
        }
    }

    /// Hints every writer.
    pub fn wake_all(&self) {
        for w in &self.wakers {
            let _ = w.try_send(());
        }
    }

    /// Asks the threads to stop after their current write; does not wait.
    pub fn signal_stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.wake_all();
    }

    /// Stops the threads and waits up to `timeout` for them; threads still busy then are left to end
    /// by themselves (they stop before their next queue access). Returns whether all ended in time.
    /// Never call this while holding the server lock: a writer may be waiting for it.
    pub fn stop_and_join(&self, timeout: Duration) -> bool {
        self.signal_stop();
        let deadline = Instant::now() + timeout;
        loop {
            let Ok(mut threads) = self.threads.lock() else {
                return false;
            };
            if threads.iter().all(|t| t.is_finished()) {
                for t in threads.drain(..) {
                    let _ = t.join();
                }
                return true;
            }
            drop(threads);
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether any writer thread is still running.
    pub fn is_running(&self) -> bool {
        self.threads
            .lock()
            .map(|t| t.iter().any(|h| !h.is_finished()))
            .unwrap_or(true)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.signal_stop();
    }
}
