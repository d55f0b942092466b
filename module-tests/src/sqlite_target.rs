//! SQLite target files: created with their tables by the test, read back after the module wrote them.

use rusqlite::types::ValueRef;
use std::path::Path;

/// Creates (or opens) the SQLite file at `path` and runs `ddl` in it.
pub fn create(path: &Path, ddl: &str) {
    let connection =
        rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    connection
        .execute_batch(ddl)
        .unwrap_or_else(|e| panic!("{ddl}: {e}"));
}

/// The rows of `sql`, each value rendered as text (`None` for NULL), so rows compare with `fixture::row`.
pub fn rows(path: &Path, sql: &str) -> Vec<Vec<Option<String>>> {
    let connection =
        rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut statement = connection
        .prepare(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let columns = statement.column_count();
    let mut result = Vec::new();
    let mut rows = statement.query([]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    while let Some(row) = rows.next().unwrap_or_else(|e| panic!("{sql}: {e}")) {
        let values = (0..columns)
            .map(|i| match row.get_ref(i).expect("column") {
                ValueRef::Null => None,
                ValueRef::Integer(n) => Some(n.to_string()),
                ValueRef::Real(x) => Some(x.to_string()),
                ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Some(format!("blob:{}", String::from_utf8_lossy(b))),
            })
            .collect();
        result.push(values);
    }
    result
}

/// The usual small pipeline: a SQLite file `target.db` in the server's directory with table
/// `emp (id, name)`, and job `emp` (`emp:*` → emp, key `id`, column `name`) deployed on `redis`.
/// Returns the file's path.
pub fn deploy_emp(redis: &crate::RedisServer) -> std::path::PathBuf {
    let db = redis.dir().join("target.db");
    create(&db, "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT)");
    crate::deploy_ok(
        &mut redis.client(),
        &crate::yaml::sqlite_config(&db, &[]),
        &[(
            "emp",
            &crate::yaml::sqlite_job("emp:*", "emp", &["id"], &["name"]),
        )],
    );
    db
}

/// The write lock of a SQLite file, held by another connection (`BEGIN EXCLUSIVE`) on a thread of its
/// own, as a slow or busy client of the target would hold it.
pub struct Lock {
    release: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<std::time::Instant>,
}

/// Takes the write lock of the SQLite file at `path` and returns once it is held. It is released by
/// [`Lock::release`], or after `at_most` in any case.
pub fn lock(path: &Path, at_most: std::time::Duration) -> Lock {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, is_held) = std::sync::mpsc::channel::<()>();
    let path = path.to_path_buf();
    let thread = std::thread::spawn(move || {
        let connection = rusqlite::Connection::open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        connection
            .execute_batch("BEGIN EXCLUSIVE")
            .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
        let _ = held.send(());
        let _ = released.recv_timeout(at_most);
        connection
            .execute_batch("COMMIT")
            .unwrap_or_else(|e| panic!("unlock {}: {e}", path.display()));
        std::time::Instant::now()
    });
    is_held.recv().expect("the lock thread took the lock");
    Lock { release, thread }
}

impl Lock {
    /// Releases the lock now; returns when it was released.
    pub fn release(self) -> std::time::Instant {
        let _ = self.release.send(());
        self.wait()
    }

    /// Waits until the lock is released (after `at_most`); returns when it was.
    pub fn wait(self) -> std::time::Instant {
        self.thread.join().expect("the lock thread")
    }
}
