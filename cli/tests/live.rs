//! `redis-di status --live` in a real terminal (tmux): the per-job counters and lag redraw in place.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{call, ok, server, sqlite_pipeline, wait_until, BIN};

/// A detached tmux session, killed by name when dropped.
struct Tmux(String);

impl Tmux {
    fn capture(&self) -> String {
        Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

fn inserted(screen: &str) -> Option<String> {
    let row = screen.lines().find(|l| l.starts_with("emp "))?;
    row.split_whitespace().nth(3).map(str::to_string)
}

#[test]
fn live_status_redraws_counters_in_a_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let redis = server();
    let port = redis.port();
    let work = tempfile::tempdir().unwrap();
    sqlite_pipeline(&redis, work.path());
    ok(port, &["deploy", "--dir", &work.path().to_string_lossy()]);

    let session = Tmux(format!("rdi-live-{port}"));
    let shell = format!("{BIN} --rdi-port {port} status --live --interval 0.2");
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session.0,
            "-x",
            "160",
            "-y",
            "40",
            &shell,
        ])
        .status()
        .unwrap();
    assert!(started.success());
    wait_until(
        Duration::from_secs(20),
        "the live view shows the job",
        || inserted(&session.capture()).as_deref() == Some("0"),
    );
    let first = session.capture();
    assert!(first.starts_with("Engine: RUNNING"), "{first}");
    assert!(first.contains("Ctrl-C to quit"), "{first}");

    let mut r = redis.client();
    for i in 0..3 {
        let name = format!("n{i}");
        call(
            &mut r,
            &[
                "HSET",
                &format!("emp:{i}"),
                "first_name",
                &name,
                "last_name",
                "x",
            ],
        );
    }
    wait_until(
        Duration::from_secs(20),
        "the live view counts 3 inserts",
        || inserted(&session.capture()).as_deref() == Some("3"),
    );
    let screen = session.capture();
    // Redrawn in place: one header, not one per refresh.
    assert_eq!(screen.matches("Engine: RUNNING").count(), 1, "{screen}");
    println!("--- redis-di status --live ---\n{screen}");
}
