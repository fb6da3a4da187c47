// The Snowflake source of an incremental load, over the SQL API v2 connector: statements in
// Snowflake's dialect (every name double-quoted with its exact case, watermark literals cast to
// the column's precision), rows arriving as COPY text from the connector's jsonv2 decoder.

#include "engine/incremental/snowflake_source.hpp"
#include "codecs/copy_text.hpp"
#include "codecs/snowflake_types.hpp"
#include "codecs/sql_text.hpp"
#include "connectors/http/http_client.hpp"
#include "connectors/snowflake/sql_api.hpp"
#include "engine/core/job.hpp"
#include "engine/incremental/sql.hpp"

#include <fmt/format.h>
#include <boost/asio/this_coro.hpp>

#include <cstdlib>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace sf = connectors::snowflake;
namespace sft = codecs::snowflake;

namespace {

std::string setting(const std::map<std::string, std::string>& s, const std::string& key) {
  const auto it = s.find(key);
  return it == s.end() ? std::string() : it->second;
}

/// "NUMBER(38,0)", "TIMESTAMP_NTZ(9)", "VARCHAR(20)": the column's type as Snowflake writes it.
std::string type_text(const sft::column& c) {
  const auto num = [](const std::optional<std::int64_t>& v) {
    return std::to_string(v.value_or(0));
  };
  switch (c.type) {
    case sft::sf_type::fixed:
      return fmt::format("NUMBER({},{})", num(c.precision), num(c.scale));
    case sft::sf_type::real:
      return "FLOAT";
    case sft::sf_type::text:
      return c.length ? fmt::format("VARCHAR({})", *c.length) : "VARCHAR";
    case sft::sf_type::binary:
      return "BINARY";
    case sft::sf_type::time:
      return fmt::format("TIME({})", num(c.scale));
    case sft::sf_type::timestamp_ntz:
    case sft::sf_type::timestamp_ltz:
    case sft::sf_type::timestamp_tz: {
      std::string t = c.type_name;
      for (char& ch : t)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      return fmt::format("{}({})", t, num(c.scale));
    }
    default: {
      std::string t = c.type_name;
      for (char& ch : t)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      return t;
    }
  }
}

/// How a Snowflake column orders (README's mapping).
value_class class_of(const sft::column& c) {
  switch (c.type) {
    case sft::sf_type::fixed:
      return c.scale.value_or(0) == 0 ? value_class::integer : value_class::numeric;
    case sft::sf_type::real:
      return value_class::numeric;
    case sft::sf_type::text:
    case sft::sf_type::time:
      return value_class::text;
    case sft::sf_type::date:
      return value_class::date;
    case sft::sf_type::timestamp_ntz:
      return value_class::timestamp;
    case sft::sf_type::timestamp_ltz:
    case sft::sf_type::timestamp_tz:
      return value_class::timestamptz;
    default:
      return value_class::other;
  }
}

/// `"A"."B"."C"`: every part quoted with its exact case (Snowflake upper-cases bare names).
std::string sf_name(const table_name& t) {
  std::string out;
  for (const auto& p : t.parts) {
    if (!out.empty()) out += '.';
    out += codecs::quote_ident(p);
  }
  return out;
}

/// A single-quoted string constant: in Snowflake a backslash starts an escape sequence there,
/// so it is doubled, as is the quote.
std::string sf_quote(std::string_view text) {
  std::string out = "'";
  for (const char ch : text) {
    if (ch == '\\' || ch == '\'') out += ch;
    out += ch;
  }
  out += '\'';
  return out;
}

/// A literal compared with a column of class `c` at the source's precision: numbers bare,
/// dates and timestamps cast (nanoseconds kept), instants with an explicit UTC offset.
std::string sf_literal(value_class c, const std::string& value) {
  switch (c) {
    case value_class::integer:
    case value_class::numeric:
      return literal(c, value, "", false);
    case value_class::date:
      return sf_quote(value) + "::DATE";
    case value_class::timestamp:
      return sf_quote(value) + "::TIMESTAMP_NTZ(9)";
    case value_class::timestamptz: {
      auto t = parse_time(value);
      if (!t) return sf_quote(value) + "::TIMESTAMP_TZ(9)";
      const int off = t->offset_s.value_or(0);
      t->offset_s.reset();
      t->offset_text.clear();
      const int a = off < 0 ? -off : off;
      return sf_quote(fmt::format("{} {}{:02}:{:02}", format_time(*t), off < 0 ? '-' : '+',
                                  a / 3600, a / 60 % 60)) +
             "::TIMESTAMP_TZ(9)";
    }
    default:
      return sf_quote(value);
  }
}

/// The WHERE condition of `q` in Snowflake's dialect ("TRUE" when it selects everything).
std::string sf_where(const row_query& q) {
  std::string out;
  const auto add = [&](const std::string& cond) {
    if (!out.empty()) out += " AND ";
    out += "(" + cond + ")";
  };
  const auto range = [](const std::string& col, value_class c, const std::optional<std::string>& lo,
                        const char* lo_op, const std::optional<std::string>& hi,
                        const char* hi_op) {
    std::string r;
    if (lo) r = fmt::format("{} {} {}", col, lo_op, sf_literal(c, *lo));
    if (hi)
      r += fmt::format("{}{} {} {}", r.empty() ? "" : " AND ", col, hi_op, sf_literal(c, *hi));
    return r;
  };
  if (!q.filter.empty()) add(q.filter);
  if (q.window && !q.watermark.empty()) {
    const std::string wm = codecs::quote_ident(q.watermark);
    if (q.from || q.to)
      add("(" + range(wm, q.watermark_class, q.from, ">=", q.to, "<=") + ") OR " + wm + " IS NULL");
    else
      add(wm + " IS NULL");  // no row had a watermark when the window was fixed
  }
  if (!q.chunk_by.empty() && (q.range.lower || q.range.upper)) {
    const std::string col = codecs::quote_ident(q.chunk_by);
    std::string r = range(col, q.chunk_class, q.range.lower, ">=", q.range.upper, "<");
    if (q.range.nulls) r = "(" + r + ") OR " + col + " IS NULL";
    add(r);
  }
  return out.empty() ? "TRUE" : out;
}

/// One line for a failed statement; sign-in refusals are the user's to fix (usage_error).
[[noreturn]] void rethrow_sf(const sf::error& e, const std::string& what) {
  if (e.http_status() == 401 || e.http_status() == 403)
    throw usage_error(
        fmt::format("--source: {} (while {}; [snowflake] private_key_file or "
                    "oauth_token signs in)",
                    e.what(), codecs::printable(what)));
  throw job_error(fmt::format("Snowflake source, {}: {}", codecs::printable(what), e.what()));
}

struct stopped {};  // the sink asked to stop the read

/// An HTTP client and a SQL API client on one executor.
struct sf_link {
  sf_link(asio::any_io_executor ex, const sf::settings& s, std::stop_token stop)
      : http(std::move(ex)), sql(http, s, std::move(stop)) {}
  connectors::http::http_client http;
  sf::sql_client sql;
};

class snowflake_session final : public source_session {
 public:
  explicit snowflake_session(std::unique_ptr<sf_link> link) : link_(std::move(link)) {}

  asio::awaitable<std::int64_t> copy_rows(const row_query& q, io::buffer_pool& pool,
                                          text_sink sink) override {
    const std::string sql = snowflake_select(q);
    sf::copy_sink into = [&](std::string_view chunk) -> asio::awaitable<void> {
      std::size_t at = 0;
      while (at < chunk.size()) {
        io::buffer b = co_await pool.acquire();
        at += b.append(chunk.data() + at, chunk.size() - at);
        if (!co_await sink(std::move(b))) throw stopped{};
      }
    };
    std::int64_t rows = 0;
    try {
      rows = (co_await link_->sql.query(sql, into)).rows;
    } catch (const stopped&) {
    } catch (const sf::error& e) {
      rethrow_sf(e, "reading " + q.table.written);
    }
    co_return rows;
  }

  asio::awaitable<void> close() override {
    link_.reset();
    co_return;
  }

 private:
  std::unique_ptr<sf_link> link_;
};

class snowflake_source final : public source {
 public:
  snowflake_source(std::unique_ptr<sf_link> control, sf::settings s, std::stop_token stop)
      : control_(std::move(control)), s_(std::move(s)), stop_(std::move(stop)) {}

  std::string description() const override {
    const auto& e = s_.endpoint;
    return fmt::format("snowflake://{}@{}/{}{}{}", e.user, e.account, e.database,
                       e.schema.empty() ? "" : "/", e.schema);
  }

  asio::awaitable<source_table> describe(const table_name& t) override {
    source_table out;
    out.display = t.written;
    std::vector<sft::column> cols;
    try {
      cols = co_await control_->sql.describe_columns(sf_name(t));
    } catch (const sf::error& e) {
      if (e.sql_state() == "42S02") co_return out;  // no table of that exact name
      rethrow_sf(e, "describing " + t.written);
    }
    out.found = true;
    for (const auto& c : cols)
      out.columns.push_back({c.name, type_text(c), class_of(c), sft::pg_type(c)});
    co_return out;
  }

  asio::awaitable<std::optional<std::string>> check_filter(const table_name& t,
                                                           const std::string& filter) override {
    const std::string sql = fmt::format("SELECT 1 FROM {} WHERE ({}) LIMIT 0", sf_name(t), filter);
    try {
      (void)co_await control_->sql.query(
          sql, [](std::string_view) -> asio::awaitable<void> { co_return; });
    } catch (const sf::error& e) {
      if (e.http_status() == 422) co_return std::string(e.what());
      rethrow_sf(e, "checking the filter of " + t.written);
    }
    co_return std::nullopt;
  }

  asio::awaitable<column_stats> stats(const row_query& q, const std::string& column) override {
    const std::string col = codecs::quote_ident(column);
    const std::string sql = fmt::format("SELECT COUNT(*), MIN({0}), MAX({0}) FROM {1} WHERE {2}",
                                        col, sf_name(q.table), sf_where(q));
    std::string text;
    try {
      (void)co_await control_->sql.query(sql, [&](std::string_view c) -> asio::awaitable<void> {
        text.append(c);
        co_return;
      });
    } catch (const sf::error& e) {
      rethrow_sf(e, "reading the statistics of " + q.table.written);
    }
    column_stats s;
    codecs::copy_text_parser p;
    p.expect_fields(3);
    const bool ok = p.feed(text, [&](const std::vector<std::optional<std::string_view>>& f) {
      s.rows = f[0] ? std::strtoll(std::string(*f[0]).c_str(), nullptr, 10) : 0;
      if (f[1]) s.min = std::string(*f[1]);
      if (f[2]) s.max = std::string(*f[2]);
    });
    if (!ok || p.rows() != 1)
      throw job_error(fmt::format("Snowflake source: statistics of {} came back malformed",
                                  codecs::printable(q.table.written)));
    co_return s;
  }

  asio::awaitable<std::vector<std::string>> boundaries(const row_query& q,
                                                       const std::string& column,
                                                       int groups) override {
    std::string text;
    try {
      (void)co_await control_->sql.query(snowflake_boundaries_select(q, column, groups),
                                         [&](std::string_view c) -> asio::awaitable<void> {
                                           text.append(c);
                                           co_return;
                                         });
    } catch (const sf::error& e) {
      rethrow_sf(e, "reading the chunk boundaries of " + q.table.written);
    }
    std::vector<std::string> out;
    codecs::copy_text_parser p;
    p.expect_fields(1);
    const bool ok = p.feed(text, [&](const std::vector<std::optional<std::string_view>>& f) {
      if (f[0]) out.emplace_back(*f[0]);
    });
    if (!ok)
      throw job_error(fmt::format("Snowflake source: chunk boundaries of {} came back malformed",
                                  codecs::printable(q.table.written)));
    co_return out;
  }

  asio::awaitable<std::unique_ptr<source_session>> open_session(asio::any_io_executor ex) override {
    co_return std::make_unique<snowflake_session>(std::make_unique<sf_link>(ex, s_, stop_));
  }

  asio::awaitable<void> close() override {
    control_.reset();
    co_return;
  }

 private:
  std::unique_ptr<sf_link> control_;
  sf::settings s_;
  std::stop_token stop_;
};

sf::settings snowflake_settings(const codecs::snowflake_endpoint& e,
                                const std::map<std::string, std::string>& settings) {
  sf::settings s;
  s.endpoint = e;
  s.base_url = setting(settings, "snowflake.endpoint");
  s.auth.private_key_file = setting(settings, "snowflake.private_key_file");
  s.auth.passphrase_env = setting(settings, "snowflake.private_key_passphrase_env");
  s.auth.oauth_token = setting(settings, "snowflake.oauth_token");
  if (s.auth.private_key_file.empty() == s.auth.oauth_token.empty())
    throw usage_error(
        "--source: a Snowflake source signs in with [snowflake] private_key_file (key pair) or "
        "oauth_token: set exactly one");
  if (!s.auth.passphrase_env.empty() && std::getenv(s.auth.passphrase_env.c_str()) == nullptr)
    throw usage_error(fmt::format(
        "[snowflake] private_key_passphrase_env: the environment variable {} is not set",
        codecs::printable(s.auth.passphrase_env)));
  return s;
}

}  // namespace

std::string snowflake_select(const row_query& q) {
  return fmt::format("SELECT {} FROM {} WHERE {}", column_list(q.columns), sf_name(q.table),
                     sf_where(q));
}

std::string snowflake_boundaries_select(const row_query& q, const std::string& column, int groups) {
  // NTILE's ORDER BY and the chunk predicate's >= / < compare with the column's own collation
  // (none: UTF-8 code points), and MIN per group too: the cuts ascend in the predicate's order.
  const std::string col = codecs::quote_ident(column);
  return fmt::format(
      "SELECT MIN(V) FROM (SELECT {0} AS V, NTILE({1}) OVER (ORDER BY {0}) AS G FROM {2} "
      "WHERE ({3}) AND {0} IS NOT NULL) GROUP BY G ORDER BY G",
      col, groups, sf_name(q.table), sf_where(q));
}

asio::awaitable<std::unique_ptr<source>> open_snowflake_source(
    const codecs::snowflake_endpoint& e, const std::map<std::string, std::string>& settings,
    std::stop_token stop) {
  sf::settings s = snowflake_settings(e, settings);
  auto ex = co_await asio::this_coro::executor;
  std::unique_ptr<sf_link> control;
  try {
    control = std::make_unique<sf_link>(ex, s, stop);
  } catch (const std::runtime_error& err) {
    // The key file: missing, unreadable, not a key, wrong passphrase (one line, no secret).
    throw usage_error(fmt::format("--source: {}", err.what()));
  }
  co_return std::make_unique<snowflake_source>(std::move(control), std::move(s), std::move(stop));
}

}  // namespace uringmig::engine::incremental
