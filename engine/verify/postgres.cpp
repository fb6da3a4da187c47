#include "engine/verify/verify.hpp"

#include "codecs/sql_text.hpp"
#include "codecs/url.hpp"
#include "connectors/postgres/connection.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/settings.hpp"
#include "io/deadline.hpp"
#include "io/runtime.hpp"
#include "io/wait_all.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

namespace uringmig::engine::verify {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace {

// The text form of a row depends on the session's settings; both sides must agree on them or
// identical data would hash differently (a timestamptz in another TimeZone, a float with fewer
// digits, bytea in escape format, a regclass printed relative to the search_path), and names
// and text must reach us in one encoding: every session here uses the `verify` text profile.
const std::string session_sql = session_settings(text_profile::verify);

// Equal on both sides: hashtextextended() is the same function over the same
// bytes there (lengths 0..100 cover its tail handling; endianness changes
// every value), so the faster row_hash::hash64 gives equal sums for equal rows.
constexpr const char* probe_sql =
    "select pg_catalog.getdatabaseencoding() || ':' || pg_catalog.string_agg("
    "pg_catalog.hashtextextended(x, 0)::text, ',' order by n) from (values (1, ''), (2, 'a'), "
    "(3, 'abc'), (4, 'abcd'), (5, 'uringmig verify 13'), (6, pg_catalog.repeat('xy', 50))) v(n, x)";

constexpr const char* begin_sql = snapshot_begin_sql;

// One row per column, or one row with a NULL name for a table without
// columns; no row when the table does not exist (as something rows can be
// selected from only: a table, a partitioned table or a materialized view).
// Second column: whether it has rows to read (a materialized view may not).
constexpr const char* columns_sql =
    "select a.attname, c.relispopulated from pg_catalog.pg_class c "
    "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
    "left join pg_catalog.pg_attribute a "
    "on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
    "where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p', 'm') "
    "order by a.attnum";

/// A table to compare: the source's columns (generated ones included) in
/// attnum order, unquoted; both sides hash these, so the target's column
/// order and dropped columns do not matter.
struct table_job {
  std::string schema;
  std::string name;
  std::vector<std::string> columns;
  std::string display() const { return schema + "." + name; }
};

struct side_result {
  bool missing = false;
  bool populated = true;                     // false: a materialized view WITH NO DATA
  std::vector<std::string> missing_columns;  // of the job's columns
  std::vector<std::string> extra_columns;    // this side has, the job does not
  std::string rows;                          // empty: not counted
  std::string sum;
  std::string error;  // one line; empty: read
};

enum class verdict { identical, differs, missing, failed };

struct table_outcome {
  verdict v = verdict::failed;
  std::string rows;  // the source's count, when read
  std::string text;  // the result column
  double seconds = 0;
  bool done = false;
};

/// State the workers share. Only touched from context 0, where every worker
/// coroutine runs (they reach their connections through io::run_on).
struct shared_state {
  row_hash hash = row_hash::md5;
  std::vector<table_job> tables;
  std::vector<table_outcome> outcomes;
  std::size_t next = 0;
  std::optional<table_outcome> large_objects;  // compared when either side has any
  bool abort = false;  // a worker could not start: the others stop taking tables
};

struct snapshots {
  std::optional<std::string> source;
  std::optional<std::string> target;
};

/// What a control connection learnt about its side.
struct side_info {
  std::optional<std::string> snapshot;  // exported, for the workers
  std::optional<std::string> probe;     // probe_sql's value; nullopt: no hashtextextended
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items)
    out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::vector<std::string> q;
  q.reserve(names.size());
  for (const auto& n : names)
    q.push_back(codecs::quote_ident(n));
  return join(q);
}

/// At most `limit` names, then "and N more": the error stays one short line.
std::string name_list(const std::vector<std::string>& names, std::size_t limit) {
  if (names.size() <= limit) return join(names);
  std::vector<std::string> head(names.begin(), names.begin() + static_cast<long>(limit));
  return fmt::format("{} and {} more", join(head), names.size() - limit);
}

[[noreturn]] void session_failed(const codecs::endpoint& e, const char* role, const pg::result& r) {
  throw job_error(fmt::format("cannot read a snapshot of the {} {}: {}", role,
                              codecs::redacted_url(e), r.error().message));
}

/// A control connection: configured, probed, in a REPEATABLE READ READ ONLY
/// transaction that stays open until the workers are done, its snapshot
/// exported for them. No snapshot when the server cannot export one (then
/// every worker reads its own).
asio::awaitable<side_info> begin_exported(pg::connection& c, const codecs::endpoint& e,
                                          const char* role) {
  side_info info;
  pg::result s = co_await c.simple(session_sql);
  if (!s.ok()) session_failed(e, role, s);
  pg::result p = co_await c.query(probe_sql);  // before BEGIN: a failure costs nothing
  if (p.ok() && !p.is_null(0, 0)) info.probe = std::string(p.value(0, 0));
  pg::result b = co_await c.simple(begin_sql);
  if (!b.ok()) session_failed(e, role, b);
  pg::result x = co_await c.query("select pg_catalog.pg_export_snapshot()");
  if (x.ok()) {
    info.snapshot = std::string(x.value(0, 0));
    co_return info;
  }
  spdlog::warn("{}: cannot export a snapshot ({}); each verify connection reads its own", role,
               x.error().message);
  (void)co_await c.simple("ROLLBACK");
  pg::result again = co_await c.simple(begin_sql);
  if (!again.ok()) session_failed(e, role, again);
  co_return info;
}

/// A worker's connection to one side, in the side's snapshot.
asio::awaitable<pg::connection> open_worker(asio::any_io_executor ex, const codecs::endpoint& e,
                                            const char* role, std::optional<std::string> snap) {
  pg::connection c = co_await connect_endpoint(ex, e, role);
  pg::result s = co_await c.simple(session_sql);
  if (!s.ok()) session_failed(e, role, s);
  co_await join_snapshot(c, snap.value_or(""));
  co_return c;
}

asio::awaitable<pg::connection> open_control(asio::any_io_executor ex, const codecs::endpoint& e,
                                             const char* role, side_info& info) {
  pg::connection c = co_await connect_endpoint(ex, e, role);
  info = co_await begin_exported(c, e, role);
  co_return c;
}

asio::awaitable<void> end_session(pg::connection& c) {
  if (c.is_open()) (void)co_await c.simple("ROLLBACK");
  co_await c.close();
}

/// The source's columns of every table, generated ones included, attnum order.
asio::awaitable<std::map<std::uint32_t, std::vector<std::string>>> source_columns(
    pg::connection& c, const std::vector<table_info>& tables) {
  const std::string oids = oid_array(tables);
  pg::result r = co_await c.query(
      "select a.attrelid::int8, a.attname from pg_catalog.pg_attribute a "
      "where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped "
      "order by a.attrelid, a.attnum",
      pg::make_params(oids));
  r.check("reading the source's columns");
  std::map<std::uint32_t, std::vector<std::string>> out;
  for (int i = 0; i < r.rows(); ++i)
    out[static_cast<std::uint32_t>(std::stoll(std::string(r.value(i, 0))))].emplace_back(
        r.value(i, 1));
  co_return out;
}

/// One side of one table. Never throws: a failure is the result's `error`, and
/// a savepoint keeps the snapshot's transaction usable for the next table.
asio::awaitable<side_result> checksum_side(pg::connection& c, const table_job& t, row_hash hash) {
  side_result r;
  bool savepoint = false;
  try {
    (co_await c.query("SAVEPOINT uringmig_verify")).check("starting a savepoint");
    savepoint = true;
    pg::result cols = co_await c.query(columns_sql, pg::make_params(t.schema, t.name));
    cols.check("looking up the table");
    if (cols.rows() == 0) {
      r.missing = true;
    } else {
      std::set<std::string> have;
      for (int i = 0; i < cols.rows(); ++i)
        if (!cols.is_null(i, 0)) have.emplace(cols.value(i, 0));
      const std::set<std::string> want(t.columns.begin(), t.columns.end());
      for (const auto& col : t.columns)
        if (!have.count(col)) r.missing_columns.push_back(col);
      for (int i = 0; i < cols.rows(); ++i)
        if (!cols.is_null(i, 0) && !want.count(std::string(cols.value(i, 0))))
          r.extra_columns.emplace_back(cols.value(i, 0));
      r.populated = cols.value(0, 1) == "t";
      if (r.missing_columns.empty() && r.populated) {
        pg::result sum = co_await c.query(checksum_sql(t.schema, t.name, t.columns, hash));
        sum.check("computing the checksum");
        r.rows = sum.value(0, 0);
        r.sum = sum.value(0, 1);
      }
    }
  } catch (const pg::error& e) {
    r.error = e.diag().message;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  if (savepoint && c.is_open())
    (void)co_await c.query(r.error.empty() ? "RELEASE SAVEPOINT uringmig_verify"
                                           : "ROLLBACK TO SAVEPOINT uringmig_verify");
  co_return r;
}

table_outcome compare(const side_result& s, const side_result& d) {
  table_outcome o;
  o.rows = s.rows;
  if (!s.error.empty()) {
    o.text = "ERROR on source: " + s.error;
  } else if (s.missing) {
    o.text = "ERROR: gone from the source";
  } else if (!d.error.empty()) {
    o.v = verdict::failed;
    o.text = "ERROR on target: " + d.error;
  } else if (d.missing) {
    o.v = verdict::missing;
    o.text = "MISSING on target";
  } else if (s.populated != d.populated) {
    o.v = verdict::differs;
    o.text = s.populated ? "DIFFERS: not populated on target" : "DIFFERS: not populated on source";
  } else if (!s.populated) {
    o.v = verdict::identical;
    o.text = "ok (materialized view not populated)";
  } else if (!d.missing_columns.empty()) {
    o.v = verdict::differs;
    o.text = "DIFFERS: column(s) missing on target: " + quoted_list(d.missing_columns);
  } else if (s.rows != d.rows) {
    o.v = verdict::differs;
    o.text = fmt::format("DIFFERS: rows {} vs {}", s.rows, d.rows);
  } else if (s.sum != d.sum) {
    o.v = verdict::differs;
    o.text = fmt::format("DIFFERS: checksum {} vs {}", s.sum, d.sum);
  } else {
    o.v = verdict::identical;
    o.text = "ok, checksum " + s.sum;
    // The columns the source has are what a copy carries; the target's own
    // additions are said, not judged.
    if (!d.extra_columns.empty())
      o.text += " (target column(s) not compared: " + quoted_list(d.extra_columns) + ")";
  }
  return o;
}

/// One worker: a source connection on context `index % n` and a target one
/// on the next context, both in their side's snapshot, taking tables until
/// none are left; each table's two sides run at once.
asio::awaitable<void> worker(io::runtime& rt, std::size_t index, const codecs::endpoint& source,
                             const codecs::endpoint& target, snapshots snap, shared_state& state) {
  auto sex = rt.executor(index % rt.size());
  auto dex = rt.executor((index + 1) % rt.size());
  pg::connection src;
  pg::connection dst;
  try {
    src = co_await io::run_on(sex, open_worker(sex, source, "source", snap.source));
    dst = co_await io::run_on(dex, open_worker(dex, target, "target", snap.target));
  } catch (...) {
    state.abort = true;
    throw;
  }
  const auto stop = rt.stop_token();
  while (state.next < state.tables.size() && !state.abort && !stop.stop_requested()) {
    const std::size_t i = state.next++;
    const table_job& t = state.tables[i];
    const auto t0 = std::chrono::steady_clock::now();
    using namespace asio::experimental::awaitable_operators;
    auto [s, d] = co_await (io::run_on(sex, checksum_side(src, t, state.hash)) &&
                            io::run_on(dex, checksum_side(dst, t, state.hash)));
    table_outcome o = compare(s, d);
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    o.done = true;
    spdlog::info("verified {}: {} ({:.2f}s)", t.display(), o.text, o.seconds);
    state.outcomes[i] = std::move(o);
  }
  co_await io::run_on(sex, end_session(src));
  co_await io::run_on(dex, end_session(dst));
}

asio::awaitable<void> run_workers(io::runtime& rt, std::size_t jobs, const codecs::endpoint& source,
                                  const codecs::endpoint& target, snapshots snap,
                                  shared_state& state) {
  auto ex = rt.executor(0);
  std::vector<io::spawned> ops;
  for (std::size_t i = 0; i < jobs; ++i)
    ops.push_back(asio::co_spawn(ex, worker(rt, i, source, target, snap, state), asio::deferred));
  co_await io::wait_all(std::move(ops));
}

/// Large objects, on each control connection (in its side's snapshot): count, and the sum of a
/// 64-bit hash over each object's OID, owner, ACL and md5 of its contents (owner and ACL left
/// out under schema.no_owner / schema.no_acl, as the clone leaves them). lo_get reads each
/// object whole on the server (bytea: at most 1 GB per object).
asio::awaitable<side_result> large_objects_side(pg::connection& c, const job_spec& opts) {
  const std::string owner =
      opts.config.bulk.no_owner ? "" : " || ':' || pg_catalog.pg_get_userbyid(m.lomowner)";
  const std::string acl = opts.config.bulk.no_acl ? "" : " || ':' || coalesce(m.lomacl::text, '')";
  side_result r;
  pg::result sum = co_await c.query(
      "select count(*)::text, coalesce(sum(('x' || pg_catalog.substr(pg_catalog.md5(m.oid::text" +
      owner + acl +
      " || ':' || pg_catalog.md5(pg_catalog.lo_get(m.oid))), 1, 16))::bit(64)::bigint), 0)::text "
      "from pg_catalog.pg_largeobject_metadata m");
  if (!sum.ok()) {
    r.error = sum.error().message;
    co_return r;
  }
  r.rows = sum.value(0, 0);
  r.sum = sum.value(0, 1);
  co_return r;
}

asio::awaitable<std::optional<table_outcome>> compare_large_objects(const job_spec& opts,
                                                                    pg::connection& src,
                                                                    pg::connection& dst) {
  const auto t0 = std::chrono::steady_clock::now();
  using namespace asio::experimental::awaitable_operators;
  auto [s, d] = co_await (io::run_on(src.executor(), large_objects_side(src, opts)) &&
                          io::run_on(dst.executor(), large_objects_side(dst, opts)));
  if (s.rows == "0" && d.rows == "0") co_return std::nullopt;
  table_outcome o = compare(s, d);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  o.done = true;
  spdlog::info("verified large objects: {} ({:.2f}s)", o.text, o.seconds);
  co_return o;
}

/// Runs on context 0: the control connections hold each side's snapshot
/// while the workers compare the tables.
asio::awaitable<void> verify_all(io::runtime& rt, const job_spec& opts, const table_filter& filter,
                                 const codecs::endpoint& source, const codecs::endpoint& target,
                                 shared_state& state) {
  auto ex0 = rt.executor(0);
  auto ex1 = rt.executor(1 % rt.size());
  // --max-runtime: no new table starts after it; the ones being read finish.
  io::deadline deadline(rt, opts.max_runtime);
  side_info src_info;
  side_info dst_info;
  pg::connection src = co_await open_control(ex0, source, "source", src_info);
  pg::connection dst = co_await io::run_on(ex1, open_control(ex1, target, "target", dst_info));
  const snapshots snap{src_info.snapshot, dst_info.snapshot};
  if (opts.config.verify.md5) {  // verify.hash: auto (hash64 when both sides agree) or md5
    spdlog::info("row hash: md5 (verify.hash = md5)");
  } else if (src_info.probe && src_info.probe == dst_info.probe) {
    state.hash = row_hash::hash64;
    spdlog::info("row hash: hashtextextended (both servers hash alike)");
  } else {
    spdlog::info("row hash: md5 over UTF-8 (the servers' encodings or hash functions differ)");
  }

  std::vector<table_info> found = co_await discover_tables(src, filter);
  if (found.empty())
    throw usage_error("no source table matches --tables/--exclude; nothing to verify");
  for (auto& m : co_await discover_matviews(src, filter))
    found.push_back(std::move(m));
  auto columns = co_await source_columns(src, found);
  for (const auto& t : found)
    state.tables.push_back({t.schema, t.name, columns[t.oid]});
  state.outcomes.resize(state.tables.size());
  spdlog::info("{} table(s) to verify", state.tables.size());

  const std::size_t jobs = std::min<std::size_t>(
      opts.jobs > 0 ? static_cast<std::size_t>(opts.jobs) : rt.size(), state.tables.size());
  co_await run_workers(rt, jobs, source, target, snap, state);
  if (!opts.config.bulk.skip_large_objects && !state.abort && !rt.stop_token().stop_requested())
    state.large_objects = co_await compare_large_objects(opts, src, dst);

  deadline.cancel();
  co_await end_session(src);
  co_await io::run_on(ex1, end_session(dst));
}

}  // namespace

std::string checksum_sql(std::string_view schema, std::string_view table,
                         const std::vector<std::string>& columns, row_hash hash) {
  // The row's text over named columns (not t::text): the target's column
  // order and dropped columns do not change it. A 64-bit hash of it as a
  // bigint, summed (sum(bigint) is numeric): order-independent, no overflow,
  // and a duplicated row changes both the count and the sum.
  std::string row;
  for (const auto& c : columns)
    row += (row.empty() ? "t." : ", t.") + codecs::quote_ident(c);
  const std::string text = "row(" + row + ")::text";
  const std::string h = hash == row_hash::hash64
                            ? "pg_catalog.hashtextextended(" + text + ", 0)"
                            : "('x' || pg_catalog.substr(pg_catalog.md5(pg_catalog.convert_to(" +
                                  text + ", 'UTF8')), 1, 16))::bit(64)::bigint";
  return fmt::format("select count(*)::text, coalesce(sum({}), 0)::text from only {} t", h,
                     codecs::qualified_name(schema, table));
}

int run_verify(const job_spec& opts) {
  const codecs::endpoint& source = opts.source_endpoint();
  const codecs::endpoint& target = opts.target_endpoint();
  if (source.kind() != codecs::endpoint_kind::postgres ||
      target.kind() != codecs::endpoint_kind::postgres)
    throw usage_error("uringmig verify: only PostgreSQL source and target are supported yet");
  const table_filter filter = make_filter(opts);

  // Two contexts at least: a table's source and target side run on different ones.
  const std::size_t threads = std::max<std::size_t>(
      2, opts.jobs > 0 ? std::min<std::size_t>(static_cast<std::size_t>(opts.jobs), 4)
                       : io::default_thread_count());
  io::runtime rt(threads);
  shared_state state;
  const auto t0 = std::chrono::steady_clock::now();
  rt.run(verify_all(rt, opts, filter, source, target, state));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<std::string> differ;
  std::vector<std::string> failed;
  std::size_t identical = 0;
  long long rows = 0;
  std::printf("%-40s %12s %8s  %s\n", "table", "rows", "seconds", "result");
  for (std::size_t i = 0; i < state.tables.size(); ++i) {
    const auto& t = state.tables[i];
    const auto& o = state.outcomes[i];
    if (!o.done) continue;
    if (!o.rows.empty()) rows += std::stoll(o.rows);
    std::printf("%-40s %12s %8.2f  %s\n", t.display().c_str(), o.rows.c_str(), o.seconds,
                o.text.c_str());
    if (o.v == verdict::identical)
      ++identical;
    else if (o.v == verdict::failed)
      failed.push_back(t.display());
    else
      differ.push_back(t.display());
  }
  if (const auto& o = state.large_objects) {
    std::printf("%-40s %12s %8.2f  %s\n", "(large objects)", o->rows.c_str(), o->seconds,
                o->text.c_str());
    if (o->v == verdict::identical)
      ++identical;
    else if (o->v == verdict::failed)
      failed.push_back("(large objects)");
    else
      differ.push_back("(large objects)");
  }
  std::printf(
      "total: %zu table(s), %lld source rows in %.2fs: %zu identical, %zu differ, %zu "
      "could not be checked\n",
      identical + differ.size() + failed.size(), rows, secs, identical, differ.size(),
      failed.size());
  std::fflush(stdout);

  std::string problems;
  if (!differ.empty())
    problems = fmt::format("{} table(s) differ: {}", differ.size(), name_list(differ, 10));
  if (!failed.empty())
    problems += fmt::format("{}{} table(s) could not be checked: {} (see the table lines)",
                            problems.empty() ? "" : "; ", failed.size(), name_list(failed, 10));
  if (rt.stop_token().stop_requested() &&
      identical + differ.size() + failed.size() < state.tables.size())
    problems += fmt::format("{}{}: stopped before every table was verified",
                            problems.empty() ? "" : "; ", rt.stop_reason());
  if (!problems.empty()) throw job_error(problems);
  return 0;
}

}  // namespace uringmig::engine::verify
