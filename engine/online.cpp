// The online migration: slot + snapshot, bulk clone under it, then follow (stream + apply)
// until a switchover sentinel; and the switchover command itself.

#include "engine/online.hpp"

#include "codecs/sql_text.hpp"
#include "codecs/url.hpp"
#include "connectors/postgres/connection.hpp"
#include "connectors/postgres/replication.hpp"
#include "engine/bulk.hpp"
#include "engine/bulk_internal.hpp"
#include "engine/catalog.hpp"
#include "engine/cdc_apply.hpp"
#include "engine/follow_monitor.hpp"
#include "engine/progress.hpp"
#include "engine/settings.hpp"
#include "engine/state_store.hpp"
#include "io/deadline.hpp"
#include "io/runtime.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <random>
#include <stop_token>
#include <thread>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;
namespace po = codecs::pgoutput;

namespace {

constexpr const char* sentinel_prefix = "uringmig.switchover";
// How long the follower waits for more of a quiet stream before committing the group it holds.
constexpr std::chrono::milliseconds quiet_commit{10};

struct endpoints {
  codecs::endpoint source;
  codecs::endpoint target;
};

endpoints pg_pair(const job_options& opts, const char* command) {
  auto s = codecs::parse_endpoint(opts.source_url);
  auto t = codecs::parse_endpoint(opts.target_url);
  if (!s) throw usage_error("--source: " + s.error);
  if (!t) throw usage_error("--target: " + t.error);
  if (s.value->kind() != codecs::endpoint_kind::postgres ||
      t.value->kind() != codecs::endpoint_kind::postgres)
    throw usage_error(std::string("uringmig ") + command +
                      ": online migration (CDC) is PostgreSQL -> PostgreSQL");
  return {*s.value, *t.value};
}

/// What the state store remembers about the online job.
struct online_names {
  std::string token;
  std::string slot;
  std::string publication;
  bool own_publication = false;
  std::string origin;  // on the target
  po::lsn start_lsn = 0;
};

std::optional<online_names> recorded_names(const state_store& st) {
  auto token = st.get("online.token");
  if (!token) return std::nullopt;
  online_names n;
  n.token = *token;
  n.slot = st.get("online.slot").value_or("");
  n.publication = st.get("online.publication").value_or("");
  n.own_publication = st.get("online.own_publication") == "true";
  n.origin = st.get("online.origin").value_or("");
  n.start_lsn = po::parse_lsn(st.get("online.start_lsn").value_or("0/0")).value_or(0);
  return n;
}

std::string random_token() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

/// The conninfo of an endpoint (connect_endpoint's, for the replication connection).
std::string conninfo(const codecs::endpoint& e) {
  return e.url;
}

asio::awaitable<void> check_replica_identity(pg::connection& src,
                                             const std::vector<table_info>& tables) {
  std::string bad;
  for (const auto& t : tables) {
    pg::result r = co_await src.query(
        "select c.relreplident, exists (select 1 from pg_index i where i.indrelid = c.oid and "
        "i.indisprimary) from pg_class c where c.oid = $1::oid",
        pg::make_params(std::to_string(t.oid)));
    r.check("reading the replica identity of " + t.display());
    const std::string_view ident = r.value(0, 0);
    const bool has_pk = r.value(0, 1) == "t";
    if ((ident == "d" && !has_pk) || ident == "n") bad += (bad.empty() ? "" : ", ") + t.display();
  }
  if (!bad.empty())
    throw usage_error(
        "tables without a primary key or replica identity cannot be followed (their UPDATEs and "
        "DELETEs would fail on the source once published): " +
        bad +
        "; run ALTER TABLE ... REPLICA IDENTITY FULL on them, or leave them out with "
        "--exclude");
}

asio::awaitable<void> ensure_publication(pg::connection& src, online_names& n,
                                         const std::vector<table_info>& tables) {
  pg::result r = co_await src.query("select 1 from pg_publication where pubname = $1",
                                    pg::make_params(n.publication));
  r.check("looking for the publication");
  if (r.rows() > 0) co_return;
  if (!n.own_publication)
    throw usage_error("publication '" + n.publication +
                      "' does not exist on the source: create it, or leave out --publication "
                      "and one is created for the selected tables");
  std::string list;
  for (const auto& t : tables)
    list += (list.empty() ? "" : ", ") + t.qualified();
  (co_await src.simple("CREATE PUBLICATION " + codecs::quote_ident(n.publication) + " FOR TABLE " +
                       list))
      .check("creating publication " + n.publication);
  spdlog::info("created publication {} for {} table(s)", n.publication, tables.size());
}

/// Removes what the job created on the source (slot, our publication) and the target (origin).
asio::awaitable<void> drop_leftovers(const endpoints& ep, const online_names& n) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection src = co_await bulk::connect_endpoint(ex, ep.source, "source");
  if (!n.slot.empty()) {
    pg::result r = co_await src.query(
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = "
        "$1",
        pg::make_params(n.slot));
    if (!r.ok()) spdlog::warn("dropping slot {}: {}", n.slot, r.error().message);
  }
  if (n.own_publication && !n.publication.empty())
    (void)co_await src.simple("DROP PUBLICATION IF EXISTS " + codecs::quote_ident(n.publication));
  co_await src.close();
  if (!n.origin.empty()) {
    pg::connection dst = co_await bulk::connect_endpoint(ex, ep.target, "target");
    // With online.apply_workers > 1 each apply worker has its own origin `<origin>_<k>`.
    (void)co_await dst.query(
        "select pg_replication_origin_drop(roname) from pg_replication_origin where roname = $1 "
        "or (left(roname, length($1) + 1) = $1 || '_' and "
        "substr(roname, length($1) + 2) ~ '^[0-9]+$')",
        pg::make_params(n.origin));
    co_await dst.close();
  }
}

struct follow_result {
  bool switched_over = false;
  std::string sentinel;
  po::lsn applied = 0;
};

/// Awaits an apply step; false when it failed because a stop was requested meanwhile (the monitor
/// cancelled its statements on the target, which rolled back: only what committed stays and is
/// confirmed, and the origin says where to resume). Other failures are thrown.
asio::awaitable<bool> unless_stopped(asio::awaitable<void> step, const bool& stopping,
                                     bool& cancelled) {
  try {
    co_await std::move(step);
    co_return true;
  } catch (const std::exception& e) {
    if (!stopping) throw;
    spdlog::debug("follow: stopped while applying: {}", e.what());
  }
  cancelled = true;
  co_return false;
}

/// Streams from the slot and applies until a switchover sentinel or a stop request.
asio::awaitable<follow_result> follow_loop(io::runtime& rt, state_store& st,
                                           const job_options& opts, const endpoints& ep,
                                           const online_names& n, pg::replication_connection& rc,
                                           follow_progress& fp) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection dst = co_await bulk::connect_endpoint(ex, ep.target, "target");
  cdc::apply_options ao;
  ao.origin = n.origin;
  ao.spool_dir = opts.state_dir / "spool";
  ao.sentinel_prefix = sentinel_prefix;
  // Two connections by default: on 2 cores the second takes the time the first waits for the
  // stream or for its commit (measured 0.68 of native against 0.88 with one, perf/bench_cdc.sh).
  ao.workers = static_cast<std::size_t>(int_setting(opts, "online.apply_workers", 2, 1, 64));
  ao.coalesce = bool_setting(opts, "online.coalesce", true);
  const codecs::endpoint target = ep.target;
  ao.connect = [ex, target]() { return bulk::connect_endpoint(ex, target, "target"); };
  cdc::applier a = co_await cdc::applier::open(std::move(dst), ao);
  const po::lsn from = std::max(a.origin_lsn(), n.start_lsn);
  spdlog::info("following slot {} from {} (publication {})", n.slot, po::format_lsn(from),
               n.publication);
  pg::stream_options so;
  so.slot = n.slot;
  so.start = from;
  so.publications.push_back(n.publication);
  co_await rc.start(so);

  // Lag figures, live while a target transaction runs; a prompt stop (follow_monitor.hpp).
  follow_monitor monitor(st, fp, a, rc, ep.source, ep.target);
  monitor.start(ex);
  // next() cannot be cancelled: a stop request ends the stream instead.
  bool stopping = false;
  std::stop_callback on_stop(rt.stop_token(), [&] {
    asio::post(ex, [&] {
      if (stopping) return;
      stopping = true;
      monitor.stopping();
      asio::co_spawn(ex, rc.stop(), asio::detached);
    });
  });
  follow_result out;
  bool cancelled = false;  // a statement failed because the stop cancelled it
  for (;;) {
    std::optional<pg::wal_message> m = co_await rc.next();
    if (!m) break;
    if (!co_await unless_stopped(a.feed(m->payload), stopping, cancelled)) break;
    if (auto s = a.take_sentinel()) {
      co_await a.flush();
      rc.confirm(a.committed_lsn());
      out.switched_over = true;
      out.sentinel = s->first;
      spdlog::info("switchover sentinel at {}: everything before it is applied",
                   po::format_lsn(s->second));
      break;
    }
    if (!rc.has_buffered() && !a.idle()) {
      // The stream went quiet: commit the group unless more comes at once (a walsender slower
      // than the apply sends in bursts; committing at every gap made groups of a few
      // transactions). The group's age still bounds it (apply_options::max_group_delay).
      const bool more = co_await rc.wait_for_message(quiet_commit);
      if (!more && !co_await unless_stopped(a.flush(), stopping, cancelled)) break;
    }
    rc.confirm(a.committed_lsn());
  }
  if (!cancelled && !a.idle()) co_await unless_stopped(a.flush(), stopping, cancelled);
  if (cancelled) {
    // The stop request's rc.stop() ends the stream: wait for it; nothing more is applied.
    try {
      while (co_await rc.next()) {
      }
    } catch (const std::exception& e) {
      spdlog::debug("follow: ending the stream: {}", e.what());
    }
  }
  rc.confirm(a.committed_lsn());
  // The stats CSV's last line and `status` show where it ended.
  const follow_lag last = co_await monitor.finish();
  spdlog::info(
      "follow: applied up to {}: {} transactions, {} changes as {} row writes in {} target "
      "transactions",
      po::format_lsn(a.committed_lsn()), last.stats.txns, last.stats.changes,
      last.stats.rows_written, last.stats.groups);
  out.applied = a.committed_lsn();
  if (!stopping) {
    stopping = true;
    co_await rc.stop();
  }
  co_return out;
}

/// After a switchover: acknowledge it, then leave nothing behind unless --keep-slot.
asio::awaitable<void> finish_switchover(state_store& st, const job_options& opts,
                                        const endpoints& ep, const online_names& n,
                                        const follow_result& f, pg::replication_connection& rc) {
  const bool keep = bool_setting(opts, "online.keep_slot", false);
  if (!keep) {
    co_await rc.drop_slot(n.slot, true);
    online_names rest = n;
    rest.slot.clear();  // dropped above, on the connection that used it
    co_await drop_leftovers(ep, rest);
  }
  st.put("online.phase", "switched_over");
  // Last: the switchover command waits for this, and then syncs the sequences.
  st.put("online.switchover_ack", f.sentinel);
  spdlog::info("switchover done at {}{}", po::format_lsn(f.applied),
               keep ? "; slot, publication and origin kept (--keep-slot)"
                    : "; slot, publication and origin dropped");
}

/// `started`: when the command started (--max-runtime counts from there, the copy included).
int follow_phase(io::runtime& rt, state_store& st, const job_options& opts, const endpoints& ep,
                 const online_names& n, std::optional<pg::replication_connection>& rc,
                 std::chrono::steady_clock::time_point started) {
  std::optional<follow_result> f;
  progress prog;
  progress_reporter reporter(prog, make_reporter_options(opts));
  std::chrono::seconds limit = opts.max_runtime;
  if (limit.count() > 0) {
    const auto used = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - started);
    limit = std::max(std::chrono::seconds(1), limit - used);
  }
  rt.run([&]() -> asio::awaitable<void> {
    io::deadline deadline(rt, limit);
    auto ex = co_await asio::this_coro::executor;
    if (!rc) rc.emplace(co_await pg::replication_connection::connect(ex, conninfo(ep.source)));
    std::exception_ptr error;
    try {
      f = co_await follow_loop(rt, st, opts, ep, n, *rc, prog.follow());
      if (f->switched_over) co_await finish_switchover(st, opts, ep, n, *f, *rc);
    } catch (...) {
      error = std::current_exception();
    }
    co_await rc->close();  // on this context, while it runs
    if (error) std::rethrow_exception(error);
  }());
  reporter.stop();
  if (f && f->switched_over) {
    std::printf("switchover complete: the target has every change up to %s\n",
                po::format_lsn(f->applied).c_str());
    return 0;
  }
  throw job_error((rt.stop_reason().empty() ? std::string("the stream ended") : rt.stop_reason()) +
                  ": applied up to " + po::format_lsn(f ? f->applied : 0) +
                  "; resume with `uringmig follow` (same --source, --target, --state-dir)");
}

}  // namespace

int run_online(const job_options& opts) {
  const auto started = std::chrono::steady_clock::now();
  const endpoints ep = pg_pair(opts, "run --follow");
  state_store st = state_store::open(opts.state_dir);
  io::runtime rt(0);
  if (opts.restart) {
    if (auto old = recorded_names(st)) {
      spdlog::info("--restart: dropping the previous job's slot {} and origin", old->slot);
      rt.run(drop_leftovers(ep, *old));
    }
    st.reset();
  }
  if (auto n = recorded_names(st)) {
    const std::string phase = st.get("online.phase").value_or("");
    if (phase == "follow") {
      spdlog::info("the copy is done: following from where the target stopped");
      std::optional<pg::replication_connection> rc;
      return follow_phase(rt, st, opts, ep, *n, rc, started);
    }
    if (phase == "switched_over")
      throw usage_error(
          "this job was switched over already: use another --state-dir, or "
          "--restart to start a new one");
    throw usage_error(
        "the online copy in " + opts.state_dir.string() +
        " was interrupted before its data was in; its snapshot is gone, so it cannot resume "
        "without a gap or an overlap with the stream: run again with --restart (drops the slot "
        "and starts over on an empty target)");
  }

  online_names n;
  n.token = random_token();
  n.slot = "uringmig_" + n.token;
  n.origin = "uringmig_" + n.token;
  n.publication = setting(opts, "online.publication");
  n.own_publication = n.publication.empty();
  if (n.own_publication) n.publication = "uringmig_" + n.token;
  std::optional<pg::replication_connection> rc;
  std::string snapshot;
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    pg::connection src = co_await bulk::connect_endpoint(ex, ep.source, "source");
    (co_await src.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")).check("source");
    std::vector<table_info> tables = co_await discover_tables(src, make_filter(opts));
    if (tables.empty())
      throw usage_error("no source table matches --tables/--exclude: nothing to copy");
    co_await check_replica_identity(src, tables);
    (void)co_await src.query("COMMIT");
    co_await ensure_publication(src, n, tables);
    co_await src.close();
    rc.emplace(co_await pg::replication_connection::connect(ex, conninfo(ep.source)));
    pg::slot_options so;
    so.export_snapshot = true;
    pg::replication_slot slot = co_await rc->create_slot(n.slot, so);
    snapshot = slot.snapshot_name;
    n.start_lsn = slot.consistent_point;
    spdlog::info("slot {} consistent at {}, snapshot {}", n.slot, po::format_lsn(n.start_lsn),
                 snapshot);
  }());
  st.put("online.token", n.token);
  st.put("online.slot", n.slot);
  st.put("online.publication", n.publication);
  st.put("online.own_publication", n.own_publication ? "true" : "false");
  st.put("online.origin", n.origin);
  st.put("online.start_lsn", po::format_lsn(n.start_lsn));
  st.put("online.phase", "copy");
  // The slot's connection stays idle (no command) until the copy is done: its snapshot lives.
  try {
    run_bulk_phase(opts, st, rt, snapshot);
  } catch (const usage_error&) {
    // Found before anything was copied (a target that is not empty...): leave nothing behind.
    rt.run([&]() -> asio::awaitable<void> {
      co_await rc->close();
      co_await drop_leftovers(ep, n);
    }());
    st.reset();
    throw;
  } catch (...) {
    rt.run(rc->close());
    throw;
  }
  st.put("online.phase", "follow");
  return follow_phase(rt, st, opts, ep, n, rc, started);
}

int run_follow(const job_options& opts) {
  const auto started = std::chrono::steady_clock::now();
  const endpoints ep = pg_pair(opts, "follow");
  state_store st = state_store::open(opts.state_dir);
  auto n = recorded_names(st);
  if (!n)
    throw usage_error("no online job in " + opts.state_dir.string() +
                      ": start one with `uringmig run --preset online`");
  const std::string phase = st.get("online.phase").value_or("");
  if (phase != "follow")
    throw usage_error(
        "the online job in " + opts.state_dir.string() +
        (phase == "switched_over" ? " was switched over already" : " has not finished its copy") +
        ": nothing to follow");
  io::runtime rt(0);
  std::optional<pg::replication_connection> rc;
  return follow_phase(rt, st, opts, ep, *n, rc, started);
}

int run_switchover(const job_options& opts) {
  const endpoints ep = pg_pair(opts, "switchover");
  const int timeout_s = int_setting(opts, "online.timeout_s", 60, 1, 86400 * 7);
  {
    auto st = state_store::open_existing(opts.state_dir);
    if (!st || !recorded_names(*st))
      throw usage_error("no online job in " + opts.state_dir.string() +
                        ": pass the --state-dir of the running `uringmig run --preset online`");
  }
  const std::string token = random_token() + random_token();
  io::runtime rt(1);
  bool acknowledged = false;
  int sequences = 0;
  std::string lag;
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    pg::connection src = co_await bulk::connect_endpoint(ex, ep.source, "source");
    pg::result r = co_await src.query("select pg_logical_emit_message(false, $1, $2)::text",
                                      pg::make_params(std::string(sentinel_prefix), token));
    r.check("writing the switchover sentinel into the source's WAL");
    spdlog::info("switchover sentinel written at {}; waiting for the follower (up to {}s)",
                 r.value(0, 0), timeout_s);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    asio::steady_timer t(ex);
    // The follower is another process: its state store is the only channel.
    while (std::chrono::steady_clock::now() < deadline && !rt.stop_token().stop_requested()) {
      auto st = state_store::open_existing(opts.state_dir);
      if (st && st->get("online.switchover_ack") == token) {
        acknowledged = true;
        break;
      }
      if (st) lag = st->get("online.lag_bytes").value_or("?");
      t.expires_after(std::chrono::milliseconds(100));
      co_await t.async_wait(asio::use_awaitable);
    }
    if (acknowledged) {
      pg::connection dst = co_await bulk::connect_endpoint(ex, ep.target, "target");
      sequences = co_await bulk::copy_sequences(src, dst);
      co_await dst.close();
    }
    co_await src.close();
  }());
  if (!acknowledged)
    throw job_error(fmt::format(
        "the follower did not apply everything up to the sentinel within {}s (last reported lag "
        "{} bytes); it keeps following: run switchover again, or with a longer --timeout",
        timeout_s, lag.empty() ? "unknown" : lag));
  std::printf("switchover complete: the target has every change; %d sequence(s) set\n", sequences);
  return 0;
}

}  // namespace uringmig::engine
