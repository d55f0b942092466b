//! A real Redis (or Valkey) server per test: its own port and directory, killed by PID when dropped.

use crate::env;
use crate::ports::free_port;
pub use crate::redis_opts::{RedisOpts, ServerKind};
use crate::wait::POLL_INTERVAL;
use crate::watchdog::Watchdog;
use std::fmt;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it was started (AOF reloads included).
pub const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a graceful shutdown may take before the server is killed.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);
/// Read timeout of the clients handed to tests: longer than any RDI.WAIT they send.
const CLIENT_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// How many times a start is tried on a fresh port when the chosen one was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// Why a server did not come up: the reason, how the process ended (if it did) and its log.
pub struct StartError {
    /// What went wrong, in a sentence.
    pub reason: String,
    /// The exit status when the process ended during start.
    pub exit: Option<ExitStatus>,
    /// The whole server log (log file, then stderr).
    pub log: String,
}

impl fmt::Debug for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (exit: {:?})\n--- log tail ---\n{}",
            self.reason,
            self.exit,
            tail(&self.log, 40)
        )
    }
}

/// A running server. Dropping it kills the process by its PID; on a panicking test the directory is
/// kept and the log tail printed.
pub struct RedisServer {
    opts: RedisOpts,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    watchdog: Option<Watchdog>,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING, or returns why it did not.
    pub fn start(opts: RedisOpts) -> Result<RedisServer, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("rdi-redis-")
            .tempdir()
            .expect("temp dir");
        let mut server = RedisServer {
            opts,
            port: 0,
            dir,
            child: None,
            watchdog: None,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(error) if error.log.contains("Address already in use") => {
                    last_error = Some(error)
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's own directory (`--dir`): RDB, AOF, log; tests may put SQLite files here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PID of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A new connection with a generous read timeout.
    pub fn client(&self) -> redis::Connection {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("redis url");
        let connection = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| {
                panic!(
                    "connect to port {}: {e}\n{}",
                    self.port,
                    tail(&self.log(), 40)
                )
            });
        connection
            .set_read_timeout(Some(CLIENT_READ_TIMEOUT))
            .expect("read timeout");
        connection
    }

    /// Stops the server gracefully (SIGTERM, as SHUTDOWN) if it runs, then starts it again on the same
    /// port and directory, so it reloads its RDB or AOF. Panics with the log tail if it does not return.
    pub fn restart(&mut self) {
        self.stop_gracefully();
        if let Err(error) = self.spawn_and_wait() {
            panic!("restart failed: {error:?}");
        }
    }

    /// Waits until the process ends on its own (a crash or an abort), at most `deadline`: its exit
    /// status, or `None` if it still runs. The harness forgets the process once it has ended.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.disarm_watchdog();
                self.child = None;
                return Some(status);
            }
            if start.elapsed() >= deadline {
                return None;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The options of the next [`RedisServer::restart`] (for example to drop an environment variable).
    pub fn opts_mut(&mut self) -> &mut RedisOpts {
        &mut self.opts
    }

    /// Kills the server with SIGKILL and waits for it to be gone.
    pub fn kill9(&mut self) {
        self.disarm_watchdog();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server log so far (log file, then anything written to stderr).
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    /// The path of the `redis-server` binary and the library path it needs.
    fn binary(kind: ServerKind) -> (String, Option<String>) {
        match kind {
            ServerKind::Redis74 => (
                env::var("RDI_REDIS_SERVER"),
                Some(env::var("RDI_STACK_LIBS")),
            ),
            ServerKind::Valkey9 => (env::var("RDI_VALKEY_SERVER"), None),
            ServerKind::Valkey8 => (
                env::var("RDI_VALKEY8_SERVER"),
                Some(env::var("RDI_REDIS70_LIBS")),
            ),
            ServerKind::Redis70 => (
                env::var("RDI_REDIS70_SERVER"),
                Some(env::var("RDI_REDIS70_LIBS")),
            ),
        }
    }

    fn args(&self) -> Vec<String> {
        let dir = self.dir.path().display().to_string();
        let mut args: Vec<String> = vec![
            "--port".into(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.clone(),
            "--logfile".into(),
            format!("{dir}/redis.log"),
            "--daemonize".into(),
            "no".into(),
            "--save".into(),
            self.opts.save.clone().unwrap_or_default(),
            "--appendonly".into(),
            if self.opts.appendonly { "yes" } else { "no" }.into(),
        ];
        if let Some(policy) = &self.opts.appendfsync {
            args.extend(["--appendfsync".into(), policy.clone()]);
        }
        if self.opts.kind == ServerKind::Redis74 {
            args.extend(["--loadmodule".into(), env::var("RDI_REJSON")]);
        }
        if self.opts.load_module {
            args.extend([
                "--loadmodule".into(),
                env::module_path().display().to_string(),
            ]);
            args.extend(self.opts.module_args.iter().cloned());
        }
        args.extend(self.opts.extra_args.iter().cloned());
        args
    }

    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        if self.opts.load_module && !env::module_path().exists() {
            return Err(StartError {
                reason: format!(
                    "module {} not built: run `cargo build --release` (or set RDI_MODULE)",
                    env::module_path().display()
                ),
                exit: None,
                log: String::new(),
            });
        }
        let (binary, libs) = Self::binary(self.opts.kind);
        let stderr = File::create(self.dir.path().join("stderr.log")).expect("stderr file");
        let mut command = Command::new(&binary);
        command
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(libs) = libs {
            command.env("LD_LIBRARY_PATH", libs);
        }
        command.envs(self.opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {binary}: {e}"));
        // Disarmed whenever the harness stops the process itself, so it fires only if this test
        // process dies first; the directory goes too, as nobody is left to read it.
        let dir = self.dir.path().display();
        self.watchdog = Some(Watchdog::arm(&format!(
            "kill -9 {}; rm -rf {dir}",
            child.id()
        )));
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until PING answers PONG (not LOADING), the process exits, or the deadline passes.
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let start = Instant::now();
        let url = format!("redis://127.0.0.1:{}/", self.port);
        let client = redis::Client::open(url).expect("redis url");
        loop {
            let child = self.child.as_mut().expect("spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.disarm_watchdog();
                self.child = None;
                return Err(StartError {
                    reason: format!("server on port {} exited during start", self.port),
                    exit: Some(status),
                    log: self.log(),
                });
            }
            let pid = child.id();
            let pong = client
                .get_connection_with_timeout(Duration::from_millis(500))
                .and_then(|mut connection| {
                    let pong = redis::cmd("PING").query::<String>(&mut connection)?;
                    // Another test's server may have taken the port first (ours then exits with
                    // "Address already in use"): only our own process counts.
                    let info = redis::cmd("INFO")
                        .arg("server")
                        .query::<String>(&mut connection)?;
                    Ok((pong, info.contains(&format!("process_id:{pid}\r\n"))))
                });
            if matches!(&pong, Ok((p, true)) if p == "PONG") {
                return Ok(());
            }
            if start.elapsed() > START_DEADLINE {
                self.kill9();
                return Err(StartError {
                    reason: format!(
                        "server on port {} did not answer PING within {START_DEADLINE:?}",
                        self.port
                    ),
                    exit: None,
                    log: self.log(),
                });
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// SIGTERM (Redis treats it as SHUTDOWN), then SIGKILL if it is still there after the deadline.
    fn stop_gracefully(&mut self) {
        self.disarm_watchdog();
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < SHUTDOWN_DEADLINE {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl RedisServer {
    /// The process is being stopped here: the watchdog must not kill its PID later.
    fn disarm_watchdog(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.disarm();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!(
                "server on port {} kept in {}; log tail:\n{}",
                self.port,
                self.dir.path().display(),
                tail(&self.log(), 60)
            );
        }
    }
}

/// The log file and stderr of a server directory, concatenated.
fn read_log(dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let (log, stderr) = (read("redis.log"), read("stderr.log"));
    if stderr.is_empty() {
        log
    } else {
        format!("{log}--- stderr ---\n{stderr}")
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
