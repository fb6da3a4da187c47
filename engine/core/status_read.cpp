// The SQLite state store's read side for `uringmig status` and the final summary.
#include "engine/core/state_db.hpp"
#include "engine/core/state_store.hpp"

#include <array>
#include <cstdio>

namespace uringmig::engine {

namespace sqlite = connectors::sqlite;
using connectors::sqlite::transaction;

job_status detail::sqlite_state::status_snapshot() const try {
  std::lock_guard lock(mu);
  transaction t(db, transaction::kind::read);
  job_status out;
  {
    auto q = db.prepare(
        "SELECT id, started_at, finished_at, (julianday(coalesce(finished_at, "
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) - julianday(started_at)) * 86400.0, command, "
        "preset, source_redacted, "
        "target_redacted, snapshot, status, message, (SELECT count(*) FROM run) "
        "FROM run ORDER BY id DESC LIMIT 1");
    if (q.step()) {
      run_row r;
      r.id = q.column_int64(0);
      r.started_at = std::string(q.column_text(1));
      r.finished_at = q.column_opt_text(2);
      r.seconds = q.column_double(3);
      r.command = std::string(q.column_text(4));
      r.preset = std::string(q.column_text(5));
      r.source_redacted = std::string(q.column_text(6));
      r.target_redacted = std::string(q.column_text(7));
      r.snapshot = q.column_opt_text(8);
      r.status = std::string(q.column_text(9));
      r.message = std::string(q.column_text(10));
      out.run_count = static_cast<int>(q.column_int64(11));
      out.last_run = std::move(r);
    }
  }
  {
    auto q = db.prepare(
        "SELECT t.schema, t.name, t.bytes, t.rows_estimate, t.chunk_count, "
        "(SELECT count(*) FROM chunk c WHERE c.schema = t.schema AND c.name = t.name "
        "AND c.status = 'done'), "
        "(SELECT count(*) FROM chunk c WHERE c.schema = t.schema AND c.name = t.name "
        "AND c.status = 'failed'), "
        "t.status, t.rows_copied, t.bytes_copied, t.copy_seconds, t.index_seconds, "
        "(SELECT count(*) FROM job_index i WHERE i.schema = t.schema AND i.table_name = t.name), "
        "(SELECT count(*) FROM job_index i WHERE i.schema = t.schema AND i.table_name = t.name "
        "AND i.status = 'done'), "
        "(SELECT count(*) FROM job_index i WHERE i.schema = t.schema AND i.table_name = t.name "
        "AND i.status = 'failed'), "
        "coalesce(t.error, '') FROM job_table t ORDER BY t.plan_order");
    while (q.step()) {
      table_row r;
      r.schema = std::string(q.column_text(0));
      r.name = std::string(q.column_text(1));
      r.bytes = q.column_int64(2);
      r.rows_estimate = q.column_int64(3);
      r.chunks_total = static_cast<int>(q.column_int64(4));
      r.chunks_done = static_cast<int>(q.column_int64(5));
      r.chunks_failed = static_cast<int>(q.column_int64(6));
      r.status = std::string(q.column_text(7));
      r.rows_copied = q.column_int64(8);
      r.bytes_copied = q.column_int64(9);
      r.copy_seconds = q.column_double(10);
      r.index_seconds = q.column_double(11);
      r.indexes_total = static_cast<int>(q.column_int64(12));
      r.indexes_done = static_cast<int>(q.column_int64(13));
      r.indexes_failed = static_cast<int>(q.column_int64(14));
      r.error = std::string(q.column_text(15));
      out.tables.push_back(std::move(r));
    }
  }
  {
    auto q = db.prepare(
        "SELECT i.schema, i.table_name, i.index_name, i.kind, i.status, i.seconds, "
        "coalesce(i.error, '') FROM job_index i LEFT JOIN job_table t ON t.schema = i.schema "
        "AND t.name = i.table_name ORDER BY t.plan_order, i.schema, i.table_name, i.index_name");
    while (q.step()) {
      out.indexes.push_back({std::string(q.column_text(0)), std::string(q.column_text(1)),
                             std::string(q.column_text(2)), std::string(q.column_text(3)),
                             std::string(q.column_text(4)), q.column_double(5),
                             std::string(q.column_text(6))});
    }
  }
  {
    auto q = db.prepare(
        "SELECT c.schema, c.name, c.chunk_no, c.attempts, coalesce(c.error, '') FROM chunk c "
        "LEFT JOIN job_table t ON t.schema = c.schema AND t.name = c.name "
        "WHERE c.status = 'failed' ORDER BY t.plan_order, c.chunk_no");
    while (q.step()) {
      out.failed_chunks.push_back({std::string(q.column_text(0)), std::string(q.column_text(1)),
                                   static_cast<int>(q.column_int64(2)),
                                   static_cast<int>(q.column_int64(3)),
                                   std::string(q.column_text(4))});
    }
  }
  {
    auto q = db.prepare("SELECT key, value FROM kv ORDER BY key");
    while (q.step())
      out.kv.emplace(std::string(q.column_text(0)), std::string(q.column_text(1)));
  }
  t.commit();
  return out;
} catch (const sqlite::error& e) {
  fail(e);
}

std::string fingerprint(const std::vector<std::string>& parts) {
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (const auto& p : parts) {
    for (const char c : p)
      mix(static_cast<unsigned char>(c));
    mix(0x1f);  // separator: {"ab","c"} and {"a","bc"} differ
  }
  std::array<char, 17> buf{};
  std::snprintf(buf.data(), buf.size(), "%016llx", static_cast<unsigned long long>(h));
  return {buf.data(), 16};
}

}  // namespace uringmig::engine
