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

// The row of `target` (detail::target_columns' result) naming column `name`, or -1.
int find_column(const pg::result& target, std::string_view name) {
  for (int i = 0; i < target.rows(); ++i) {
    if (target.value(i, 0) == name) return i;
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
asio::awaitable<void> run(pg::connection& c, const std::string& sql) {
  pg::result r = co_await c.query(sql);
  if (r.ok()) co_return;
  const std::string error = r.error().to_string();
  (void)co_await c.query("ROLLBACK");
  fail("target: " + sql + ": " + error);
}

}  // namespace

asio::awaitable<pg::result> detail::target_columns(pg::connection& c,
                                                   const std::string& qualified) {
  pg::result t = co_await c.query(
      // The cast names the type without its modifier (the column's assignment applies it), but
      // character and bit without one mean length 1 and would truncate: bpchar and varbit.
      "SELECT a.attname, a.attgenerated <> '', CASE "
      "WHEN a.atttypid = 'bpchar'::regtype THEN 'bpchar' "
      "WHEN a.atttypid = 'bit'::regtype THEN 'varbit' "
      "WHEN a.atttypid = 'bpchar[]'::regtype THEN 'bpchar[]' "
      "WHEN a.atttypid = 'bit[]'::regtype THEN 'varbit[]' "
      "ELSE format_type(a.atttypid, NULL) END, format_type(a.atttypid, a.atttypmod) "
      "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 "
      "AND NOT a.attisdropped",
      pg::make_params(qualified));
  t.check("target: columns of " + qualified);
  co_return t;
}

asio::awaitable<bool> detail::columns_missing(pg::connection& c, const std::string& qualified,
                                              const std::vector<std::string>& names) {
  const pg::result t = co_await target_columns(c, qualified);
  if (t.rows() == 0) co_return false;  // no table: the applier says so
  co_return std::any_of(names.begin(), names.end(),
                        [&](const std::string& n) { return find_column(t, n) < 0; });
}

asio::awaitable<void> applier::check_schema_change(const detail::relation_info& known,
                                                   const detail::relation_info& now,
                                                   const pg::result& target) {
  // What was applied before this source transaction in the same target transaction rolls back
  // with it: then the follower applies again up to the transaction and stops there.
  const lsn at = in_txn_ && group_txns_ > 0 ? txn_commit_ : 0;
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
      if (target.value(row, 3) == type) continue;  // the target has it already
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
  // The statements, from the source's catalog. Rows that existed when the column was added read
  // its "missing value" there (the default of ADD COLUMN, evaluated once): the same DEFAULT gives
  // them the same value on the target. The column's default for new rows comes after.
  struct column_ddl {
    std::string name;
    std::string add;
    std::string set_default;
  };
  std::vector<column_ddl> ddl;
  {
    pg::connection src = co_await opts_.connect_source();
    for (std::size_t i : missing) {
      const auto& c = now.columns[i];
      pg::result s = co_await src.query(
          "SELECT format_type($2::oid, $3::int), a.atthasmissing, a.attmissingval::text, "
          "pg_get_expr(d.adbin, d.adrelid) FROM (VALUES (1)) v "
          "LEFT JOIN pg_attribute a ON a.attrelid = $1::oid AND a.attname = $4 "
          "AND NOT a.attisdropped AND a.atttypid = $2::oid "
          "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum",
          pg::make_params(std::to_string(oid), std::to_string(c.type_oid),
                          std::to_string(c.type_mod), c.name));
      s.check("source: the type and default of column " + c.name + " of " + q);
      if (s.is_null(0, 0)) fail("source: no type with oid " + std::to_string(c.type_oid));
      const std::string type(s.value(0, 0));
      const std::string col = codecs::quote_ident(c.name);
      column_ddl d;
      d.name = c.name;
      d.add = "ALTER TABLE " + q + " ADD COLUMN " + col + " " + type;
      const bool fill = !s.is_null(0, 1) && s.value(0, 1) == "t" && !s.is_null(0, 2);
      if (fill) {
        d.add += " DEFAULT (" + codecs::quote_literal(s.value(0, 2)) + "::" + type + "[])[1]";
      }
      if (!s.is_null(0, 3)) {
        d.set_default = "ALTER TABLE " + q + " ALTER COLUMN " + col + " SET DEFAULT " +
                        std::string(s.value(0, 3));
      } else if (fill) {
        d.set_default = "ALTER TABLE " + q + " ALTER COLUMN " + col + " DROP DEFAULT";
      }
      ddl.push_back(std::move(d));
    }
    co_await src.close();
  }

  // In the group's transaction when one is open (the change commits with the source transaction
  // that showed it), else in one of its own. Other apply connections may add the same column at
  // the same time (each sees the Relation message): the lock makes one do it, the others see it.
  const bool in_group = in_txn_ || group_begun_;
  if (in_group) {
    touch_group();
    if (!group_begun_) {
      pg::statement begin;
      begin.sql = "BEGIN";
      batch_.push_back(std::move(begin));
      group_begun_ = true;
    }
    co_await send_batch();
  } else {
    co_await run(conn_, "BEGIN");
  }
  co_await run(conn_, "LOCK TABLE " + q + " IN ACCESS EXCLUSIVE MODE");
  const pg::result target = co_await detail::target_columns(conn_, q);
  for (const auto& d : ddl) {
    if (find_column(target, d.name) >= 0) continue;
    spdlog::info("table {}: column {} is new on the source; on the target: {}{}", q,
                 codecs::quote_ident(d.name), d.add,
                 d.set_default.empty() ? "" : "; " + d.set_default);
    co_await run(conn_, d.add);
    if (!d.set_default.empty()) co_await run(conn_, d.set_default);
  }
  if (!in_group) co_await run(conn_, "COMMIT");
}

asio::awaitable<void> applier::stop_if_due(lsn commit) {
  if (opts_.stop_before == 0 || commit < opts_.stop_before) co_return;
  co_await commit_group();
  throw schema_change_error(opts_.stop_message, 0);
}

}  // namespace uringmig::engine::cdc
