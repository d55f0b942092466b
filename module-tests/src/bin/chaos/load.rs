//! The load generator: writer threads that each own a slice of the ids, HSET or DEL `kv:<id>` at random
//! and remember every operation they issued and whether it was acknowledged (and replicated, when
//! asked): the ground truth the comparison checks Redis and PostgreSQL against.

use module_tests::cluster::Router;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Writer threads of a load.
pub const THREADS: usize = 4;
/// Ids each writer thread owns (it alone writes them, so their order is known).
pub const IDS_PER_THREAD: u32 = 500;
/// Most operations one writer thread issues in a run (the load is also bounded in time).
pub const MAX_OPS_PER_THREAD: u64 = 200_000;
/// Out of 100 operations, how many are DEL (the rest are HSET).
const DEL_PERCENT: u64 = 12;

/// All ids a load writes: `0..TOTAL_IDS`.
pub const TOTAL_IDS: u32 = THREADS as u32 * IDS_PER_THREAD;

/// One operation issued on a key: the value it set (`None` for DEL) and whether it must survive.
#[derive(Clone, Debug)]
pub struct Op {
    /// The value of field `v` it set, `None` for a DEL.
    pub value: Option<String>,
    /// Acknowledged (and, when the load asks for it, acknowledged by a replica with `WAIT 1`).
    pub must_survive: bool,
}

/// What the writers did, per id.
pub type History = Vec<Vec<Op>>;

/// The settings writers read while they run: where to write and whether to require a replica.
pub struct Target {
    /// The Redis port to write to (changed on failover).
    pub port: AtomicU16,
    /// Whether an operation counts only after `WAIT 1` confirmed a replica has it.
    pub require_replica: AtomicBool,
    /// The ports of a cluster's primaries: commands go to the owner of their key (MOVED and ASK
    /// followed), and `port` is not used.
    pub cluster: Option<Vec<u16>>,
}

/// A running load.
pub struct Load {
    target: Arc<Target>,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    threads: Vec<JoinHandle<Vec<(u32, Op)>>>,
}

impl Load {
    /// Starts [`THREADS`] writers against 127.0.0.1:`port`, for at most `limit`.
    pub fn start(port: u16, require_replica: bool, limit: Duration, tag: &str) -> Load {
        Self::start_on(
            Target {
                port: AtomicU16::new(port),
                require_replica: AtomicBool::new(require_replica),
                cluster: None,
            },
            limit,
            tag,
        )
    }

    /// Starts [`THREADS`] writers against the cluster whose primaries listen on `ports`.
    pub fn start_cluster(ports: Vec<u16>, limit: Duration, tag: &str) -> Load {
        Self::start_on(
            Target {
                port: AtomicU16::new(0),
                require_replica: AtomicBool::new(false),
                cluster: Some(ports),
            },
            limit,
            tag,
        )
    }

    fn start_on(target: Target, limit: Duration, tag: &str) -> Load {
        let target = Arc::new(target);
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + limit;
        let threads = (0..THREADS)
            .map(|t| {
                let (target, stop, acked) = (target.clone(), stop.clone(), acked.clone());
                let tag = format!("{tag}-t{t}");
                std::thread::spawn(move || writer(t as u32, &tag, &target, &stop, &acked, deadline))
            })
            .collect();
        Load {
            target,
            stop,
            acked,
            threads,
        }
    }

    /// What writers read: switch the port or the replica requirement while they run.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Operations that must survive so far.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// Stops the writers and returns what they did.
    pub fn finish(self) -> History {
        self.stop.store(true, Ordering::SeqCst);
        let mut history: History = vec![Vec::new(); TOTAL_IDS as usize];
        for thread in self.threads {
            for (id, op) in thread.join().expect("load thread") {
                history[id as usize].push(op);
            }
        }
        history
    }
}

/// A small xorshift generator: enough to spread operations, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn connect(port: u16) -> Option<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let connection = client
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    connection
        .set_read_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    Some(connection)
}

/// Where a writer thread sends its commands.
enum Conn {
    /// One server, by port.
    Single(u16, redis::Connection),
    /// A cluster.
    Cluster(Router),
}

impl Conn {
    fn open(target: &Target) -> Option<Conn> {
        match &target.cluster {
            Some(ports) => Router::connect(ports).ok().map(Conn::Cluster),
            None => {
                let port = target.port.load(Ordering::SeqCst);
                connect(port).map(|c| Conn::Single(port, c))
            }
        }
    }

    /// Whether this connection still goes where the target says.
    fn current(&self, target: &Target) -> bool {
        match self {
            Conn::Single(port, _) => *port == target.port.load(Ordering::SeqCst),
            Conn::Cluster(_) => true,
        }
    }

    fn query(&mut self, cmd: &redis::Cmd, args: &[String]) -> redis::RedisResult<i64> {
        match self {
            Conn::Single(_, c) => cmd.query(c),
            Conn::Cluster(_) if args.len() < 2 => Err(redis::RedisError::from((
                redis::ErrorKind::ClientError,
                "a cluster command needs a key",
            ))),
            Conn::Cluster(router) => {
                let words: Vec<&str> = args.iter().map(String::as_str).collect();
                redis::from_redis_value(&router.call(&words)?)
            }
        }
    }
}

fn writer(
    t: u32,
    tag: &str,
    target: &Target,
    stop: &AtomicBool,
    acked: &AtomicU64,
    deadline: Instant,
) -> Vec<(u32, Op)> {
    let seed = 0x9E37_79B9_7F4A_7C15 ^ (u64::from(t) + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut rng = Rng(seed);
    let mut ops = Vec::new();
    let mut connection: Option<Conn> = None;
    let mut seq: u64 = 0;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline && seq < MAX_OPS_PER_THREAD {
        if !connection.as_ref().is_some_and(|c| c.current(target)) {
            connection = Conn::open(target);
            if connection.is_none() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        }
        let conn = connection.as_mut().expect("connected");
        let id = t * IDS_PER_THREAD + (rng.next() % u64::from(IDS_PER_THREAD)) as u32;
        seq += 1;
        let key = format!("kv:{id}");
        let value = (rng.next() % 100 >= DEL_PERCENT).then(|| format!("{tag}-{seq}"));
        let args: Vec<String> = match &value {
            Some(v) => vec![
                "HSET".into(),
                key,
                "id".into(),
                id.to_string(),
                "v".into(),
                v.clone(),
                "n".into(),
                (seq % 1000).to_string(),
            ],
            None => vec!["DEL".into(), key],
        };
        let mut cmd = redis::cmd(&args[0]);
        for a in &args[1..] {
            cmd.arg(a);
        }
        let reply = conn.query(&cmd, &args);
        let mut must_survive = reply.is_ok();
        if must_survive && target.require_replica.load(Ordering::SeqCst) {
            let wait = redis::cmd("WAIT").arg(1).arg(200).clone();
            let replicas = conn.query(&wait, &[]);
            must_survive = matches!(replicas, Ok(n) if n >= 1);
        }
        if must_survive {
            acked.fetch_add(1, Ordering::SeqCst);
        }
        let failed = reply.is_err();
        ops.push((
            id,
            Op {
                value,
                must_survive,
            },
        ));
        if failed {
            connection = None;
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    ops
}

/// The sequence number in a value written by [`Load`] (`<tag>-t<thread>-<seq>`).
pub fn seq_of(value: &str) -> u64 {
    value
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
