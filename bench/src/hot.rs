//! Figure 6, hot keys: target writes per client write when 100 keys take every update.

use module_tests::PgServer;

use crate::{load, metric, pg_pipeline, wait_drained, Bench};

pub fn hot_keys(b: &mut Bench, pg: &PgServer) {
    let ddl = "CREATE TABLE hot (id bigint PRIMARY KEY, ts bigint, name text)";
    let redis = pg_pipeline(pg, "hot", ddl, "hot:*", "hot", &["ts", "name"]);
    let mut conn = redis.client();
    let rows0 = metric(&mut conn, "rdi_batch_rows_sum");
    let (sent, achieved) = load::load_at_rate(redis.port(), "hot:", 50_000, 4.0, |k| k % 100);
    wait_drained(&mut conn, "hot keys");
    let rows = metric(&mut conn, "rdi_batch_rows_sum") - rows0;
    let coalesced = metric(&mut conn, "rdi_coalesced_total");
    let per = rows / sent as f64;
    println!("  {sent} updates of 100 keys at {achieved:.0}/s: {rows} rows written, {coalesced} coalesced");
    b.fig(
        "6. hot keys: target writes per client write (100 keys, 50k updates/s)",
        format!("{per:.4}"),
        "1 (one row per change)".into(),
        per,
        "-",
        None,
    );
}
