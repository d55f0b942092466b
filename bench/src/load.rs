//! Load generators that talk RESP directly (no client-library overhead between the load and Redis):
//! bulk loads, rate-limited loads, a PING sampler, and `redis-benchmark` runs.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A raw RESP connection.
pub struct Conn {
    out: TcpStream,
    input: BufReader<TcpStream>,
    buf: Vec<u8>,
    pending: usize,
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
        s.set_nodelay(true).expect("nodelay");
        let input = BufReader::with_capacity(1 << 16, s.try_clone().expect("clone socket"));
        Conn {
            out: s,
            input,
            buf: Vec::with_capacity(1 << 20),
            pending: 0,
        }
    }

    /// Queues one command (sent by [`Conn::flush`]).
    pub fn push(&mut self, args: &[&[u8]]) {
        encode(&mut self.buf, args);
        self.pending += 1;
    }

    /// Sends the queued commands and reads one reply each (integer, status or bulk replies).
    pub fn flush(&mut self) {
        self.out.write_all(&self.buf).expect("write to redis");
        self.buf.clear();
        let n = std::mem::take(&mut self.pending);
        self.read_replies(n);
    }

    /// Sends `n` commands encoded beforehand and reads their replies.
    pub fn send_encoded(&mut self, bytes: &[u8], n: usize) {
        self.out.write_all(bytes).expect("write to redis");
        self.read_replies(n);
    }

    fn read_replies(&mut self, n: usize) {
        let mut line = String::new();
        for _ in 0..n {
            line.clear();
            self.input.read_line(&mut line).expect("read from redis");
            match line.as_bytes().first() {
                Some(b'-') => panic!("redis replied {}", line.trim()),
                Some(b'$') => {
                    let n: i64 = line[1..].trim().parse().expect("bulk length");
                    if n >= 0 {
                        let mut skip = vec![0u8; n as usize + 2];
                        std::io::Read::read_exact(&mut self.input, &mut skip).expect("bulk");
                    }
                }
                Some(_) => {}
                None => panic!("redis closed the connection"),
            }
        }
    }
}

/// The 5-field hash of row `i`: the same values the raw-client baselines write.
pub fn row_fields(i: u64) -> [String; 5] {
    [
        i.to_string(),
        format!("name-{i}"),
        format!("user{i}@example.com"),
        format!("city-{}", i % 1000),
        (i % 100).to_string(),
    ]
}

pub const FIELD_NAMES: [&str; 5] = ["id", "name", "email", "city", "age"];

fn push_hset(c: &mut Encoder, key: &str, v: &[String; 5]) {
    let mut args: Vec<&[u8]> = vec![b"HSET", key.as_bytes()];
    for (f, x) in FIELD_NAMES.iter().zip(v) {
        args.push(f.as_bytes());
        args.push(x.as_bytes());
    }
    c.push(&args);
}

/// Connections that [`load_hashes`] writes on at once: `BENCH_LOAD_CONNECTIONS`, default 4.
pub fn load_connections() -> usize {
    std::env::var("BENCH_LOAD_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(4)
}

/// Writes `HSET <prefix><i>` for every `i` in `range` as fast as Redis takes them: the keys are split
/// between [`load_connections`] connections, each sending `pipeline` commands per round trip (so that
/// Redis always has a connection's commands to serve while another waits for its replies). The
/// commands are encoded before the clock starts: the load generator then costs only its socket writes
/// and reads, on the 2 cores it shares with Redis and the target. Returns the time to send them all
/// and read every reply.
pub fn load_hashes(
    port: u16,
    prefix: &str,
    range: std::ops::Range<u64>,
    pipeline: usize,
) -> Duration {
    load_hashes_timed(port, prefix, range, pipeline).1
}

/// Like [`load_hashes`], and also when the first command was sent (after the encoding): where an
/// end-to-end time starts.
pub fn load_hashes_timed(
    port: u16,
    prefix: &str,
    range: std::ops::Range<u64>,
    pipeline: usize,
) -> (Instant, Duration) {
    let ids: Vec<u64> = range.collect();
    let per = ids.len().div_ceil(load_connections()).max(1);
    let work: Vec<Vec<(Vec<u8>, usize)>> = ids
        .chunks(per)
        .map(|part| {
            part.chunks(pipeline.max(1))
                .map(|round| {
                    let mut c = Encoder::default();
                    for i in round {
                        push_hset(&mut c, &format!("{prefix}{i}"), &row_fields(*i));
                    }
                    (c.buf, round.len())
                })
                .collect()
        })
        .collect();
    let mut conns: Vec<Conn> = work.iter().map(|_| Conn::open(port)).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (conn, rounds) in conns.iter_mut().zip(&work) {
            s.spawn(move || {
                for (bytes, n) in rounds {
                    conn.send_encoded(bytes, *n);
                }
            });
        }
    });
    (start, start.elapsed())
}

/// Commands encoded into a buffer, to send later.
#[derive(Default)]
struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    fn push(&mut self, args: &[&[u8]]) {
        encode(&mut self.buf, args);
    }
}

/// Appends one command in RESP.
fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Microseconds since the epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Writes `rate` changes per second for `seconds`, sending what is due every millisecond. Each change
/// is `HSET <prefix><key> id <key> ts <client µs> ...` where `key` comes from `key_of(n)`. Returns the
/// number of changes sent and the rate achieved.
pub fn load_at_rate(
    port: u16,
    prefix: &str,
    rate: u64,
    seconds: f64,
    key_of: impl Fn(u64) -> u64,
) -> (u64, f64) {
    let mut c = Conn::open(port);
    let total = (rate as f64 * seconds) as u64;
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
        while sent < due {
            let k = key_of(sent);
            let ts = now_us().to_string();
            let id = k.to_string();
            let key = format!("{prefix}{k}");
            let name = format!("name-{sent}");
            c.push(&[
                b"HSET",
                key.as_bytes(),
                b"id",
                id.as_bytes(),
                b"ts",
                ts.as_bytes(),
                b"name",
                name.as_bytes(),
            ]);
            sent += 1;
        }
        if c.pending > 0 {
            c.flush();
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    (sent, sent as f64 / start.elapsed().as_secs_f64())
}

/// Sends PING about every millisecond from its own connection until stopped; the latencies in µs.
pub struct PingSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<u64>>,
}

impl PingSampler {
    pub fn start(port: u16) -> PingSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut c = Conn::open(port);
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let t = Instant::now();
                c.push(&[b"PING"]);
                c.flush();
                samples.push(t.elapsed().as_micros() as u64);
                std::thread::sleep(Duration::from_millis(1));
            }
            samples
        });
        PingSampler { stop, handle }
    }

    pub fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("ping sampler")
    }
}

/// The `q`-quantile of samples (sorted in place).
pub fn quantile(samples: &mut [u64], q: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    samples.sort_unstable();
    let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i]
}

/// Runs `redis-benchmark` and returns requests per second.
pub fn redis_benchmark(port: u16, n: u64, clients: u32, pipeline: u32, command: &[&str]) -> f64 {
    let bin = module_tests::env::var("RDI_REDIS_BENCHMARK");
    let libs = module_tests::env::var("RDI_STACK_LIBS");
    let out = Command::new(&bin)
        .env("LD_LIBRARY_PATH", libs)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-n", &n.to_string(), "-r", "100000"])
        .args(["-c", &clients.to_string(), "-P", &pipeline.to_string()])
        .arg("--csv")
        .args(command)
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        // The test name may hold commas and quotes: the rate is the 7th field from the end.
        .filter_map(|l| l.rsplit(',').nth(6))
        .filter_map(|v| v.trim_matches('"').parse::<f64>().ok())
        .next_back()
        .unwrap_or_else(|| {
            panic!(
                "redis-benchmark printed no rate:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}
