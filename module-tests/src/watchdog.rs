//! Servers that do not outlive the test process, even when it is killed before its `Drop`s run.
//!
//! A watchdog is `setsid sh -c 'read _; <command>'` whose stdin is a pipe whose only write end this
//! process holds (Rust opens pipes close-on-exec, so no other child inherits it). When the test process
//! ends for any reason (normal exit, panic, abort, SIGKILL), the kernel closes the pipe, `read` sees
//! end-of-file and the shell runs `<command>` (stop PostgreSQL, kill Redis by its PID). `setsid` keeps
//! the watchdog out of the test's process group, so a Ctrl-C that stops the tests does not kill it
//! first. A `static` (the shared PostgreSQL) is never dropped, so this is also how it gets stopped.

use std::process::{Child, Command, Stdio};

/// A shell waiting for this process to end, then running its command.
pub struct Watchdog {
    child: Child,
}

impl Watchdog {
    /// Starts a watchdog that runs `command` (a shell command line) once this process is gone.
    pub fn arm(command: &str) -> Watchdog {
        let child = Command::new("setsid")
            .args(["sh", "-c", &format!("read _; {command}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a watchdog");
        Watchdog { child }
    }

    /// Ends the watchdog without running its command (the server was stopped by other means).
    pub fn disarm(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the command now and waits for it.
    pub fn fire(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
