// The PostgreSQL state store's read side for `uringmig status` and the final summary: the same
// job_status as the SQLite store's, read in one repeatable-read transaction.
#include "engine/core/state_pg.hpp"
#include "engine/core/workers.hpp"

#include <string>

namespace uringmig::engine::detail {

namespace {

/// A timestamptz column as the SQLite store keeps it: ISO 8601 UTC text with milliseconds.
std::string iso(const char* column) {
  return std::string("to_char(") + column +
         R"( AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))";
}

std::string text(const pg::result& r, int row, int col) {
  return std::string(r.value(row, col));
}
std::int64_t int_of(const pg::result& r, int row, int col) {
  return r.is_null(row, col) ? 0 : std::stoll(text(r, row, col));
}
double real_of(const pg::result& r, int row, int col) {
  return r.is_null(row, col) ? 0 : std::stod(text(r, row, col));
}
std::optional<std::string> opt_text(const pg::result& r, int row, int col) {
  if (r.is_null(row, col)) return std::nullopt;
  return text(r, row, col);
}

pg::statement stmt(std::string sql, const std::string& job) {
  pg::statement s;
  s.sql = std::move(sql);
  if (!job.empty()) s.params = pg::make_params(job);
  return s;
}

void read_run(const pg::result& q, job_status& out) {
  if (q.rows() == 0) return;
  run_row r;
  r.id = int_of(q, 0, 0);
  r.started_at = text(q, 0, 1);
  r.finished_at = opt_text(q, 0, 2);
  r.seconds = real_of(q, 0, 3);
  r.command = text(q, 0, 4);
  r.preset = text(q, 0, 5);
  r.source_redacted = text(q, 0, 6);
  r.target_redacted = text(q, 0, 7);
  r.snapshot = opt_text(q, 0, 8);
  r.status = text(q, 0, 9);
  r.message = text(q, 0, 10);
  out.run_count = static_cast<int>(int_of(q, 0, 11));
  out.last_run = std::move(r);
}

void read_tables(const pg::result& q, job_status& out) {
  for (int i = 0; i < q.rows(); ++i) {
    table_row r;
    r.schema = text(q, i, 0);
    r.name = text(q, i, 1);
    r.bytes = int_of(q, i, 2);
    r.rows_estimate = int_of(q, i, 3);
    r.chunks_total = static_cast<int>(int_of(q, i, 4));
    r.chunks_done = static_cast<int>(int_of(q, i, 5));
    r.chunks_failed = static_cast<int>(int_of(q, i, 6));
    r.status = text(q, i, 7);
    r.rows_copied = int_of(q, i, 8);
    r.bytes_copied = int_of(q, i, 9);
    r.copy_seconds = real_of(q, i, 10);
    r.index_seconds = real_of(q, i, 11);
    r.indexes_total = static_cast<int>(int_of(q, i, 12));
    r.indexes_done = static_cast<int>(int_of(q, i, 13));
    r.indexes_failed = static_cast<int>(int_of(q, i, 14));
    r.error = text(q, i, 15);
    out.tables.push_back(std::move(r));
  }
}

/// The job's workers: runs that take chunks by lease (or did, or hold some) — each with the
/// chunks of the current plan it did and whether its process lives.
std::string workers_sql() {
  return "SELECT r.id, coalesce(r.worker_name, ''), r.host, r.pid, " + run_alive_sql("r.id") +
         ", r.status, " + iso("r.started_at") + ", " + iso("r.heartbeat_at") +
         ", coalesce(d.chunks, 0), coalesce(d.rows, 0), coalesce(d.bytes, 0), "
         "extract(epoch FROM coalesce(r.finished_at, CASE WHEN " +
         run_alive_sql("r.id") +
         " THEN clock_timestamp() ELSE greatest(r.heartbeat_at, d.last_done) END, r.started_at) - "
         "r.started_at) FROM uringmig_state.run r LEFT JOIN (SELECT done_run AS run_id, count(*) "
         "AS chunks, sum(rows) AS rows, sum(bytes) AS bytes, "
         "max(done_at) AS last_done FROM uringmig_state.chunk WHERE job = $1 AND status = 'done' "
         "GROUP BY 1) d ON d.run_id = r.id WHERE r.job = $1 AND (d.run_id IS NOT NULL OR "
         "(r.worker AND r.status = 'running') OR EXISTS (SELECT 1 FROM uringmig_state.chunk l "
         "WHERE l.job = $1 AND l.status = 'pending' AND l.leased_run = r.id)) ORDER BY r.id";
}

/// The leases held now, by run: the chunk, until when, whether it ran out.
std::string leases_sql() {
  return "SELECT c.leased_run, c.schema, c.name, c.chunk_no, " + iso("c.lease_until") +
         ", c.lease_until < clock_timestamp() FROM uringmig_state.chunk c LEFT JOIN "
         "uringmig_state.job_table t ON t.job = c.job AND t.schema = c.schema AND t.name = c.name "
         "WHERE c.job = $1 AND c.status = 'pending' AND c.leased_by IS NOT NULL "
         "ORDER BY t.plan_order, c.chunk_no";
}

void read_workers(const pg::result& q, const pg::result& leases, job_status& out) {
  for (int i = 0; i < q.rows(); ++i) {
    worker_row w;
    w.run_id = int_of(q, i, 0);
    w.host = text(q, i, 2);
    w.pid = int_of(q, i, 3);
    // Before its first claim a worker has recorded no name: the one it will give itself.
    w.name = text(q, i, 1);
    if (w.name.empty()) w.name = worker_name(w.run_id, w.host, w.pid);
    w.alive = text(q, i, 4) == "t";
    const std::string status = text(q, i, 5);
    w.state = w.alive ? "alive" : status == "running" || status == "interrupted" ? "dead" : status;
    w.started_at = text(q, i, 6);
    w.last_heartbeat = opt_text(q, i, 7);
    w.chunks_done = static_cast<int>(int_of(q, i, 8));
    w.rows = int_of(q, i, 9);
    w.bytes = int_of(q, i, 10);
    w.seconds = real_of(q, i, 11);
    for (int k = 0; k < leases.rows(); ++k)
      if (!leases.is_null(k, 0) && int_of(leases, k, 0) == w.run_id)
        w.leases.push_back({text(leases, k, 1), text(leases, k, 2),
                            static_cast<int>(int_of(leases, k, 3)), text(leases, k, 4),
                            text(leases, k, 5) == "t"});
    out.workers.push_back(std::move(w));
  }
}

}  // namespace

job_status pg_state::status_snapshot() const {
  std::vector<pg::statement> b;
  b.push_back(stmt("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}));
  b.push_back(stmt("SELECT id, " + iso("started_at") + ", " + iso("finished_at") +
                       ", extract(epoch FROM coalesce(finished_at, clock_timestamp()) - "
                       "started_at), command, preset, source_redacted, target_redacted, snapshot, "
                       "status, message, (SELECT count(*) FROM uringmig_state.run WHERE job = $1) "
                       "FROM uringmig_state.run WHERE job = $1 ORDER BY id DESC LIMIT 1",
                   job_));
  b.push_back(
      stmt("SELECT t.schema, t.name, t.bytes, t.rows_estimate, t.chunk_count, "
           "coalesce(c.done, 0), coalesce(c.failed, 0), t.status, t.rows_copied, t.bytes_copied, "
           "t.copy_seconds, t.index_seconds, coalesce(i.total, 0), coalesce(i.done, 0), "
           "coalesce(i.failed, 0), coalesce(t.error, '') FROM uringmig_state.job_table t "
           "LEFT JOIN (SELECT schema, name, count(*) FILTER (WHERE status = 'done') AS done, "
           "count(*) FILTER (WHERE status = 'failed') AS failed FROM uringmig_state.chunk "
           "WHERE job = $1 GROUP BY schema, name) c ON c.schema = t.schema AND c.name = t.name "
           "LEFT JOIN (SELECT schema, table_name, count(*) AS total, "
           "count(*) FILTER (WHERE status = 'done') AS done, "
           "count(*) FILTER (WHERE status = 'failed') AS failed FROM uringmig_state.job_index "
           "WHERE job = $1 GROUP BY schema, table_name) i ON i.schema = t.schema "
           "AND i.table_name = t.name WHERE t.job = $1 ORDER BY t.plan_order",
           job_));
  b.push_back(stmt(
      "SELECT i.schema, i.table_name, i.index_name, i.kind, i.status, i.seconds, "
      "coalesce(i.error, '') FROM uringmig_state.job_index i LEFT JOIN uringmig_state.job_table "
      "t ON t.job = i.job AND t.schema = i.schema AND t.name = i.table_name WHERE i.job = $1 "
      "ORDER BY t.plan_order, i.schema, i.table_name, i.index_name",
      job_));
  b.push_back(
      stmt("SELECT c.schema, c.name, c.chunk_no, c.attempts, coalesce(c.error, '') FROM "
           "uringmig_state.chunk c LEFT JOIN uringmig_state.job_table t ON t.job = c.job AND "
           "t.schema = c.schema AND t.name = c.name WHERE c.job = $1 AND c.status = 'failed' "
           "ORDER BY t.plan_order, c.chunk_no",
           job_));
  b.push_back(stmt("SELECT key, value FROM uringmig_state.kv WHERE job = $1 ORDER BY key", job_));
  b.push_back(
      stmt("SELECT count(*) FROM uringmig_state.run r WHERE r.job = $1 AND r.status = "
           "'running' AND " +
               run_alive_sql("r.id"),
           job_));
  if (with_workers_) {
    b.push_back(stmt(workers_sql(), job_));
    b.push_back(stmt(leases_sql(), job_));
  }
  b.push_back(stmt("COMMIT", {}));
  const auto out = batch(std::move(b));

  job_status st;
  read_run(out[1], st);
  read_tables(out[2], st);
  const pg::result& ix = out[3];
  for (int i = 0; i < ix.rows(); ++i)
    st.indexes.push_back({text(ix, i, 0), text(ix, i, 1), text(ix, i, 2), text(ix, i, 3),
                          text(ix, i, 4), real_of(ix, i, 5), text(ix, i, 6)});
  const pg::result& fc = out[4];
  for (int i = 0; i < fc.rows(); ++i)
    st.failed_chunks.push_back({text(fc, i, 0), text(fc, i, 1), static_cast<int>(int_of(fc, i, 2)),
                                static_cast<int>(int_of(fc, i, 3)), text(fc, i, 4)});
  const pg::result& kv = out[5];
  for (int i = 0; i < kv.rows(); ++i)
    st.kv.emplace(text(kv, i, 0), text(kv, i, 1));
  st.live_runs = static_cast<int>(int_of(out[6], 0, 0));
  if (with_workers_) read_workers(out[7], out[8], st);
  st.location = where();
  return st;
}

}  // namespace uringmig::engine::detail
