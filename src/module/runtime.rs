//! The deployed pipeline of this server: what capture matches, and the engine that writes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::applier::{Connector, Engine, Queue};
use crate::config::{Deployment, Job};
use crate::pattern::KeyPattern;

use super::keys;

/// What capture needs to know of one job, on the main thread.
#[derive(Debug)]
pub struct CaptureJob {
    /// The job name.
    pub name: String,
    /// Its queue stream key.
    pub queue: String,
    /// Keys it captures.
    pub pattern: KeyPattern,
    /// Events it ignores (lower-case names).
    pub exclude: Vec<String>,
    /// Whether `expired` and `hexpired` are changes for it (`propagate_expired`).
    pub propagate_expired: bool,
    /// Changes in its queue, kept up to date by capture (appends) and writers (trims).
    pub pending: AtomicU64,
    /// The hash fields its deletes read (`None`: any), see `applier::batch::delete_fields`.
    pub delete_fields: Option<Arc<[std::ffi::CString]>>,
}

impl CaptureJob {
    fn new(job: &Job) -> Self {
        CaptureJob {
            name: job.name.clone(),
            queue: keys::queue_key(&job.name),
            pattern: KeyPattern::new(&job.key_pattern),
            exclude: job.exclude_commands.clone(),
            propagate_expired: job.propagate_expired,
            pending: AtomicU64::new(0),
            // A field name with a NUL byte cannot be looked up by name: every field is read then.
            delete_fields: crate::applier::batch::delete_fields(job)
                .and_then(c_strings)
                .map(Arc::from),
        }
    }

    /// Whether the job captures this event (by its Redis event name).
    pub fn wants_event(&self, event: &str) -> bool {
        if is_expiry(event) && !self.propagate_expired {
            return false;
        }
        !self.exclude.iter().any(|e| e == event)
    }
}

/// The names as C strings; `None` if one holds a NUL byte.
pub(super) fn c_strings(names: Vec<String>) -> Option<Vec<std::ffi::CString>> {
    names
        .into_iter()
        .map(|f| std::ffi::CString::new(f).ok())
        .collect()
}

/// Whether an event comes from an expiry (of a key or of hash fields): a change only for the jobs that
/// set `propagate_expired`.
pub fn is_expiry(event: &str) -> bool {
    event == "expired" || event == "hexpired"
}

/// A deployed pipeline.
pub struct Pipeline {
    /// What was deployed.
    pub deployment: Deployment,
    /// Per job, in deployment order.
    pub capture: Vec<CaptureJob>,
    /// The writer threads; `None` on a replica.
    pub engine: Option<Arc<Engine>>,
    /// Notes of the deploy (ignored keys, compatibility rewrites).
    pub notes: Vec<String>,
    /// Why a primary has no writers: the kept deployment's references did not resolve after a
    /// restart (capture goes on).
    pub held: Option<String>,
    /// On a replica, the writers of the pipeline it had as a primary, asked to stop but possibly
    /// still blocked on a target: writers started on a later promotion wait for them to end.
    retired: Option<Arc<Engine>>,
}

impl Pipeline {
    /// The writer threads that may still run: the engine, or on a replica the one retired when it
    /// was demoted (possibly still blocked on a target).
    pub fn threads(&self) -> Option<Arc<Engine>> {
        self.engine.clone().or_else(|| self.retired.clone())
    }

    /// The back-pressure cap per job (`applier.max_pending`), 0 for none.
    pub fn max_pending(&self) -> u64 {
        self.deployment.applier.max_pending as u64
    }

    /// Records a job's queue length and whether any job is now at its cap.
    pub fn set_pending(&self, job: usize, n: u64) {
        if let Some(j) = self.capture.get(job) {
            j.pending.store(n, Ordering::Relaxed);
        }
        self.update_backpressure();
    }

    /// Counts appended changes.
    pub fn add_pending(&self, job: usize, n: u64) {
        if let Some(j) = self.capture.get(job) {
            j.pending.fetch_add(n, Ordering::Relaxed);
        }
        self.update_backpressure();
    }

    fn update_backpressure(&self) {
        let max = self.max_pending();
        let full = max > 0
            && self
                .capture
                .iter()
                .any(|j| j.pending.load(Ordering::Relaxed) >= max);
        BACKPRESSURE.store(full, Ordering::Release);
    }

    /// The jobs whose queues are at the cap and whose pattern matches `key`.
    pub fn full_job_for(&self, key: &[u8]) -> Option<&CaptureJob> {
        let max = self.max_pending();
        self.capture
            .iter()
            .find(|j| max > 0 && j.pending.load(Ordering::Relaxed) >= max && j.pattern.matches(key))
    }
}

static BACKPRESSURE: AtomicBool = AtomicBool::new(false);

/// Whether some job's queue is at its cap: the one check every command pays.
pub fn backpressure_active() -> bool {
    BACKPRESSURE.load(Ordering::Acquire)
}

impl Pipeline {
    /// Builds a pipeline; starts writers when `primary`, carrying counters over from `previous`.
    pub fn new(
        deployment: Deployment,
        notes: Vec<String>,
        primary: bool,
        queue: Arc<dyn Queue>,
        connector: Arc<Connector>,
        previous: Option<&Pipeline>,
    ) -> Pipeline {
        let capture = deployment.jobs.iter().map(CaptureJob::new).collect();
        let prev_engine = previous.and_then(|p| p.engine.clone());
        // The engine whose threads must have ended before new ones touch the queue.
        let before = prev_engine
            .clone()
            .or_else(|| previous.and_then(|p| p.retired.clone()));
        let engine = primary.then(|| {
            let job_stats = |name: &str| {
                prev_engine.as_ref().and_then(|e| {
                    e.jobs()
                        .iter()
                        .find(|j| j.job.name == name)
                        .map(|j| j.stats.clone())
                })
            };
            let conn_stats = |name: &str| {
                prev_engine
                    .as_ref()
                    .and_then(|e| e.connection_stats().get(name).cloned())
            };
            Arc::new(Engine::start_after(
                before.clone(),
                deployment.clone(),
                queue,
                connector,
                &job_stats,
                &conn_stats,
            ))
        });
        let retired = match engine {
            Some(_) => None,
            None => before.filter(|e| e.is_running()),
        };
        Pipeline {
            deployment,
            capture,
            engine,
            notes,
            held: None,
            retired,
        }
    }
}

static PIPELINE: RwLock<Option<Arc<Pipeline>>> = RwLock::new(None);
static PRIMARY: AtomicBool = AtomicBool::new(true);
static LOADING: AtomicBool = AtomicBool::new(false);

/// The pipeline in force, if any.
pub fn current() -> Option<Arc<Pipeline>> {
    PIPELINE.read().ok().and_then(|g| g.clone())
}

/// Puts `next` in force and returns the previous one (whose engine the caller stops).
pub fn replace(next: Option<Arc<Pipeline>>) -> Option<Arc<Pipeline>> {
    match PIPELINE.write() {
        Ok(mut g) => std::mem::replace(&mut *g, next),
        Err(_) => None,
    }
}

/// Whether this server is a primary.
pub fn is_primary() -> bool {
    PRIMARY.load(Ordering::Acquire)
}

/// Records the server's role.
pub fn set_primary(primary: bool) {
    PRIMARY.store(primary, Ordering::Release);
    crate::writer::fence::set_primary(primary);
}

/// Whether the server is loading a data file.
pub fn is_loading() -> bool {
    LOADING.load(Ordering::Acquire)
}

/// Records whether the server is loading.
pub fn set_loading(loading: bool) {
    LOADING.store(loading, Ordering::Release);
}

/// How long a redeploy or shutdown waits for writers to finish their current batch.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
