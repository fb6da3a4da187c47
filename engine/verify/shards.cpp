#include "engine/verify/verify.hpp"

#include "codecs/copy_text.hpp"
#include "codecs/row_batch.hpp"
#include "codecs/shard_route.hpp"
#include "codecs/sql_text.hpp"
#include "codecs/sqlite_types.hpp"
#include "codecs/url.hpp"
#include "connectors/postgres/connection.hpp"
#include "connectors/sqlite/catalog.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/planner.hpp"
#include "engine/shards/sources.hpp"
#include "io/buffer_pool.hpp"
#include "io/deadline.hpp"
#include "io/runtime.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <future>
#include <optional>

namespace uringmig::engine::verify {

namespace asio = boost::asio;
namespace pg = connectors::postgres;
namespace sq = connectors::sqlite;

namespace {

struct file_digest {
  std::int64_t rows = 0;
  std::uint64_t sum = 0;
  bool operator==(const file_digest&) const = default;
};

/// Count and order-independent checksum of rows: the sum of a 64-bit hash of each row's typed
/// values (storage class included, so 1 and '1' differ).
struct digest {
  std::int64_t rows = 0;
  std::uint64_t sum = 0;
  std::int64_t misrouted = 0;  // SQLite source: rows in a file their key does not route to
  /// Shard sets: per file. On a PostgreSQL source, the file each row's key routes to (the
  /// loader's rule on the key's text); on the target, the file each row sits in.
  std::vector<file_digest> files;
  std::string problem;  // a file missing, incomplete or unreadable
};

/// `row`: one row's values as codecs::row_batch_writer writes them (no rowid).
void add_row(std::string_view row, int file, digest& d) {
  // A 64-bit FNV-1a, then a final mix so sums of similar rows spread.
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : row)
    h = (h ^ c) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  d.sum += h;
  ++d.rows;
  if (file >= 0 && static_cast<std::size_t>(file) < d.files.size()) {
    d.files[static_cast<std::size_t>(file)].sum += h;
    ++d.files[static_cast<std::size_t>(file)].rows;
  }
}

void add_row(sq::statement& s, int ncols, int file, std::string& scratch, digest& d) {
  scratch.clear();
  codecs::row_batch_writer w(scratch);
  for (int i = 0; i < ncols; ++i)
    w.value(s.column_value(i, s.column_type(i)));
  add_row(scratch, file, d);
}

std::string select_all(const std::string& table, const std::vector<std::string>& columns) {
  std::string sql = "select ";
  for (std::size_t i = 0; i < columns.size(); ++i)
    sql += (i ? ", " : "") + sq::quote_ident(columns[i]);
  return sql + " from " + sq::quote_ident(table);
}

const codecs::sqlite_shards_endpoint* shard_set(const codecs::endpoint& t) {
  return std::get_if<codecs::sqlite_shards_endpoint>(&t.spec);
}

digest read_source(const std::string& path, const std::string& table,
                   const std::vector<std::string>& columns) {
  digest d;
  sq::database db = sq::database::open(path, sq::open_mode::read_only);
  sq::statement s = db.prepare(select_all(table, columns));
  std::string scratch;
  const int n = static_cast<int>(columns.size());
  while (s.step())
    add_row(s, n, -1, scratch, d);
  return d;
}

/// The shard a stored key routes to, from its SQLite value: the text a SQLite source's
/// loader routed on.
int route_stored_key(sq::statement& s, int k, const codecs::shard_router& router) {
  char num[32];
  switch (s.column_type(k)) {
    case SQLITE_NULL:
      return router.route_null();
    case SQLITE_INTEGER: {
      const int len =
          std::snprintf(num, sizeof num, "%lld", static_cast<long long>(s.column_int64(k)));
      return router.route(std::string_view(num, static_cast<std::size_t>(len)));
    }
    case SQLITE_BLOB:
      return router.route(s.column_blob(k));
    default:
      return router.route(s.column_text(k));
  }
}

/// The target's rows of `table`, per file for a shard set. `key` (a SQLite source): each row's
/// key is routed again to count the rows that sit in another file.
digest read_target(const codecs::endpoint& t, const std::string& table,
                   const std::vector<std::string>& columns, std::optional<std::size_t> key) {
  digest d;
  std::vector<std::pair<std::filesystem::path, int>> files;
  std::optional<codecs::shard_router> router;
  if (const auto* sh = shard_set(t)) {
    router.emplace(sh->shards, sh->reserved_shard);
    d.files.resize(static_cast<std::size_t>(router->files()));
    for (int f = 0; f < router->files(); ++f)
      files.emplace_back(std::filesystem::path(sh->dir) / codecs::shard_file_name(table, f), f);
  } else {
    files.emplace_back(std::get<codecs::sqlite_endpoint>(t.spec).path, 0);
  }
  std::string scratch;
  const int n = static_cast<int>(columns.size());
  for (const auto& [path, index] : files) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      d.problem = path.string() + " is missing";
      return d;
    }
    if (std::filesystem::exists(path.string() + "-journal", ec)) {
      // A hot journal: a load was killed mid-transaction (the next run rolls it back).
      d.problem = path.string() + " is incomplete (its load was interrupted)";
      return d;
    }
    sq::database db = sq::database::open(path, sq::open_mode::inspect);
    try {
      sq::statement m =
          db.prepare("select value from _uringmig_meta where tbl = ?1 and key = 'status'");
      m.bind_text(1, table);
      if (m.step() && m.column_text(0) != "complete") {
        d.problem = path.string() + " is incomplete (its load did not finish)";
        return d;
      }
    } catch (const sq::error&) {
      // Not written by uringmig: nothing to say about completeness.
    }
    sq::statement exists =
        db.prepare("select 1 from sqlite_schema where type = 'table' and name = ?1");
    exists.bind_text(1, table);
    if (!exists.step()) {
      d.problem = "table " + table + " is missing in " + path.string();
      return d;
    }
    sq::statement s = db.prepare(select_all(table, columns));
    while (s.step()) {
      add_row(s, n, index, scratch, d);
      if (router && key && route_stored_key(s, static_cast<int>(*key), *router) != index)
        ++d.misrouted;
    }
  }
  return d;
}

digest read_target_or_problem(const codecs::endpoint& t, const std::string& table,
                              const std::vector<std::string>& columns,
                              std::optional<std::size_t> key) {
  try {
    return read_target(t, table, columns, key);
  } catch (const sq::error& e) {
    digest d;
    d.problem = e.what();
    return d;
  }
}

/// Prints a line per table as it is compared, then the verdict.
class report {
 public:
  explicit report(const codecs::endpoint& target) : target_(target) {
    std::printf("%-32s %12s %12s %10s  %s\n", "table", "source rows", "target rows", "misrouted",
                "result");
  }

  /// `name`: as the user knows the source table; `file_table`: the target's table.
  void add(const std::string& name, const std::string& file_table, const digest& s,
           const digest& t) {
    ++tables_;
    std::int64_t misrouted = t.misrouted;
    std::vector<std::string> wrong_files;
    for (std::size_t f = 0; f < s.files.size() && f < t.files.size(); ++f) {
      if (s.files[f] == t.files[f]) continue;
      misrouted += std::max<std::int64_t>(0, t.files[f].rows - s.files[f].rows);
      wrong_files.push_back(codecs::shard_file_name(file_table, static_cast<int>(f)));
    }
    std::string result = "identical";
    if (!t.problem.empty())
      result = t.problem;
    else if (s.rows != t.rows)
      result = s.rows > t.rows ? "rows missing" : "extra rows";
    else if (s.sum != t.sum)
      result = "contents differ";
    else if (misrouted > 0 || !wrong_files.empty())
      result = "rows in the wrong shard";
    if (result == "rows in the wrong shard" && !wrong_files.empty()) {
      result += " (";
      for (std::size_t i = 0; i < wrong_files.size() && i < 4; ++i)
        result += (i ? ", " : "") + wrong_files[i];
      result += wrong_files.size() > 4 ? ", ...)" : ")";
    }
    std::printf("%-32s %12lld %12lld %10lld  %s\n", name.c_str(), static_cast<long long>(s.rows),
                static_cast<long long>(t.rows), static_cast<long long>(misrouted), result.c_str());
    if (result != "identical") differ_.push_back(name + " (" + result + ")");
  }

  int finish() {
    if (tables_ == 0) throw usage_error("no table matches --tables/--exclude: nothing to verify");
    std::fflush(stdout);
    if (!differ_.empty()) {
      std::string list;
      for (const auto& d : differ_)
        list += (list.empty() ? "" : ", ") + d;
      throw job_error(fmt::format("{} table(s) differ: {}", differ_.size(), list));
    }
    if (shard_set(target_))
      std::printf("all %d table(s) identical: every row once, in the right shard\n", tables_);
    else
      std::printf("all %d table(s) identical\n", tables_);
    return 0;
  }

 private:
  const codecs::endpoint& target_;
  int tables_ = 0;
  std::vector<std::string> differ_;
};

int verify_from_sqlite(const codecs::sqlite_endpoint& src, const job_options& opts,
                       const codecs::endpoint& target) {
  std::error_code ec;
  if (!std::filesystem::exists(src.path, ec))
    throw usage_error("--source: no such file: " + src.path);
  std::optional<sq::database> db;
  try {
    db.emplace(sq::database::open(src.path, sq::open_mode::read_only));
    db->check_readable();
  } catch (const sq::error& e) {
    throw usage_error("--source: " + src.path + ": " + e.what());
  }
  job_options scoped = opts;
  for (auto* list : {&scoped.tables, &scoped.exclude})
    for (auto& p : *list)
      if (p.find('.') == std::string::npos) p = "main." + p;
  const table_filter filter = make_filter(scoped);
  std::string key_name;
  if (const auto* sh = shard_set(target)) key_name = sh->shard_key;

  report out(target);
  for (const auto& name : sq::list_tables(*db)) {
    if (!filter.matches("main", name, "main", name)) continue;
    const sq::table_info info = sq::describe_table(*db, name);
    std::vector<std::string> columns;
    for (const auto& c : info.columns)
      columns.push_back(c.name);
    std::optional<std::size_t> key;
    if (!key_name.empty()) {
      key = info.find_column(key_name);
      if (!key)
        throw usage_error(
            fmt::format("shard key column '{}' does not exist in table {}", key_name, name));
    }
    // Both sides at once: the source on its own thread.
    auto source_digest = std::async(std::launch::async, read_source, src.path, name, columns);
    const digest t = read_target_or_problem(target, name, columns, key);
    out.add(name, name, source_digest.get(), t);
  }
  return out.finish();
}

/// One PostgreSQL table as the SQLite files hold it.
struct pg_table {
  table_info info;  // columns: every stored column, quoted
  std::vector<std::string> names;
  std::vector<codecs::sqlite_affinity> affinities;
  std::optional<std::size_t> key;  // shard sets
};

/// The rows of `t` as the loader converts them (same session settings, same type mapping),
/// each routed by the loader's rule on its key's text when `router` is set.
asio::awaitable<digest> read_pg_table(pg::connection& c, io::buffer_pool& pool, const pg_table& t,
                                      const codecs::shard_router* router) {
  digest d;
  if (router) d.files.resize(static_cast<std::size_t>(router->files()));
  codecs::copy_text_parser parser;
  parser.expect_fields(t.affinities.size());
  std::string scratch;
  auto on_row = [&](const std::vector<std::optional<std::string_view>>& fields) {
    scratch.clear();
    codecs::row_batch_writer w(scratch);
    codecs::append_pg_row(w, t.affinities, fields);
    int file = -1;
    if (router && t.key && *t.key < fields.size())
      file = fields[*t.key] ? router->route(*fields[*t.key]) : router->route_null();
    add_row(scratch, file, d);
  };
  std::string parse_error;
  const std::string sql = "COPY (" + chunk_select(t.info, planned_chunk{}) + ") TO STDOUT";
  pg::result res = co_await c.copy_out(sql, pool, [&](io::buffer b) -> asio::awaitable<bool> {
    const std::string_view piece(reinterpret_cast<const char*>(b.data()), b.size());
    if (!parser.feed(piece, on_row)) {
      parse_error = parser.error();
      co_return false;
    }
    co_return true;
  });
  if (!parse_error.empty()) throw job_error("reading " + t.info.display() + ": " + parse_error);
  res.check("reading " + t.info.display());
  if (!parser.finish())
    throw job_error("reading " + t.info.display() + ": the COPY data ended mid-row");
  co_return d;
}

/// PostgreSQL → SQLite: the source read in one REPEATABLE READ transaction (one snapshot),
/// table by table, each table's target files read at the same time on a thread of their own.
asio::awaitable<int> verify_from_pg(io::runtime& rt, const codecs::endpoint& src,
                                    const job_options& opts, const codecs::endpoint& target) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection c = co_await connect_endpoint(ex, src, "source");
  // The loader's text profile: the rows hash as the loaded ones do.
  co_await apply_settings(c, text_profile::portable, "setting up the source session");
  co_await join_snapshot(c, "");
  std::vector<table_info> tables = co_await discover_tables(c, make_filter(opts));
  if (tables.empty())
    throw usage_error("no source table matches --tables/--exclude: nothing to verify");
  co_await check_source_tables(c, tables);
  shards::check_unique_names(tables);

  std::optional<codecs::shard_router> router;
  std::string key_name;
  if (const auto* sh = shard_set(target)) {
    router.emplace(sh->shards, sh->reserved_shard);
    key_name = sh->shard_key;
  }
  // --max-runtime, SIGINT, SIGTERM: no new table starts; the one being read finishes.
  io::deadline deadline(rt, opts.max_runtime);
  io::buffer_pool pool(256 * 1024, 16 * 1024 * 1024);
  report out(target);
  for (auto& info : tables) {
    if (rt.stop_token().stop_requested())
      throw job_error((rt.stop_reason().empty() ? std::string("stopped") : rt.stop_reason()) +
                      ": stopped before every table was verified");
    pg_table t;
    t.info = info;
    t.info.columns.clear();
    for (const auto& col : co_await shards::pg_sqlite_columns(c, info.oid)) {
      if (!key_name.empty() && col.name == key_name) t.key = t.names.size();
      t.names.push_back(col.name);
      t.info.columns.push_back(codecs::quote_ident(col.name));
      t.affinities.push_back(col.affinity);
    }
    if (router && !t.key)
      throw usage_error(fmt::format("shard key column '{}' does not exist in table {}", key_name,
                                    info.display()));
    auto target_digest = std::async(std::launch::async, read_target_or_problem, std::cref(target),
                                    info.name, t.names, std::nullopt);
    digest s;
    try {
      s = co_await read_pg_table(c, pool, t, router ? &*router : nullptr);
    } catch (...) {
      target_digest.wait();
      throw;
    }
    out.add(info.display(), info.name, s, target_digest.get());
  }
  deadline.cancel();
  (void)co_await c.query("COMMIT");
  co_await c.close();
  co_return out.finish();
}

}  // namespace

int run_verify_sqlite(const job_spec& opts) {
  const codecs::endpoint& s = opts.source_endpoint();
  const codecs::endpoint& t = opts.target_endpoint();
  if (const auto* src = std::get_if<codecs::sqlite_endpoint>(&s.spec))
    return verify_from_sqlite(*src, opts, t);
  if (s.kind() != codecs::endpoint_kind::postgres)
    throw usage_error(
        "uringmig verify with a SQLite target needs a SQLite source file or a PostgreSQL "
        "source");
  io::runtime rt(1);
  return rt.run(verify_from_pg(rt, s, opts, t));
}

}  // namespace uringmig::engine::verify
