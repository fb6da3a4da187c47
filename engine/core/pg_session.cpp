#include "engine/core/pg_session.hpp"

#include "codecs/sql_text.hpp"
#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"

#include <fmt/format.h>

#include <variant>
#include <vector>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

const std::string& conninfo_of(const codecs::endpoint& e) {
  return std::get<codecs::postgres_endpoint>(e.spec).conninfo;
}

std::pair<codecs::endpoint, codecs::endpoint> pg_endpoints(const job_spec& opts,
                                                           std::string_view not_postgres) {
  const auto& s = opts.source_endpoint();
  const auto& t = opts.target_endpoint();
  if (s.kind() != codecs::endpoint_kind::postgres || t.kind() != codecs::endpoint_kind::postgres)
    throw usage_error(std::string(not_postgres));
  return {s, t};
}

asio::awaitable<pg::connection> connect_endpoint(asio::any_io_executor ex,
                                                 const codecs::endpoint& e, const char* role,
                                                 std::string application_name) {
  try {
    pg::connect_options o;
    o.application_name = std::move(application_name);
    co_return co_await pg::connection::connect(ex, conninfo_of(e), o);
  } catch (const pg::error& err) {
    throw job_error(fmt::format("cannot connect to the {} {}: {}", role, codecs::redacted_url(e),
                                err.diag().message));
  }
}

std::string session_settings(text_profile p) {
  // extra_float_digits > 0 prints the shortest text that reads back exactly (PostgreSQL 12+);
  // 3 also gives older servers every digit, as pg_dump sets it.
  std::string sql =
      "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
      "SET extra_float_digits = 3";
  if (p == text_profile::postgres) return sql;
  sql +=
      "; SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'; SET bytea_output = 'hex'; "
      "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0";
  if (p == text_profile::portable) return sql;
  return sql + "; SET lc_monetary = 'C'; SET search_path = pg_catalog";
}

asio::awaitable<void> apply_settings(pg::connection& c, text_profile p, const char* what) {
  pg::result r = co_await c.simple(session_settings(p));
  if (!r.ok()) throw job_error(fmt::format("{}: {}", what, r.error().message));
}

asio::awaitable<std::string> export_snapshot(pg::connection& holder) {
  (co_await holder.query(snapshot_begin_sql)).check("starting the snapshot's transaction");
  pg::result snap = co_await holder.query("select pg_catalog.pg_export_snapshot()");
  snap.check("exporting the source snapshot");
  co_return std::string(snap.value(0, 0));
}

asio::awaitable<void> join_snapshot(pg::connection& c, const std::string& snapshot) {
  std::vector<pg::statement> b;
  b.push_back({snapshot_begin_sql, {}, false});
  if (!snapshot.empty())
    b.push_back({"SET TRANSACTION SNAPSHOT " + codecs::quote_literal(snapshot), {}, false});
  auto rs = co_await c.pipeline(std::move(b));
  for (auto& r : rs) {
    if (r.ok() || r.aborted()) continue;
    if (r.error().sqlstate == "22023")
      throw job_error("the source snapshot " + snapshot +
                      " is gone (its exporting session ended); run the same command again to "
                      "resume with a fresh snapshot");
    r.check("entering the source snapshot");
  }
}

}  // namespace uringmig::engine
