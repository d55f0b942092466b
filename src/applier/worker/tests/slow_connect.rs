//! A target whose connect does not answer holds only its own jobs (`writers.rs`).

use std::sync::atomic::AtomicBool;

use super::*;

#[test]
fn a_connect_that_does_not_answer_holds_only_its_own_jobs() {
    let mut d = deployment();
    d.applier.writer_threads = 1;
    d.connections.insert(
        "slow".into(),
        Connection::Sqlite {
            path: "slow.db".into(),
        },
    );
    let template = d.jobs[0].clone();
    let mut slow = Job {
        name: "slow".into(),
        ..template.clone()
    };
    if let Output::Relational(out) = &mut slow.outputs[0] {
        out.connection = "slow".into();
    }
    d.jobs = vec![
        slow,
        Job {
            name: "fast".into(),
            ..template
        },
    ];
    let queues = Arc::new(JobQueues::default());
    for job in ["slow", "fast"] {
        let changes: Vec<Change> = (1..=20)
            .map(|i| upsert(i, &format!("{job}-{i}"), job))
            .collect();
        queues.0.lock().unwrap().insert(job.into(), changes);
    }
    let target = Arc::new(Target::default());
    let hang = Arc::new(AtomicBool::new(true));
    let slow_connects = Arc::new(AtomicUsize::new(0));
    let (t, h, n) = (target.clone(), hang.clone(), slow_connects.clone());
    let engine = Engine::start(
        d,
        queues.clone(),
        Arc::new(move |c: &Connection| {
            if matches!(c, Connection::Sqlite { path } if path == "slow.db") {
                n.fetch_add(1, Ordering::SeqCst);
                // A host that drops packets: nothing answers until the test lets it.
                while h.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            Ok(Box::new(FakeWriter(t.clone())) as Box<dyn Writer>)
        }),
        &|_| None,
        &|_| None,
    );
    let pending = |job: &str| queues.0.lock().unwrap()[job].len();
    wait_for("the fast job to drain", || pending("fast") == 0);
    assert_eq!(pending("slow"), 20);
    // One connect is under way, not one per attempt.
    assert_eq!(slow_connects.load(Ordering::SeqCst), 1);
    let slow = &engine.jobs()[0].stats;
    wait_for("the slow job to show why it waits", || {
        slow.last_error().is_some_and(|e| {
            e.message
                == "slow: transient target error: connecting: no answer after 1 s yet; the attempt \
                    goes on (up to the connection's connect timeout) while the thread serves its \
                    other jobs"
        })
    });

    // The connect answers: the slow job's changes follow, through that connection.
    hang.store(false, Ordering::SeqCst);
    wait_for("the slow job to drain", || pending("slow") == 0);
    assert_eq!(slow_connects.load(Ordering::SeqCst), 1);
    assert_eq!(target.rows.lock().unwrap().len(), 40);
    assert!(engine.stop_and_join(Duration::from_secs(5)));
}
