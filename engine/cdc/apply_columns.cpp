// A column added on the source, as the source's catalog defines it, turned into the statements
// that give the target the same column: type with its modifier, collation, NOT NULL, default
// (a serial's sequence with it), identity; and the values of the rows that existed when it was
// added, when the source gave each its own (a volatile default, an identity): the stream does not
// carry those (the ALTER rewrote the table; logical decoding skips a rewrite).
//
// Why copying them from the source now, by key, is exact: the copy reads the source's current
// rows, later than the stream's position (the Relation message the follower is at). A row not
// changed since the column was added has the value it got then. A row changed since has each of
// those changes in the stream after this point, with the column's value in its new tuple (an
// unchanged TOAST value keeps the target's, which is the latest one: the same end); a row deleted
// since keeps NULL until its DELETE (found by key) comes. So once the follower has applied up to
// the source's position at the copy, each row has the source's value. REPLICA IDENTITY FULL
// tables find rows by every column, this one included: there the stream's old rows would carry
// values the copy has overwritten, so the follower stops instead.
#include "codecs/sql_text.hpp"
#include "engine/bulk/table_copy.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/cdc/apply_sql.hpp"
#include "io/buffer_pool.hpp"

#include <spdlog/spdlog.h>

namespace uringmig::engine::cdc {

namespace pg = connectors::postgres;
namespace asio = boost::asio;

asio::awaitable<detail::added_column> detail::describe_added(pg::connection& src, std::uint32_t oid,
                                                             const column_info& c) {
  pg::result s = co_await src.query(
      "SELECT format_type($2::oid, $3::int), a.attnum IS NOT NULL, a.atthasmissing, "
      "a.attmissingval::text, pg_get_expr(d.adbin, d.adrelid), a.attnotnull, a.attidentity, "
      "CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation "
      "THEN format('%I.%I', cn.nspname, co.collname) END, s.name, format_type(q.seqtypid, NULL), "
      "format('INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s', "
      "q.seqincrement, q.seqmin, q.seqmax, q.seqstart, q.seqcache, "
      "CASE WHEN q.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END) "
      "FROM (VALUES (1)) v "
      "LEFT JOIN pg_attribute a ON a.attrelid = $1::oid AND a.attname = $4 "
      "AND NOT a.attisdropped AND a.atttypid = $2::oid "
      "LEFT JOIN pg_type ty ON ty.oid = a.atttypid "
      "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
      "LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace "
      "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
      "LEFT JOIN LATERAL (SELECT pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) "
      "AS name) s ON true "
      "LEFT JOIN pg_sequence q ON q.seqrelid = s.name::regclass",
      pg::make_params(std::to_string(oid), std::to_string(c.type_oid), std::to_string(c.type_mod),
                      c.name));
  s.check("source: the definition of column " + c.name);
  if (s.is_null(0, 0)) fail("source: no type with oid " + std::to_string(c.type_oid));
  added_column a;
  a.name = c.name;
  a.type = std::string(s.value(0, 0));
  auto text = [&](int col) {
    return s.is_null(0, col) ? std::string() : std::string(s.value(0, col));
  };
  // Not there any more (dropped or retyped since): the follower meets that change next.
  if (s.value(0, 1) != "t") co_return a;
  if (s.value(0, 2) == "t" && !s.is_null(0, 3)) a.missing = std::string(s.value(0, 3));
  a.default_expr = text(4);
  a.not_null = s.value(0, 5) == "t";
  a.identity = text(6);
  a.collation = text(7);
  a.sequence = text(8);
  a.sequence_type = text(9);
  a.sequence_options = text(10);
  // Rows that existed got one value each, computed per row (a constant default is stored once, as
  // the "missing value"; a later rewrite of the table drops that, and the default stays).
  a.per_row = !a.missing && (!a.default_expr.empty() || !a.identity.empty());
  co_return a;
}

std::vector<std::string> detail::added_column::statements(const std::string& q) const {
  const std::string col = codecs::quote_ident(name);
  const std::string alter = "ALTER TABLE " + q + " ";
  std::vector<std::string> out;
  const bool serial = !sequence.empty() && identity.empty();
  if (serial) {
    out.push_back("CREATE SEQUENCE IF NOT EXISTS " + sequence + " AS " + sequence_type + " " +
                  sequence_options);
  }
  std::string add = alter + "ADD COLUMN " + col + " " + type;
  if (!collation.empty()) add += " COLLATE " + collation;
  // The rows that existed read the value the source stored once for them.
  if (missing) add += " DEFAULT (" + codecs::quote_literal(*missing) + "::" + type + "[])[1]";
  // With per-row values, NOT NULL once they are in (after the copy, see copy_values()).
  if (not_null && !per_row) add += " NOT NULL";
  out.push_back(std::move(add));
  if (serial) out.push_back("ALTER SEQUENCE " + sequence + " OWNED BY " + q + "." + col);
  return out;
}

std::vector<std::string> detail::added_column::after_values(const std::string& q) const {
  const std::string alter = "ALTER TABLE " + q + " ALTER COLUMN " + codecs::quote_ident(name);
  std::vector<std::string> out;
  if (not_null && per_row) out.push_back(alter + " SET NOT NULL");
  if (!identity.empty() && !sequence.empty()) {
    // BY DEFAULT even for GENERATED ALWAYS: the follower writes the source's values into it
    // (an UPDATE cannot override ALWAYS). Its sequence keeps the source's name: the switchover
    // sets it to the source's value with the others.
    out.push_back(alter + " ADD GENERATED BY DEFAULT AS IDENTITY (SEQUENCE NAME " + sequence + " " +
                  sequence_options + ")");
  } else if (!default_expr.empty()) {
    out.push_back(alter + " SET DEFAULT " + default_expr);
  } else if (missing) {
    out.push_back(alter + " DROP DEFAULT");
  }
  return out;
}

asio::awaitable<std::int64_t> detail::copy_values(pg::connection& src, pg::connection& dst,
                                                  const relation_info& rel,
                                                  const std::string& column) {
  std::string keys;
  std::string match;
  for (const auto& c : rel.columns) {
    if (!c.key) continue;
    const std::string k = codecs::quote_ident(c.name);
    keys += k + ", ";
    match += std::string(match.empty() ? "" : " AND ") + "t." + k + " = f." + k;
  }
  const std::string col = codecs::quote_ident(column);
  // As text: the target parses what the source prints, for any type; printed exactly, in forms
  // any target session parses.
  pg::result r = co_await src.simple(
      "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3");
  r.check("source: session settings for a copy");
  const std::string fill = "uringmig_fill";
  r = co_await dst.query("CREATE TEMP TABLE " + fill + " ON COMMIT DROP AS SELECT " + keys + col +
                         " FROM " + rel.qualified + " WITH NO DATA");
  r.check("target: a table for the values of " + rel.qualified + "." + col);
  io::buffer_pool pool(256 * 1024, 8 * 1024 * 1024);
  // NULLs are what the target has already.
  const copy_stats st =
      co_await stream_copy(src, dst,
                           "COPY (SELECT " + keys + col + " FROM " + rel.qualified + " WHERE " +
                               col + " IS NOT NULL) TO STDOUT",
                           "COPY " + fill + " FROM STDIN", pool, 4 * 1024 * 1024, nullptr);
  // One join over the whole table (the apply session otherwise avoids sequential scans).
  r = co_await dst.simple("SET LOCAL enable_seqscan = on; UPDATE " + rel.qualified + " t SET " +
                          col + " = f." + col + " FROM " + fill + " f WHERE " + match +
                          "; SET LOCAL enable_seqscan = off");
  r.check("target: the values of " + rel.qualified + "." + col);
  r = co_await dst.query("DROP TABLE " + fill);
  r.check("target: DROP TABLE " + fill);
  co_return st.rows;
}

namespace {

// Stored generated columns of the source that a table of the target lacks: PostgreSQL 15 does not
// publish them, so nothing in the stream says one was added. The target computes their values
// from the row (a generation expression is immutable): added once everything is applied, they
// hold what the source's do.
asio::awaitable<void> add_generated(pg::connection& src, pg::connection& dst) {
  pg::result g = co_await src.query(
      "SELECT format('%I.%I', n.nspname, c.relname), a.attname, "
      "format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid) "
      "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace "
      "JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
      "WHERE a.attgenerated = 's' AND NOT a.attisdropped AND c.relkind IN ('r', 'p') "
      "AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
      "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, a.attnum");
  g.check("source: generated columns");
  for (int i = 0; i < g.rows(); ++i) {
    const std::string table(g.value(i, 0));
    const std::string name(g.value(i, 1));
    pg::result t = co_await dst.query(
        "SELECT to_regclass($1) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE "
        "attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped)",
        pg::make_params(table, name));
    t.check("target: columns of " + table);
    if (t.value(0, 0) != "t") continue;  // not migrated, or there already
    const std::string sql = "ALTER TABLE " + table + " ADD COLUMN " + codecs::quote_ident(name) +
                            " " + std::string(g.value(i, 2)) + " GENERATED ALWAYS AS (" +
                            std::string(g.value(i, 3)) + ") STORED";
    pg::result x = co_await dst.query(sql);
    if (!x.ok()) {
      spdlog::warn("on the target, {} failed: {}; the source's table has it: add it there", sql,
                   x.error().to_string());
      continue;
    }
    spdlog::info("table {}: generated column {} is new on the source; on the target: {}", table,
                 codecs::quote_ident(name), sql);
  }
}

}  // namespace

asio::awaitable<void> finish_added_columns(pg::connection& src, pg::connection& dst) {
  co_await add_generated(src, dst);
  pg::result r = co_await dst.query("SELECT to_regclass('uringmig.column_pending') IS NOT NULL");
  r.check("target: uringmig.column_pending");
  if (r.value(0, 0) != "t") co_return;
  r = co_await dst.query("SELECT id, statement FROM uringmig.column_pending ORDER BY id");
  r.check("target: uringmig.column_pending");
  for (int i = 0; i < r.rows(); ++i) {
    const std::string sql(r.value(i, 1));
    pg::result x = co_await dst.query(sql);
    if (!x.ok()) {
      spdlog::warn("on the target, {} failed: {}; the source's column has it: run it there", sql,
                   x.error().to_string());
      continue;
    }
    spdlog::info("on the target (a column added on the source while following): {}", sql);
    (co_await dst.query("DELETE FROM uringmig.column_pending WHERE id = $1",
                        pg::make_params(std::string(r.value(i, 0)))))
        .check("target: uringmig.column_pending");
  }
}

}  // namespace uringmig::engine::cdc
