// REPLICA IDENTITY FULL tables without an index: set-based apply. Changed one by one, each UPDATE
// or DELETE has to scan the whole table for one matching row, the row versions the group already
// wrote included, so a group's cost grows with the square of its length. Instead, a group's
// changes to such a table are kept as a multiset of whole rows — per distinct row, how many copies
// the group added or removed (an UPDATE removes its old row and adds its new one) — and go out
// when the group commits as one DELETE of exactly that many copies of each removed row (one scan
// of the table) and one multi-row INSERT of the added ones. The result equals applying the changes
// in order because
// - rows without a key are told apart by their values only: which of two equal rows a change
//   took cannot be seen, only how many copies of each row there are;
// - the group commits atomically: nobody sees the states in between;
// - deleting first, then inserting, goes through subsets of the final rows: a unique index or
//   exclusion constraint the final rows satisfy holds all along;
// - classify_full() asks for no trigger that fires in replica mode, no rule, and no target column
//   the source does not send (a delete + insert would reset it where an UPDATE keeps it).
// Rows are compared as the target's text of the row (ROW(...)::text, both sides through the
// column's type), which is what a hash join can match, and equal exactly when the values are.
#include "codecs/sql_text.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/cdc/apply_sql.hpp"

#include <algorithm>
#include <cstring>

namespace uringmig::engine::cdc {

namespace pg = connectors::postgres;
namespace pgo = codecs::pgoutput;
namespace asio = boost::asio;

using detail::append_key;

namespace {

constexpr std::size_t max_full_entries = 50000;  // distinct rows per table, then it goes out

}  // namespace

void applier::classify_full(detail::relation_info& rel, const detail::target_table& target) {
  rel.full_set = false;
  rel.full_scan = false;
  if (rel.identity != 'f') return;
  // An index that finds candidate rows without a scan (what PostgreSQL 16's own apply uses for
  // REPLICA IDENTITY FULL): change by change is fine then.
  if (target.lookup_index) return;
  const auto written = std::count_if(rel.columns.begin(), rel.columns.end(),
                                     [](const detail::column_info& c) { return c.write; });
  const auto stored = std::count_if(target.columns.begin(), target.columns.end(),
                                    [](const detail::target_column& c) { return !c.generated; });
  rel.full_set = opts_.coalesce && !target.ordered && written == stored;
  rel.full_scan = !rel.full_set;
}

applier::step applier::full_change_now(std::uint32_t oid, std::span<const pgo::column_value> old,
                                       std::span<const pgo::column_value> added) {
  const auto& rel = relation(oid);
  // An added row's value not sent (unchanged TOAST) is the old row's.
  const auto value_at = [&](std::size_t i) -> const pgo::column_value& {
    return added[i].is_unchanged_toast() && !old.empty() ? old[i] : added[i];
  };
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    if (!old.empty() && old[i].is_unchanged_toast()) return step::statement;
    if (!added.empty() && value_at(i).is_unchanged_toast()) return step::statement;
  }
  detail::full_table& t = full_[oid];
  // Two rows at most (an update's old and new): the multiset goes out before it would be full.
  if (t.delta.size() + 2 >= max_full_entries) return step::flush_first;
  const auto count = [&](std::span<const pgo::column_value> row, bool from_old, int delta) {
    std::string& key = key_scratch_;
    key.clear();
    for (std::size_t i = 0; i < rel.columns.size(); ++i)
      append_key(key, from_old ? row[i] : value_at(i));
    std::size_t at = t.index.find(key);
    if (at == detail::key_index::npos) {
      at = t.delta.size();
      t.index.insert(key, at);
      for (std::size_t i = 0; i < rel.columns.size(); ++i)
        t.values.push(detail::text_of(from_old ? row[i] : value_at(i), rel, i));
      t.delta.push_back(0);
    }
    t.delta[at] += delta;
  };
  if (!old.empty()) count(old, true, -1);
  if (!added.empty()) count(added, false, 1);
  ++group_changes_;
  ++group_statements_;
  touch_group();
  return step::done;
}

asio::awaitable<bool> applier::full_change(std::uint32_t oid,
                                           std::span<const pgo::column_value> old,
                                           std::span<const pgo::column_value> added) {
  for (;;) {
    const step s = full_change_now(oid, old, added);
    if (s != step::flush_first) co_return s == step::done;
    co_await flush_full(oid);
  }
}

asio::awaitable<void> applier::flush_all_full() {
  for (;;) {
    const auto it = std::find_if(full_.begin(), full_.end(),
                                 [](const auto& f) { return !f.second.delta.empty(); });
    if (it == full_.end()) co_return;
    co_await flush_full(it->first);
  }
}

asio::awaitable<void> applier::flush_full(std::uint32_t oid) {
  auto found = full_.find(oid);
  if (found == full_.end() || found->second.delta.empty()) co_return;
  detail::full_table t = std::move(found->second);
  found->second = detail::full_table{};
  const auto& rel = relation(oid);
  const std::size_t width = rel.columns.size();

  // Removed rows: one text[] per column and the copies to remove, for one DELETE.
  std::vector<std::string> arrays(width + 1, "{");
  std::size_t removed = 0;
  detail::insert_run inserts = new_insert_run(oid);
  inserts.counted = true;
  const auto value = [&](std::size_t v) -> std::optional<std::string_view> {
    if (!t.values.has_text(v)) return std::nullopt;
    return t.values.text(v);
  };
  for (std::size_t e = 0; e < t.delta.size(); ++e) {
    const std::int64_t delta = t.delta[e];
    if (delta < 0) {
      for (std::size_t i = 0; i < width; ++i) {
        if (arrays[i].size() > 1) arrays[i] += ',';
        detail::append_array_item(arrays[i], value(e * width + i));
      }
      if (arrays[width].size() > 1) arrays[width] += ',';
      arrays[width] += std::to_string(-delta);
      removed += static_cast<std::size_t>(-delta);
    }
    for (std::int64_t k = 0; k < delta; ++k) {
      for (std::size_t i = 0; i < width; ++i) {
        if (rel.columns[i].write) inserts.values.push_from(t.values, e * width + i);
      }
      ++inserts.rows;
    }
  }
  if (removed != 0) {
    const std::string key = "FD:" + std::to_string(oid) + ":" + std::to_string(rel.generation);
    std::string sql;
    if (statements_.find(key) == statements_.end()) {
      std::string cols, typed, casts, names;
      for (std::size_t i = 0; i < width; ++i) {
        const std::string c = "c" + std::to_string(i);
        cols += (i ? ", " : "") + c;
        typed += "$" + std::to_string(i + 1) + "::text[], ";
        casts += (i ? ", u." : "u.") + c + "::" + rel.columns[i].full_type;
        names += (i ? ", t." : "t.") + codecs::quote_ident(rel.columns[i].name);
      }
      // s: each removed row once (as the target's text of it) with the copies to remove;
      // d: that many of the table's matching row versions, found in one scan and a hash join.
      sql = "WITH s AS MATERIALIZED (SELECT k, sum(n) AS n FROM (SELECT ROW(" + casts +
            ")::text AS k, u.n FROM unnest(" + typed + "$" + std::to_string(width + 1) +
            "::bigint[]) AS u(" + cols +
            ", n)) x GROUP BY k), "
            "m AS (SELECT t.tableoid AS r, t.ctid AS c, ROW(" +
            names + ")::text AS k FROM " + rel.qualified +
            " t), "
            "d AS (SELECT x.r, x.c FROM (SELECT m.r, m.c, m.k, row_number() OVER (PARTITION BY "
            "m.k) AS rn FROM m WHERE m.k IN (SELECT k FROM s)) x JOIN s ON s.k = x.k "
            "WHERE x.rn <= s.n) "
            "DELETE FROM " +
            rel.qualified + " t USING d WHERE t.tableoid = d.r AND t.ctid = d.c";
    }
    pg::statement s;
    s.sql = co_await prepared(key, std::move(sql), rel.qualified);
    s.prepared = true;
    for (auto& a : arrays)
      s.params.push_back(std::move(a) + "}");
    // enable_seqscan is off in apply sessions (see open()): this statement wants one scan.
    pg::statement on;
    on.sql = "SET LOCAL enable_seqscan = on";
    co_await add(std::move(on), 0, true);
    co_await add(std::move(s), removed, true);
    pg::statement off;
    off.sql = "SET LOCAL enable_seqscan = off";
    co_await add(std::move(off), 0, true);
  }
  // Its index and buffers serve the table's next group.
  t.index.clear();
  t.delta.clear();
  t.values.clear();
  full_[oid] = std::move(t);
  if (inserts.rows != 0) co_await emit_insert_run(std::move(inserts));
}

}  // namespace uringmig::engine::cdc
