#include "engine/core/catalog.hpp"

#include "codecs/sql_text.hpp"

#include <algorithm>
#include <charconv>
#include <regex>
#include <sstream>
#include <unordered_map>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace {

std::vector<std::string> split_list(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) {
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

/// Splits on commas outside {...}, so a regex such as \d{1,3} survives the
/// comma-joined arrays of the config file; a newline also separates.
std::vector<std::string> split_regexes(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '{') ++depth;
    if (c == '}' && depth > 0) --depth;
    if ((c == ',' || c == '\n') && depth == 0) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool any_glob(const std::vector<std::string>& pats, const std::string& text) {
  return std::any_of(pats.begin(), pats.end(),
                     [&](const std::string& p) { return codecs::glob_match(p, text); });
}

std::int64_t to_int(std::string_view s) {
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

bool table_filter::matches(const std::string& schema, const std::string& table,
                           const std::string& root_schema, const std::string& root_table) const {
  const std::string full = schema + "." + table;
  const std::string root = root_schema + "." + root_table;
  if (!include_schemas.empty() && !contains(include_schemas, schema)) return false;
  if (contains(exclude_schemas, schema)) return false;
  if (contains(exclude_tables, full) || contains(exclude_tables, root)) return false;
  if (!include.empty() && !any_glob(include, full) && !any_glob(include, root)) return false;
  if (any_glob(exclude, full) || any_glob(exclude, root)) return false;
  if (auto it = exclude_regex.find(schema); it != exclude_regex.end()) {
    for (const auto& rx : it->second) {
      if (std::regex_search(table, std::regex(rx, std::regex::ECMAScript))) return false;
    }
  }
  return true;
}

table_filter make_filter(const job_options& opts) {
  table_filter f;
  f.include = opts.tables;
  f.exclude = opts.exclude;
  auto setting = [&](const std::string& key) -> std::string {
    auto it = opts.settings.find(key);
    return it == opts.settings.end() ? std::string() : it->second;
  };
  f.include_schemas = split_list(setting("filters.include_schemas"), ',');
  f.exclude_schemas = split_list(setting("filters.exclude_schemas"), ',');
  f.exclude_tables = split_list(setting("filters.exclude_tables"), ',');
  const std::string prefix = "filters.exclude_regex.";
  for (const auto& [k, v] : opts.settings) {
    if (k.rfind(prefix, 0) != 0) continue;
    for (const auto& rx : split_regexes(v)) {
      try {
        std::regex probe(rx, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        throw usage_error("invalid regex '" + rx + "' in " + k + ": " + e.what());
      }
      f.exclude_regex[k.substr(prefix.size())].push_back(rx);
    }
  }
  return f;
}

std::string table_info::qualified() const {
  return codecs::qualified_name(schema, name);
}

asio::awaitable<std::vector<table_info>> discover_tables(pg::connection& c, const table_filter& f) {
  pg::result r = co_await c.query(
      "select n.nspname, c.relname, c.oid, pg_table_size(c.oid), pg_relation_size(c.oid), "
      "  c.reltuples::bigint, c.relpersistence = 'u', coalesce(rn.nspname, n.nspname), "
      "  coalesce(rc.relname, c.relname), "
      "  (select quote_ident(a.attname) from pg_index i "
      "     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0] "
      "   where i.indrelid = c.oid and (i.indisprimary or i.indisunique) and i.indnatts = 1 "
      "     and i.indpred is null and i.indexprs is null "
      "     and a.atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) "
      "   order by i.indisprimary desc limit 1) "
      "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
      "left join pg_class rc on c.relispartition and rc.oid = pg_partition_root(c.oid) "
      "left join pg_namespace rn on rn.oid = rc.relnamespace "
      "where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema', 'uringmig', "
      "'uringmig_state') "
      "  and n.nspname not like 'pg\\_%' "
      "order by 4 desc, 1, 2");
  r.check("discovering the source tables");
  std::vector<table_info> out;
  std::unordered_map<std::uint32_t, std::size_t> by_oid;
  for (int i = 0; i < r.rows(); ++i) {
    table_info t;
    t.schema = r.value(i, 0);
    t.name = r.value(i, 1);
    t.oid = static_cast<std::uint32_t>(to_int(r.value(i, 2)));
    t.bytes = to_int(r.value(i, 3));
    t.heap_bytes = to_int(r.value(i, 4));
    t.rows_estimate = to_int(r.value(i, 5));
    t.unlogged = r.value(i, 6) == "t";
    t.root_schema = r.value(i, 7);
    t.root_name = r.value(i, 8);
    if (!r.is_null(i, 9)) t.int_key = std::string(r.value(i, 9));
    t.pages = t.heap_bytes / 8192;
    if (!f.matches(t.schema, t.name, t.root_schema, t.root_name)) continue;
    by_oid[t.oid] = out.size();
    out.push_back(std::move(t));
  }
  if (out.empty()) co_return out;
  const std::string oids = oid_array(out);
  pg::result cols = co_await c.query(
      "select attrelid, quote_ident(attname) from pg_attribute "
      "where attrelid = any($1::oid[]) and attnum > 0 and not attisdropped and attgenerated = '' "
      "order by attrelid, attnum",
      pg::make_params(oids));
  cols.check("listing the source columns");
  for (int i = 0; i < cols.rows(); ++i) {
    auto it = by_oid.find(static_cast<std::uint32_t>(to_int(cols.value(i, 0))));
    if (it != by_oid.end()) out[it->second].columns.emplace_back(cols.value(i, 1));
  }
  co_return out;
}

boost::asio::awaitable<void> check_source_tables(connectors::postgres::connection& src,
                                                 const std::vector<table_info>& tables) {
  const std::string oids = oid_array(tables);
  auto r = co_await src.query(
      "select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid "
      "= c.relnamespace where c.oid = any($1::oid[]) and not has_table_privilege(c.oid, "
      "'SELECT') order by 1 limit 5",
      connectors::postgres::make_params(oids));
  r.check("checking privileges on the source");
  if (r.rows() > 0) {
    std::string list;
    for (int i = 0; i < r.rows(); ++i)
      list += (i ? ", " : "") + std::string(r.value(i, 0));
    throw usage_error("the source user cannot read " + list +
                      ": grant it SELECT, or leave those tables out with --exclude");
  }
  // Our bookkeeping tables: the source was itself the target of a clone.
  auto own = co_await src.query(
      "select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid "
      "= c.relnamespace where n.nspname = 'uringmig' and c.relkind in ('r', 'p', 'v', 'm', 'f') "
      "and c.relname not in ('chunk_done', 'large_object_done') order by 1 limit 5");
  own.check("checking the source for a schema named uringmig");
  if (own.rows() > 0) {
    throw usage_error("the source has " + std::string(own.value(0, 0)) +
                      " in a schema named \"uringmig\", the name of uringmig's bookkeeping schema "
                      "on the target, so it would not be copied: rename the schema for the "
                      "migration (ALTER SCHEMA uringmig RENAME TO ...)");
  }
}

asio::awaitable<std::vector<table_info>> discover_matviews(pg::connection& c,
                                                           const table_filter& f) {
  pg::result r = co_await c.query(
      "select n.nspname, c.relname, c.oid from pg_class c join pg_namespace n on n.oid = "
      "c.relnamespace where c.relkind = 'm' and n.nspname not in ('pg_catalog', "
      "'information_schema', 'uringmig', 'uringmig_state') and n.nspname not like 'pg\\_%' order "
      "by 1, 2");
  r.check("discovering the source's materialized views");
  std::vector<table_info> out;
  for (int i = 0; i < r.rows(); ++i) {
    table_info t;
    t.schema = r.value(i, 0);
    t.name = r.value(i, 1);
    t.oid = static_cast<std::uint32_t>(to_int(r.value(i, 2)));
    t.root_schema = t.schema;
    t.root_name = t.name;
    if (f.matches(t.schema, t.name, t.root_schema, t.root_name)) out.push_back(std::move(t));
  }
  co_return out;
}

std::string oid_array(const std::vector<std::uint32_t>& oids) {
  std::string out = "{";
  for (const auto oid : oids)
    out += (out.size() > 1 ? "," : "") + std::to_string(oid);
  return out + "}";
}

std::string oid_array(const std::vector<table_info>& tables) {
  std::vector<std::uint32_t> oids;
  oids.reserve(tables.size());
  for (const auto& t : tables)
    oids.push_back(t.oid);
  return oid_array(oids);
}

}  // namespace uringmig::engine
