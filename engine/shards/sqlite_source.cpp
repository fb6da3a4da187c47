#include "codecs/sql_text.hpp"
#include "connectors/sqlite/catalog.hpp"
#include "connectors/sqlite/table_scan.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/planner.hpp"
#include "engine/core/settings.hpp"
#include "engine/shards/sources.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>

namespace uringmig::engine::shards {

namespace asio = boost::asio;
namespace sq = connectors::sqlite;

namespace {

/// How a table is read: straight from its b-tree pages when table_scanner can (raw), else
/// through SQL.
struct table_read {
  std::string rowid_name;
  std::uint32_t root_page = 0;
  std::vector<sq::scan_column> scan_columns;
  bool raw = false;
  /// Rows go to the writers as the source's records, copied without decoding: the target
  /// table is the source's CREATE TABLE and its writers append through images (no index or
  /// generated column to maintain during the load).
  bool pass_records = false;
};

/// Reader connections, one per reader index, opened on the reader's own thread; each keeps a
/// read transaction open for the whole load (the file cannot change under a raw scan).
struct sqlite_readers {
  std::filesystem::path path;
  std::vector<std::optional<sq::database>> conns;
  std::vector<std::map<std::string, sq::statement>> stmts;  // per reader, by SQL
  std::vector<std::map<std::string, std::unique_ptr<sq::table_scanner>>> scanners;
  std::map<std::string, table_read> tables;
};

/// The key's text form as SQLite's CAST(x AS TEXT) gives it.
std::string_view key_text_of(const codecs::value_view& v, char (&buf)[64]) {
  switch (v.kind) {
    case codecs::value_kind::integer: {
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.i);
      (void)ec;
      return {buf, static_cast<std::size_t>(end - buf)};
    }
    case codecs::value_kind::real:
      sqlite3_snprintf(sizeof buf, buf, "%!.15g", v.r);
      return {buf, std::strlen(buf)};
    default:
      return v.bytes;
  }
}

std::string select_sql(const table_load& t, const std::string& rowid_name, bool ranged) {
  std::string sql = "select " + (rowid_name.empty() ? std::string("0") : rowid_name);
  for (const auto& c : t.columns)
    sql += ", " + sq::quote_ident(c);
  sql += " from " + sq::quote_ident(t.name);
  if (ranged) sql += " where " + rowid_name + " between ?1 and ?2";
  return sql;
}

/// Contiguous rowid ranges from min to max rowid, each with at most `per_chunk` rows. Dense
/// rowids: equal slices of the span (a slice of `per_chunk` rowids cannot hold more rows).
/// Sparse ones (a span larger than the file can hold, see sq::table_info::rows): equal slices
/// would be mostly empty, and countless; one scan of the rowids starts a range every
/// `per_chunk` rows instead.
std::vector<std::pair<std::int64_t, std::int64_t>> rowid_ranges(const sq::database& db,
                                                                const sq::table_info& info,
                                                                std::int64_t per_chunk) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  if (!info.sparse_rowids) {
    const std::int64_t n = (info.rows + per_chunk - 1) / per_chunk;
    __extension__ const __int128 span = static_cast<__int128>(info.max_rowid) - info.min_rowid + 1;
    for (std::int64_t i = 0; i < n; ++i)
      out.emplace_back(static_cast<std::int64_t>(info.min_rowid + span * i / n),
                       static_cast<std::int64_t>(info.min_rowid + span * (i + 1) / n - 1));
    return out;
  }
  sq::statement s = db.prepare(
      fmt::format("select {0} from {1} order by {0}", info.rowid_name, sq::quote_ident(info.name)));
  std::int64_t rows = 0;
  while (s.step()) {
    const std::int64_t rowid = s.column_int64(0);
    if (rows++ % per_chunk != 0) continue;
    if (!out.empty()) out.back().second = rowid - 1;
    out.emplace_back(rowid, info.max_rowid);
  }
  if (!out.empty()) out.front().first = info.min_rowid;
  return out;
}

}  // namespace

source open_sqlite_source(const codecs::sqlite_endpoint& src, const job_spec& opts,
                          const target_spec& target, std::size_t readers) {
  std::error_code ec;
  if (!std::filesystem::exists(src.path, ec))
    throw usage_error("--source: no such file: " + src.path + " (the SQLite source must exist)");
  if (std::filesystem::is_directory(src.path, ec))
    throw usage_error("--source: " + src.path + " is a directory, not a SQLite database file");
  std::optional<sq::database> db;
  try {
    db.emplace(sq::database::open(src.path, sq::open_mode::read_only));
    db->check_readable();
  } catch (const sq::error& e) {
    if (e.not_a_database())
      throw usage_error("--source: " + src.path + " is not a SQLite database");
    throw usage_error(std::string("--source: ") + e.what());
  }

  // --tables / --exclude name SQLite tables as "name" or "main.name".
  job_options scoped = opts;
  for (auto* list : {&scoped.tables, &scoped.exclude})
    for (auto& p : *list)
      if (p.find('.') == std::string::npos) p = "main." + p;
  const table_filter filter = make_filter(scoped);

  const std::int64_t chunk_rows = opts.config.sqlite.chunk_rows;
  const std::int64_t chunk_bytes = opts.config.sqlite.chunk_bytes;
  const std::vector<std::string>& extra_indexes = opts.config.sqlite.index;

  std::map<std::string, table_read> reads;
  source out;
  out.description = "sqlite:" + src.path;
  for (const auto& v : sq::list_virtual_tables(*db)) {
    if (!filter.matches("main", v.name, "main", v.name)) continue;
    std::string what =
        fmt::format("virtual table {}{}", v.name, v.module.empty() ? "" : " (" + v.module + ")");
    if (!v.shadow_tables.empty()) {
      what += " and its shadow tables";
      for (std::size_t i = 0; i < v.shadow_tables.size(); ++i)
        what += (i ? ", " : " ") + v.shadow_tables[i];
    }
    spdlog::warn("not copied: {} (SQLite virtual tables are not copied)", what);
    out.not_copied.push_back(std::move(what));
  }
  for (const auto& name : sq::list_tables(*db)) {
    if (!filter.matches("main", name, "main", name)) continue;
    sq::table_info info = sq::describe_table(*db, name);
    {
      table_read& tr = reads[name];
      tr.rowid_name = info.rowid_name;
      tr.root_page = info.root_page;
      for (std::size_t i = 0; i < info.columns.size(); ++i) {
        sq::scan_column sc;
        sc.rowid_alias = info.rowid_alias == i;
        sc.has_default = info.columns[i].has_default;
        sc.real_affinity = sq::has_real_affinity(info.columns[i].declared_type);
        tr.scan_columns.push_back(sc);
      }
      std::string why;
      tr.raw = opts.config.sqlite.raw_scan && !info.without_rowid && !info.has_generated_columns &&
               info.root_page > 1 && !info.rowid_name.empty() &&
               sq::table_scanner::usable(src.path, tr.scan_columns, why);
      tr.pass_records = tr.raw && !info.has_constraint_index && info.create_sql.size() <= 16000 &&
                        opts.config.sqlite.segment_insert;
      if (!tr.raw)
        spdlog::debug("table {}: read through SQL ({})", name,
                      why.empty() ? "not an ordinary rowid table" : why);
    }
    table_load t;
    t.schema = "main";
    t.name = name;
    for (const auto& c : info.columns)
      t.columns.push_back(c.name);
    if (target.sharded) {
      auto k = info.find_column(target.shard_key);
      if (!k) {
        std::string cols;
        for (const auto& c : info.columns)
          cols += (cols.empty() ? "" : ", ") + c.name;
        throw usage_error(
            fmt::format("shard key column '{}' does not exist in table {} "
                        "(its columns: {}); fix shard_key in the target URL",
                        target.shard_key, name, cols));
      }
      t.key_column = *k;
    }
    t.create_sql = info.create_sql;
    const std::string q = sq::quote_ident(name);
    std::set<std::string> indexed;
    auto add_index = [&](const std::string& column) {
      auto k = info.find_column(column);
      if (!k) {
        spdlog::warn("sqlite.index: table {} has no column '{}': no index on it there", name,
                     column);
        return;
      }
      const std::string& col = info.columns[*k].name;
      if (!indexed.insert(col).second) return;
      t.index_sql.push_back(fmt::format("create index if not exists {} on {}({})",
                                        sq::quote_ident(name + "_" + col + "_idx"), q,
                                        sq::quote_ident(col)));
    };
    if (t.key_column) add_index(info.columns[*t.key_column].name);
    for (const auto& c : extra_indexes)
      add_index(c);
    for (const auto& sql : info.index_sql) {
      // The source's own indexes, made idempotent for a resumed finish.
      std::string s = sql;
      const auto pos = s.find("INDEX");
      if (pos != std::string::npos && s.find("IF NOT EXISTS") == std::string::npos)
        s.insert(pos + 5, " IF NOT EXISTS");
      t.index_sql.push_back(s);
    }

    planned_table& p = t.plan;
    p.schema = "main";
    p.name = name;
    p.bytes = info.bytes;
    p.rows_estimate = info.rows;
    using resume_by = sq::shard_writer_options::resume_by;
    t.resume = info.rowid_name.empty() ? resume_by::whole
               : info.rowid_alias      ? resume_by::ranges
                                       : resume_by::sequential;
    // Chunks are bounded in bytes too (sqlite.chunk_bytes, 64 MB): a writer may hold another
    // reader's chunk share in memory while it finishes its current one.
    std::int64_t table_chunk_rows = chunk_rows;
    if (info.rows > 0 && info.bytes > 0) {
      const std::int64_t row_bytes = std::max<std::int64_t>(1, info.bytes / info.rows);
      table_chunk_rows = std::clamp<std::int64_t>(chunk_bytes / row_bytes, 1, chunk_rows);
    }
    const auto ranges = info.rowid_name.empty() || info.rows <= table_chunk_rows
                            ? std::vector<std::pair<std::int64_t, std::int64_t>>{}
                            : rowid_ranges(*db, info, table_chunk_rows);
    if (ranges.size() <= 1) {
      // (rows counts the rowid span: a dense table gets chunks by span, never too few.)
      planned_chunk c;
      c.chunk_no = 0;
      c.kind = chunk_kind::whole;
      p.chunks.push_back(c);
    }
    for (std::size_t i = 0; ranges.size() > 1 && i < ranges.size(); ++i) {
      const auto [lo, hi] = ranges[i];
      planned_chunk c;
      c.chunk_no = static_cast<int>(i);
      c.kind = chunk_kind::int_range;
      c.lower = std::to_string(lo);
      c.upper = std::to_string(hi);
      c.where_sql = fmt::format("{} between {} and {}", info.rowid_name, lo, hi);
      p.chunks.push_back(c);
    }
    t.chunk_rowids = [](const planned_chunk& c) {
      return std::pair<std::int64_t, std::int64_t>(std::stoll(c.lower.value_or("0")),
                                                   std::stoll(c.upper.value_or("0")));
    };
    out.rows.push_back(info.rows);
    out.bytes.push_back(info.bytes);
    out.tables.push_back(std::move(t));
  }
  if (out.tables.empty())
    throw usage_error("no table of " + src.path + " matches --tables/--exclude: nothing to copy" +
                      (out.not_copied.empty()
                           ? std::string()
                           : " (virtual tables are not copied: " + out.not_copied.front() + ")"));

  auto rs = std::make_shared<sqlite_readers>();
  rs->path = src.path;
  rs->conns.resize(readers);
  rs->stmts.resize(readers);
  rs->scanners.resize(readers);
  rs->tables = reads;
  // The file's size shared out by rows, for progress.
  std::int64_t all_rows = 0;
  for (auto r : out.rows)
    all_rows += r;
  for (std::size_t i = 0; i < out.bytes.size(); ++i)
    out.bytes[i] = all_rows > 0 ? static_cast<std::int64_t>(static_cast<double>(out.bytes[i]) *
                                                            static_cast<double>(out.rows[i]) /
                                                            static_cast<double>(all_rows))
                                : 0;
  out.reader = [rs](std::size_t r, const planned_chunk& c,
                    chunk_sink& sink) -> asio::awaitable<void> {
    if (!rs->conns[r]) {
      rs->conns[r].emplace(sq::database::open(rs->path, sq::open_mode::read_only));
      rs->conns[r]->exec("pragma cache_size = -8192; begin; select count(*) from sqlite_schema");
    }
    const table_load& t = sink.table();
    const table_read& tr = rs->tables.at(t.name);
    const bool ranged = c.kind != chunk_kind::whole;
    if (tr.raw) {
      auto& scanner = rs->scanners[r][t.name];
      if (!scanner) {
        scanner = std::make_unique<sq::table_scanner>(rs->path, tr.root_page, tr.scan_columns);
        // Records pass through whole: only the key needs decoding.
        if (tr.pass_records) scanner->set_decode_limit(t.key_column ? *t.key_column + 1 : 0);
      }
      const std::int64_t lo = ranged ? std::stoll(*c.lower) : INT64_MIN;
      const std::int64_t hi = ranged ? std::stoll(*c.upper) : INT64_MAX;
      const std::size_t key = t.key_column ? *t.key_column : SIZE_MAX;
      char buf[64];
      // The scan is synchronous: it stops when a batch is full, the batch is sent, and the
      // scan resumes after the last row (a new descent from the root: log n).
      std::int64_t from = lo;
      for (;;) {
        const auto stopped =
            scanner->scan(from, hi,
                          [&](std::int64_t rowid, const std::vector<codecs::value_view>& v,
                              std::string_view record) {
                            std::optional<std::string_view> k;
                            if (key < v.size() && v[key].kind != codecs::value_kind::null)
                              k = key_text_of(v[key], buf);
                            codecs::row_batch_writer w = sink.begin_row(k);
                            w.begin_row(rowid);
                            if (tr.pass_records) {
                              w.record(record);
                              return !sink.end_row();
                            }
                            for (const auto& x : v)
                              w.value(x);
                            return !sink.end_row();
                          });
        co_await sink.flush();
        if (!stopped || *stopped >= hi) break;
        from = *stopped + 1;
      }
      co_return;
    }
    const std::string sql = select_sql(t, tr.rowid_name, ranged);
    auto& cache = rs->stmts[r];
    auto it = cache.find(sql);
    if (it == cache.end()) it = cache.emplace(sql, rs->conns[r]->prepare(sql)).first;
    sq::statement& s = it->second;
    s.reset();
    if (ranged) {
      s.bind_int64(1, std::stoll(*c.lower));
      s.bind_int64(2, std::stoll(*c.upper));
    }
    const int ncols = static_cast<int>(t.columns.size());
    const int key = t.key_column ? static_cast<int>(*t.key_column) + 1 : -1;
    char num[32];
    while (s.step()) {
      // The key first: it says which file's batch the row's values go to. Its type is read
      // before the text conversion (after which SQLite leaves column_type undefined).
      std::optional<std::string_view> key_text;
      int key_type = SQLITE_NULL;
      if (key > 0) {
        key_type = s.column_type(key);
        switch (key_type) {
          case SQLITE_INTEGER: {
            auto [end, ec2] = std::to_chars(num, num + sizeof num, s.column_int64(key));
            (void)ec2;
            key_text = std::string_view(num, static_cast<std::size_t>(end - num));
            break;
          }
          case SQLITE_FLOAT:  // SQLite's own text form; the REAL value is kept alongside
          case SQLITE_TEXT:
            key_text = s.column_text(key);
            break;
          case SQLITE_BLOB:
            key_text = s.column_blob(key);
            break;
          default:
            break;
        }
      }
      codecs::row_batch_writer w = sink.begin_row(key_text);
      w.begin_row(s.column_int64(0));
      for (int i = 1; i <= ncols; ++i)
        w.value(s.column_value(i, i == key ? key_type : s.column_type(i)));
      if (sink.end_row()) co_await sink.flush();
    }
    s.reset();
  };
  return out;
}

}  // namespace uringmig::engine::shards
