// What the applier needs to know of target tables, asked in one round trip for every table of the
// target database when the follower starts (or for one table named later: a table created or
// changed while following), and judged here without further questions: its columns, and whether
// rows with different keys can interact (detail::target_table::independent). Before, each table a
// Relation message named first cost one to three serial round trips; with hundreds of small
// tables those were most of the catch-up.
#include "codecs/sql_text.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/cdc/apply_sql.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>

namespace uringmig::engine::cdc {

namespace pg = connectors::postgres;
namespace asio = boost::asio;

namespace {

// The tables asked about ($1 empty: every table outside the system schemas; else the one it
// names) and each one's partition tree (pg_partition_tree has no rows for a plain table).
constexpr const char* tables_cte =
    "WITH t AS (SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c "
    "  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND "
    "  (($1 = '' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_') "
    "   OR c.oid = to_regclass(nullif($1, '')))), "
    "tree AS (SELECT oid AS root, oid AS relid FROM t UNION "
    "  SELECT t.oid, p.relid FROM t, LATERAL pg_partition_tree(t.oid) p WHERE t.relkind = 'p') ";

// Per table: an exclusion constraint; a rule or a trigger that fires in replica mode (over its
// partitions); an index that finds rows without a scan (a valid btree or hash index without a
// predicate whose first column is a plain column, what PostgreSQL 16's own apply uses for
// REPLICA IDENTITY FULL).
constexpr const char* flags_sql =
    "SELECT t.nspname, t.relname, "
    "t.oid IN (SELECT tree.root FROM tree JOIN pg_index i ON i.indrelid = tree.relid "
    "  WHERE i.indisexclusion), "
    "t.oid IN (SELECT tree.root FROM tree JOIN pg_trigger g ON g.tgrelid = tree.relid "
    "  WHERE NOT g.tgisinternal AND g.tgenabled IN ('A', 'R') "
    "  UNION SELECT tree.root FROM tree JOIN pg_rewrite w ON w.ev_class = tree.relid "
    "  WHERE w.rulename <> '_RETURN'), "
    "t.oid IN (SELECT i.indrelid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "  JOIN pg_am m ON m.oid = c.relam WHERE i.indisvalid AND i.indpred IS NULL "
    "  AND i.indkey[0] > 0 AND m.amname IN ('btree', 'hash')) "
    "FROM t";

// The cast names the type without its modifier (the column's assignment applies it), but
// character and bit without one mean length 1 and would truncate: bpchar and varbit.
constexpr const char* columns_sql =
    "SELECT t.nspname, t.relname, a.attname, a.attgenerated <> '', CASE "
    "WHEN a.atttypid = 'bpchar'::regtype THEN 'bpchar' "
    "WHEN a.atttypid = 'bit'::regtype THEN 'varbit' "
    "WHEN a.atttypid = 'bpchar[]'::regtype THEN 'bpchar[]' "
    "WHEN a.atttypid = 'bit[]'::regtype THEN 'varbit[]' "
    "ELSE format_type(a.atttypid, NULL) END, format_type(a.atttypid, a.atttypmod) "
    "FROM t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "ORDER BY t.oid, a.attnum";

// Each unique index over a table and its partitions, one row per plain column (none for an index
// on expressions only).
constexpr const char* unique_sql =
    "SELECT t.nspname, t.relname, i.indexrelid, a.attname FROM t "
    "JOIN tree ON tree.root = t.oid JOIN pg_index i ON i.indrelid = tree.relid AND i.indisunique "
    "LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
    "AND a.attnum > 0 ORDER BY t.oid, i.indexrelid";

std::string name_of(const pg::result& r, int row) {
  return codecs::qualified_name(r.value(row, 0), r.value(row, 1));
}

}  // namespace

bool detail::target_table::independent(const std::vector<std::string>& key) const {
  if (key.empty() || exclusion || ordered) return false;
  // A unique index without the whole key: two rows with different keys could collide in between.
  return std::all_of(unique_sets.begin(), unique_sets.end(), [&](const auto& set) {
    return std::all_of(key.begin(), key.end(), [&](const std::string& k) {
      return std::find(set.begin(), set.end(), k) != set.end();
    });
  });
}

asio::awaitable<detail::target_tables> detail::fetch_target_tables(pg::connection& c,
                                                                   const std::string& qualified) {
  using namespace asio::experimental::awaitable_operators;
  const std::string cte = tables_cte;
  // Three questions in flight at once on the connection's pipeline: one round trip.
  auto [flags, cols, uniq] = co_await (c.query(cte + flags_sql, pg::make_params(qualified)) &&
                                       c.query(cte + columns_sql, pg::make_params(qualified)) &&
                                       c.query(cte + unique_sql, pg::make_params(qualified)));
  const std::string what = qualified.empty() ? "the tables" : qualified;
  flags.check("target: indexes, rules and triggers of " + what);
  cols.check("target: columns of " + what);
  uniq.check("target: unique indexes of " + what);
  target_tables out;
  out.reserve(static_cast<std::size_t>(flags.rows()));
  for (int i = 0; i < flags.rows(); ++i) {
    target_table& t = out[name_of(flags, i)];
    t.exclusion = flags.value(i, 2) == "t";
    t.ordered = flags.value(i, 3) == "t";
    t.lookup_index = flags.value(i, 4) == "t";
  }
  for (int i = 0; i < cols.rows(); ++i) {
    auto it = out.find(name_of(cols, i));
    if (it == out.end()) continue;  // created between the questions
    it->second.columns.push_back(
        target_column{std::string(cols.value(i, 2)), cols.value(i, 3) == "t",
                      std::string(cols.value(i, 4)), std::string(cols.value(i, 5))});
  }
  std::string_view last_index;
  for (int i = 0; i < uniq.rows(); ++i) {
    auto it = out.find(name_of(uniq, i));
    if (it == out.end()) continue;
    auto& sets = it->second.unique_sets;
    if (sets.empty() || uniq.value(i, 2) != last_index) sets.emplace_back();
    last_index = uniq.value(i, 2);
    if (!uniq.is_null(i, 3)) sets.back().emplace_back(uniq.value(i, 3));
  }
  co_return out;
}

asio::awaitable<std::optional<detail::target_table>> detail::ask_target_table(
    pg::connection& c, const std::string& qualified) {
  target_tables one = co_await fetch_target_tables(c, qualified);
  auto it = one.find(qualified);
  if (it == one.end() || it->second.columns.empty()) co_return std::nullopt;
  co_return std::move(it->second);
}

}  // namespace uringmig::engine::cdc
