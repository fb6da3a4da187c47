// A table's definition changing on the source while following: pgoutput sends its Relation
// message again, with the columns the source has now. A column added there is added on the
// target with the type the message names (resolved on the source: format_type of its OID and
// modifier), the value the rows that existed got (the source's "missing value") and the source's
// default. A column dropped, renamed or retyped cannot be followed: the follower stops with what
// to do on the target, unless the target already matches (it was fixed, and the follower resumed).
#include "codecs/sql_text.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/cdc/apply_sql.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>

namespace uringmig::engine::cdc {

namespace pg = connectors::postgres;
namespace asio = boost::asio;
using detail::fail;

namespace {

// The column of `target` named `name`, or -1.
int find_column(const std::vector<detail::target_column>& target, std::string_view name) {
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

asio::awaitable<std::string> type_name(pg::connection& src, std::uint32_t oid, std::int32_t mod) {
  pg::result r = co_await src.query("SELECT format_type($1::oid, $2::int)",
                                    pg::make_params(std::to_string(oid), std::to_string(mod)));
  r.check("source: format_type");
  if (r.rows() != 1 || r.is_null(0, 0)) fail("source: no type with oid " + std::to_string(oid));
  co_return std::string(r.value(0, 0));
}

// Runs one statement of the schema change on the target; on failure the transaction is rolled
// back and the applier is done.
asio::awaitable<void> run(pg::connection& c, const std::string& sql, pg::params p = {}) {
  pg::result r = co_await c.query(sql, std::move(p));
  if (r.ok()) co_return;
  pg::diagnostics d = r.error();
  (void)co_await c.query("ROLLBACK");
  const std::string what = "cdc apply: target: " + sql + ": " + d.to_string();
  throw apply_error(what, std::move(d));
}

}  // namespace

lsn applier::stop_at() const {
  // What was applied before this source transaction in the same target transaction rolls back
  // with it: then the follower applies again up to the transaction and stops there.
  return in_txn_ && group_txns_ > 0 ? txn_commit_ : 0;
}

asio::awaitable<void> applier::check_schema_change(
    const detail::relation_info& known, const detail::relation_info& now,
    const std::vector<detail::target_column>& target) {
  const lsn at = stop_at();
  const std::string& q = now.qualified;
  std::optional<pg::connection> src;
  for (const auto& k : known.columns) {
    const auto it = std::find_if(now.columns.begin(), now.columns.end(),
                                 [&](const detail::column_info& c) { return c.name == k.name; });
    const int row = find_column(target, k.name);
    if (row < 0) continue;  // not on the target (any more): nothing there to keep in step
    const std::string col = codecs::quote_ident(k.name);
    if (it == now.columns.end()) {
      throw schema_change_error(
          "table " + q + ": column " + col +
              " was dropped (or renamed) on the source; drop it on the target too (ALTER TABLE " +
              q + " DROP COLUMN " + col + ") or rename it there",
          at, q, k.name);
    }
    if (it->type_oid == k.type_oid && it->type_mod == k.type_mod) continue;
    std::string type = "the type with oid " + std::to_string(it->type_oid);
    if (opts_.connect_source) {
      if (!src) src.emplace(co_await opts_.connect_source());
      type = co_await type_name(*src, it->type_oid, it->type_mod);
      if (target[static_cast<std::size_t>(row)].full_type == type)
        continue;  // the target has it already
    }
    throw schema_change_error("table " + q + ": column " + col +
                                  " changed its type on the source to " + type +
                                  "; change it on the target too (ALTER TABLE " + q +
                                  " ALTER COLUMN " + col + " TYPE " + type + ")",
                              at, q, k.name, type);
  }
}

asio::awaitable<void> applier::add_columns(std::uint32_t oid, const detail::relation_info& now,
                                           const std::vector<std::size_t>& missing) {
  const std::string& q = now.qualified;
  if (!opts_.connect_source) {
    fail("column " + codecs::quote_ident(now.columns[missing.front()].name) + " of table " + q +
         " is on the source (added there mid-stream?) but not on the target: add it to the "
         "target table, then resume; nothing of this transaction was applied");
  }
  // The source stays connected until the values its rows got are copied (cdc/apply_columns.cpp).
  pg::connection src = co_await opts_.connect_source();
  std::vector<detail::added_column> cols;
  for (std::size_t i : missing)
    cols.push_back(co_await detail::describe_added(src, oid, now.columns[i]));
  const bool keyed =
      now.identity != 'f' && std::any_of(now.columns.begin(), now.columns.end(),
                                         [](const detail::column_info& c) { return c.key; });
  for (const auto& c : cols) {
    if (!c.per_row || keyed) continue;
    co_await src.close();
    const std::string col = codecs::quote_ident(c.name);
    throw schema_change_error(
        "table " + q + ": column " + col + " was added on the source with " +
            (c.identity.empty() ? "a default computed per row (" + c.default_expr + ")"
                                : std::string("an identity")) +
            ": the values its rows got there are not in the stream, and a table without a key "
            "(REPLICA IDENTITY FULL) has none to copy them by; add it on the target (ALTER "
            "TABLE " +
            q + " ADD COLUMN " + col + " " + c.type + ") and give its rows the source's values",
        stop_at(), q, c.name, c.type);
  }

  // In the group's transaction when one is open (the change commits with the source transaction
  // that showed it), else in one of its own. Other apply connections may add the same column at
  // the same time (each sees the Relation message): the lock makes one do it, the others see it.
  const bool in_group = in_txn_ || group_begun_;
  if (in_group) {
    begin_group();
    co_await send_batch();
  } else {
    co_await run(conn_, "BEGIN");
  }
  co_await run(conn_, "LOCK TABLE " + q + " IN ACCESS EXCLUSIVE MODE");
  const std::optional<detail::target_table> target = co_await detail::ask_target_table(conn_, q);
  for (const auto& c : cols) {
    if (target && find_column(target->columns, c.name) >= 0) continue;
    co_await add_column(src, now, c);
  }
  if (!in_group) co_await run(conn_, "COMMIT");
  co_await src.close();
}

asio::awaitable<void> applier::add_column(pg::connection& src, const detail::relation_info& now,
                                          const detail::added_column& c) {
  const std::string& q = now.qualified;
  const std::string col = codecs::quote_ident(c.name);
  std::string done;
  for (const auto& sql : c.statements(q)) {
    co_await run(conn_, sql);
    done += (done.empty() ? "" : "; ") + sql;
  }
  if (c.per_row) {
    std::int64_t rows = 0;
    std::optional<pg::diagnostics> failed;
    try {
      rows = co_await detail::copy_values(src, conn_, now, c.name);
    } catch (const pg::error& e) {
      failed = e.diag();
    }
    if (failed) {
      (void)co_await conn_.query("ROLLBACK");
      throw apply_error("cdc apply: table " + q + ": copying the values of column " + col +
                            " from the source: " + failed->to_string(),
                        *failed);
    }
    done += "; the values of its " + std::to_string(rows) +
            " rows copied from the source (per row there: " +
            (c.identity.empty() ? c.default_expr : "an identity") + ")";
  }
  // What only defines the column for later (NOT NULL once values are copied, its default or
  // identity) may fail now: a row the source deleted since the ALTER waits for its DELETE with no
  // value. It waits on the target (in this transaction) for the switchover, which runs it once
  // everything is applied (cdc::finish_added_columns).
  bool waiting = false;
  for (const auto& sql : c.after_values(q)) {
    if (!waiting) {
      co_await run(conn_, "SAVEPOINT uringmig_column");
      pg::result r = co_await conn_.query(sql);
      if (r.ok()) {
        done += "; " + sql;
        co_await run(conn_, "RELEASE SAVEPOINT uringmig_column");
        continue;
      }
      spdlog::info("table {}: column {}: {} failed now ({}); the switchover runs it", q, col, sql,
                   r.error().to_string());
      co_await run(conn_, "ROLLBACK TO SAVEPOINT uringmig_column");
      co_await run(conn_, "CREATE SCHEMA IF NOT EXISTS uringmig");
      co_await run(conn_,
                   "CREATE TABLE IF NOT EXISTS uringmig.column_pending (id bigserial PRIMARY KEY, "
                   "statement text NOT NULL)");
      waiting = true;
    }
    co_await run(conn_, "INSERT INTO uringmig.column_pending (statement) VALUES ($1)",
                 pg::make_params(sql));
    done += "; at the switchover: " + sql;
  }
  spdlog::info("table {}: column {} is new on the source; on the target: {}", q, col, done);
  if (c.identity == "a") {
    spdlog::warn(
        "table {}: column {} is GENERATED ALWAYS AS IDENTITY on the source, BY DEFAULT on the "
        "target while following (the follower writes its values); after the switchover: ALTER "
        "TABLE {} ALTER COLUMN {} SET GENERATED ALWAYS",
        q, col, q, col);
  }
}

asio::awaitable<void> applier::stop_if_due(lsn commit) {
  if (opts_.stop_before == 0 || commit < opts_.stop_before) co_return;
  co_await commit_group();
  throw schema_change_error(opts_.stop_message, 0);
}

}  // namespace uringmig::engine::cdc
