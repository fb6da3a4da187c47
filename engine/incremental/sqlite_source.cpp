// The SQLite source of an incremental load: one read-only connection per session, statements run
// on threads of their own (SQLite blocks), rows turned into COPY text in batches.

#include "codecs/copy_text.hpp"
#include "codecs/sql_text.hpp"
#include "connectors/sqlite/catalog.hpp"
#include "connectors/sqlite/database.hpp"
#include "engine/core/job.hpp"
#include "engine/incremental/source.hpp"
#include "engine/incremental/sql.hpp"
#include "io/blocking.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace sq = connectors::sqlite;

namespace {

bool has(const std::string& upper, std::string_view part) {
  return upper.find(part) != std::string::npos;
}

/// A declared SQLite type: how it orders and what PostgreSQL type a created column gets.
std::pair<value_class, std::string> sqlite_mapping(std::string_view declared) {
  std::string u(declared);
  std::transform(u.begin(), u.end(), u.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (has(u, "TIMESTAMP") || has(u, "DATETIME")) return {value_class::timestamp, "timestamp"};
  if (has(u, "DATE")) return {value_class::date, "date"};
  if (has(u, "TIME")) return {value_class::text, "time"};
  if (has(u, "BOOL")) return {value_class::other, "boolean"};
  if (has(u, "INT")) return {value_class::integer, "bigint"};
  if (has(u, "CHAR") || has(u, "CLOB") || has(u, "TEXT") || u.empty())
    return {value_class::text, "text"};
  if (has(u, "BLOB")) return {value_class::other, "bytea"};
  if (has(u, "REAL") || has(u, "FLOA") || has(u, "DOUB"))
    return {value_class::numeric, "double precision"};
  return {value_class::numeric, "numeric"};
}

std::string sqlite_name(const table_name& t) {
  if (t.parts.size() > 2 || (t.parts.size() == 2 && t.parts[0] != "main"))
    throw usage_error(
        fmt::format("source table {}: a SQLite file has one schema, main: write the "
                    "table's name alone",
                    codecs::printable(t.written)));
  return t.table();
}

std::string select_sql(const row_query& q) {
  return fmt::format("SELECT {} FROM {} WHERE {}", column_list(q.columns),
                     codecs::quote_ident(sqlite_name(q.table)), where_of(q, "", "", false));
}

void append_value(std::string& out, const sq::statement& s, int i) {
  switch (s.column_type(i)) {
    case SQLITE_NULL:
      out += "\\N";
      break;
    case SQLITE_INTEGER:
      out += std::to_string(s.column_int64(i));
      break;
    case SQLITE_FLOAT:
      out += fmt::format("{}", s.column_double(i));
      break;
    case SQLITE_BLOB:
      codecs::append_copy_bytea(out, s.column_blob(i));
      break;
    default:
      codecs::append_copy_text_escaped(out, s.column_text(i));
  }
}

class sqlite_session final : public source_session {
 public:
  explicit sqlite_session(std::string path) : path_(std::move(path)) {}

  asio::awaitable<std::int64_t> copy_rows(const row_query& q, io::buffer_pool& pool,
                                          text_sink sink) override {
    const std::string sql = select_sql(q);
    // Every step on the session's one worker thread (a thread per batch cost a thread start
    // per megabyte read).
    std::optional<sq::statement> st;
    co_await worker_.run([&] {
      if (!db_) db_.emplace(open());
      st.emplace(db_->prepare(sql));
    });
    std::int64_t rows = 0;
    bool more = true;
    const auto ncols = static_cast<int>(q.columns.size());
    while (more) {
      // A batch of rows on the worker, then into pooled buffers for the sink.
      std::string batch;
      co_await worker_.run([&] {
        while (batch.size() < (1u << 20)) {
          if (!st->step()) {
            more = false;
            break;
          }
          for (int i = 0; i < ncols; ++i) {
            if (i > 0) batch += '\t';
            append_value(batch, *st, i);
          }
          batch += '\n';
          ++rows;
        }
      });
      std::size_t at = 0;
      while (at < batch.size()) {
        io::buffer b = co_await pool.acquire();
        at += b.append(batch.data() + at, batch.size() - at);
        if (!co_await sink(std::move(b))) co_return rows;
      }
    }
    co_return rows;
  }

  asio::awaitable<void> close() override {
    db_.reset();
    co_return;
  }

 private:
  sq::database open() const { return sq::database::open(path_, sq::open_mode::read_only); }
  std::string path_;
  std::optional<sq::database> db_;
  io::serial_worker worker_;  // last: its thread ends before db_ closes
};

class sqlite_source final : public source {
 public:
  explicit sqlite_source(std::string path) : path_(std::move(path)) {}

  std::string description() const override { return "sqlite://" + path_; }

  asio::awaitable<source_table> describe(const table_name& t) override {
    const std::string name = sqlite_name(t);
    co_return co_await io::run_blocking([&] {
      source_table out;
      out.display = name;
      sq::database& db = control();
      sq::table_info info;
      try {
        info = sq::describe_table(db, name);
      } catch (const sq::error&) {
        return out;
      }
      if (info.name != name) return out;  // SQLite found it ignoring case: not the exact name
      out.found = true;
      out.rows_estimate = info.rows;
      for (const auto& c : info.columns) {
        const auto [cls, pg_type] = sqlite_mapping(c.declared_type);
        out.columns.push_back({c.name, c.declared_type, cls, pg_type});
      }
      return out;
    });
  }

  asio::awaitable<std::optional<std::string>> check_filter(const table_name& t,
                                                           const std::string& filter) override {
    const std::string sql =
        fmt::format("SELECT 1 FROM {} WHERE {}", codecs::quote_ident(sqlite_name(t)), filter);
    co_return co_await io::run_blocking([&]() -> std::optional<std::string> {
      try {
        (void)control().prepare(sql);
      } catch (const sq::error& e) {
        return std::string(e.what());
      }
      return std::nullopt;
    });
  }

  asio::awaitable<column_stats> stats(const row_query& q, const std::string& column) override {
    const std::string col = codecs::quote_ident(column);
    const std::string sql =
        fmt::format("SELECT count(*), min({0}), max({0}) FROM {1} WHERE {2}", col,
                    codecs::quote_ident(sqlite_name(q.table)), where_of(q, "", "", false));
    co_return co_await io::run_blocking([&] {
      sq::statement st = control().prepare(sql);
      column_stats s;
      if (st.step()) {
        s.rows = st.column_int64(0);
        s.min = st.column_opt_text(1);
        s.max = st.column_opt_text(2);
      }
      return s;
    });
  }

  asio::awaitable<std::vector<std::string>> boundaries(const row_query& q,
                                                       const std::string& column,
                                                       int groups) override {
    // The first value of each of `groups` equal groups, in the column's own collation (the one
    // the chunk predicate compares with: BINARY unless the column declares another).
    const std::string col = codecs::quote_ident(column);
    const std::string sql = fmt::format(
        "SELECT min(v) FROM (SELECT {0} AS v, ntile({1}) OVER (ORDER BY {0}) AS g FROM {2} "
        "WHERE ({3}) AND {0} IS NOT NULL) GROUP BY g ORDER BY g",
        col, groups, codecs::quote_ident(sqlite_name(q.table)), where_of(q, "", "", false));
    co_return co_await io::run_blocking([&] {
      sq::statement st = control().prepare(sql);
      std::vector<std::string> out;
      while (st.step())
        if (auto v = st.column_opt_text(0)) out.push_back(std::move(*v));
      return out;
    });
  }

  asio::awaitable<std::unique_ptr<source_session>> open_session(asio::any_io_executor) override {
    co_return std::make_unique<sqlite_session>(path_);
  }

  asio::awaitable<void> close() override {
    control_.reset();
    co_return;
  }

 private:
  sq::database& control() {
    std::lock_guard lk(m_);
    if (!control_) {
      control_.emplace(sq::database::open(path_, sq::open_mode::read_only));
      control_->check_readable();
    }
    return *control_;
  }
  std::string path_;
  std::mutex m_;
  std::optional<sq::database> control_;
};

}  // namespace

std::unique_ptr<source> open_sqlite_source(const codecs::sqlite_endpoint& e) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(e.path, ec))
    throw usage_error(fmt::format("--source: {} is not a SQLite file (check the path)",
                                  codecs::printable(e.path)));
  return std::make_unique<sqlite_source>(e.path);
}

}  // namespace uringmig::engine::incremental
