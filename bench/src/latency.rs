//! Figure 3, latency from a client's write to its commit in PostgreSQL, at a fixed rate.

use module_tests::PgServer;

use crate::load::quantile;
use crate::{load, ms, pg_pipeline, raw, wait_drained, Bench};

pub fn latency(b: &mut Bench, pg: &PgServer) {
    let ddl = "CREATE TABLE lat (id bigint PRIMARY KEY, ts bigint, name text, \
               committed timestamptz NOT NULL DEFAULT clock_timestamp())";
    let redis = pg_pipeline(pg, "lat", ddl, "lat:*", "lat", &["ts", "name"]);
    let mut conn = redis.client();
    let mut raw_client = pg.client("lat");
    let mut single = raw::pg_single_row_latency(&mut raw_client, "raw_lat", 2000);
    let base = [0.5, 0.99, 0.999].map(|q| quantile(&mut single, q));
    for (rate, seconds, offset, goal) in [
        (1_000u64, 10.0, 0u64, "p50 ≤ 5 ms"),
        (10_000, 6.0, 10_000_000, "p99 ≤ 50 ms"),
    ] {
        let (sent, achieved) =
            load::load_at_rate(redis.port(), "lat:", rate, seconds, |k| k + offset);
        wait_drained(&mut conn, "latency");
        let row = raw_client
            .query_one(
                "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY d), \
                        percentile_disc(0.99) WITHIN GROUP (ORDER BY d), \
                        percentile_disc(0.999) WITHIN GROUP (ORDER BY d), count(*) \
                 FROM (SELECT (extract(epoch FROM committed) * 1000000)::bigint - ts AS d \
                       FROM lat WHERE id >= $1 AND id < $2) s",
                &[&(offset as i64), &((offset + sent) as i64)],
            )
            .expect("latency query");
        let (p50, p99, p999, count): (i64, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        println!("  {rate}/s: {sent} changes sent at {achieved:.0}/s, {count} rows");
        // Where the tail is: the changes over 5 ms, by their place in the load (ids are sent in order).
        let slow = raw_client
            .query(
                "SELECT id - $1, d FROM (SELECT id, (extract(epoch FROM committed) * 1000000)::bigint - ts AS d \
                 FROM lat WHERE id >= $1 AND id < $2) s WHERE d > 5000 ORDER BY id",
                &[&(offset as i64), &((offset + sent) as i64)],
            )
            .expect("latency tail query");
        let tail: Vec<String> = slow
            .iter()
            .map(|r| format!("#{} {}", r.get::<_, i64>(0), ms(r.get::<_, i64>(1) as u64)))
            .collect();
        const SHOWN: usize = 12;
        let more = match tail.len().saturating_sub(SHOWN) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        println!(
            "  {rate}/s: {} changes over 5 ms: {}{more}",
            tail.len(),
            tail[..tail.len().min(SHOWN)].join(", ")
        );
        let met = if rate == 1_000 {
            p50 <= 5_000
        } else {
            p99 <= 50_000
        };
        b.fig(
            &format!(
                "3. latency write→commit at {}k/s (p50 / p99 / p99.9)",
                rate / 1000
            ),
            format!(
                "{} / {} / {}",
                ms(p50 as u64),
                ms(p99 as u64),
                ms(p999 as u64)
            ),
            format!(
                "{} / {} / {} (raw single-row upsert)",
                ms(base[0]),
                ms(base[1]),
                ms(base[2])
            ),
            p50 as f64 / base[0].max(1) as f64,
            goal,
            Some(met),
        );
    }
    b.notes.push(
        "Latency: each HSET carries the client's clock (µs) in field `ts`; the row's `committed` column \
         defaults to clock_timestamp() at insert, in the writer's transaction (it omits the few ms between \
         that statement and COMMIT). Ratio: p50 against the p50 of a raw single-row upsert round trip."
            .into(),
    );
}
