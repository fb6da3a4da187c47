// The online migration: slot + snapshot, bulk clone under it, then follow (stream + apply)
// until a switchover sentinel; and the switchover command itself.

#include "engine/cdc/online.hpp"

#include "engine/cdc/handshake.hpp"
#include "engine/cdc/online_internal.hpp"

#include "codecs/sql_text.hpp"
#include "codecs/url.hpp"
#include "connectors/postgres/connection.hpp"
#include "connectors/postgres/replication.hpp"
#include "engine/bulk/bulk.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/cdc/follow_monitor.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/observe/hub.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/settings.hpp"
#include "engine/core/state_store.hpp"
#include "io/deadline.hpp"
#include "io/runtime.hpp"
#include "io/sleep.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <stop_token>
#include <thread>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;
namespace po = codecs::pgoutput;

namespace {

using namespace cdc;

// How long the follower waits for more of a quiet stream before committing the group it holds.
constexpr std::chrono::milliseconds quiet_commit{10};

/// The follower's connections (`role`: "target" or "source"). After an outage a refused
/// connection is one more reason to retry (pg::error, class 08), not the end of the job
/// (connect_endpoint's job_error).
asio::awaitable<pg::connection> connect_pg(asio::any_io_executor ex, codecs::endpoint e,
                                           const char* role, bool reconnecting) {
  if (!reconnecting) co_return co_await connect_endpoint(ex, e, role);
  co_return co_await pg::connection::connect(ex, conninfo_of(e));
}

/// Whether the follower ends at this sentinel: only its own job's, and only while the
/// switchover that wrote it still waits (cdc/handshake.hpp). Marks the request accepted.
bool accept_sentinel(state_store& st, const online_names& n, const std::string& content,
                     po::lsn at) {
  const bool alive = beating(st.get(requester_pid_key), st.get(requester_beat_key), unix_ms());
  const auto request = st.get(request_key);
  switch (judge_sentinel(content, n.slot, request, alive)) {
    case sentinel_verdict::other_job:
      spdlog::info("a switchover sentinel at {} for another job on this source: not ours, ignored",
                   po::format_lsn(at));
      return false;
    case sentinel_verdict::stale:
      spdlog::warn(
          "a switchover sentinel at {} whose switchover no longer waits (timed out, stopped or "
          "killed): ignored, following on",
          po::format_lsn(at));
      return false;
    case sentinel_verdict::honour:
      break;
  }
  const std::string id = parse_sentinel(content)->request;
  if (!move_request(st, id, request_state::requested, request_state::accepted)) {
    spdlog::warn("the switchover of the sentinel at {} gave up just now: following on",
                 po::format_lsn(at));
    return false;
  }
  spdlog::info("switchover sentinel at {}: everything before it is applied", po::format_lsn(at));
  return true;
}

/// The follower's pid and a beat every second in the state store, so that `switchover` knows
/// whether anyone will answer its sentinel. Stops (its coroutine ends) with the object.
class follower_heartbeat {
 public:
  follower_heartbeat(asio::any_io_executor ex, state_store& st)
      : timer_(std::make_shared<asio::steady_timer>(ex)), on_(std::make_shared<bool>(true)) {
    st.put(follower_pid_key, std::to_string(::getpid()));
    asio::co_spawn(
        ex,
        [&st, timer = timer_, on = on_]() -> asio::awaitable<void> {
          while (*on) {
            try {
              st.put(follower_beat_key, std::to_string(unix_ms()));
            } catch (const std::exception& e) {
              spdlog::debug("follower heartbeat: {}", e.what());
            }
            timer->expires_after(std::chrono::seconds(1));
            boost::system::error_code ec;
            co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
          }
        },
        asio::detached);
  }
  follower_heartbeat(const follower_heartbeat&) = delete;
  follower_heartbeat& operator=(const follower_heartbeat&) = delete;
  ~follower_heartbeat() {
    *on_ = false;
    timer_->cancel();
  }

 private:
  std::shared_ptr<asio::steady_timer> timer_;
  std::shared_ptr<bool> on_;
};

/// Where a follower that met a dropped or retyped column stops: before the source transaction
/// that showed it (cdc::schema_change_error::at()), once everything before it is committed.
struct stop_point {
  po::lsn at = 0;
  std::string message;
  std::string table;  // what the target must look like to go on (cdc::schema_change_error)
  std::string column;
  std::string type;
};

constexpr const char* schema_fix_key = "online.schema_fix";  // .table, .column, .type, .message

std::string follow_hint() {
  return "; resume with `uringmig follow` (same --source, --target, --state-dir)";
}

/// What to do about a statement the target refused (cdc::apply_error), before resuming.
std::string apply_advice(const pg::diagnostics& d) {
  std::string out = "; nothing of that target transaction was applied";
  if (d.sqlstate.starts_with("23")) {
    // A unique key, NOT NULL or CHECK of the target refused a row the source has: the target was
    // written besides the follower, or its constraints differ from the source's.
    out +=
        " (the target's rows or constraints conflict with the source's change: fix the target, "
        "`uringmig verify` shows which rows differ)";
  } else if (d.sqlstate == "428C9") {
    out +=
        " (a GENERATED ALWAYS identity column on the target takes no value from an UPDATE: make "
        "it BY DEFAULT there while following, ALTER TABLE … ALTER COLUMN … SET GENERATED BY "
        "DEFAULT, and ALWAYS again after the switchover)";
  } else {
    out += " (fix the cause on the target)";
  }
  return out;
}

/// A follower that stopped at a dropped or retyped column goes on only once the target matches
/// (the stream resumes after the change: nothing would tell the follower again).
asio::awaitable<void> check_schema_fix(state_store& st, pg::connection& dst) {
  const std::string k = schema_fix_key;
  const std::string table = st.get(k + ".table").value_or("");
  if (table.empty()) co_return;
  const std::string column = st.get(k + ".column").value_or("");
  const std::string type = st.get(k + ".type").value_or("");
  bool fixed = false;
  if (column.empty()) {
    // A table the target lacked (created, renamed or moved on the source).
    pg::result r = co_await dst.query("SELECT to_regclass($1) IS NOT NULL", pg::make_params(table));
    r.check("target: table " + table);
    fixed = r.value(0, 0) == "t";
  } else {
    pg::result r = co_await dst.query(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
        "to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped",
        pg::make_params(table, column));
    r.check("target: column " + column + " of " + table);
    fixed = type.empty() ? r.rows() == 0 : r.rows() == 1 && r.value(0, 0) == type;
  }
  if (!fixed) throw job_error(st.get(k + ".message").value_or("") + follow_hint());
  spdlog::info("table {}: the target has the source's change{}: following on", table,
               column.empty() ? std::string() : " of column " + codecs::quote_ident(column));
  for (const char* f : {".table", ".column", ".type", ".message"})
    st.erase(k + f);
}

void record_schema_fix(state_store& st, const stop_point& s) {
  const std::string k = schema_fix_key;
  st.put(k + ".column", s.column);
  st.put(k + ".type", s.type);
  st.put(k + ".message", s.message);
  st.put(k + ".table", s.table);
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
asio::awaitable<follow_result> follow_loop(io::runtime& rt, state_store& st, const job_spec& opts,
                                           const endpoints& ep, const online_names& n,
                                           pg::replication_connection& rc, follow_progress& fp,
                                           bool reconnecting, const stop_point& stop) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection dst = co_await connect_pg(ex, ep.target, "target", reconnecting);
  co_await check_schema_fix(st, dst);
  cdc::apply_options ao;
  ao.origin = n.origin;
  ao.spool_dir = opts.state_dir / "spool";
  ao.sentinel_prefix = sentinel_prefix;
  // Two connections by default: on 2 cores the second takes the time the first waits for the
  // stream or for its commit (measured 0.68 of native against 0.88 with one, perf/bench_cdc.sh).
  ao.workers = static_cast<std::size_t>(opts.config.online.apply_workers);
  ao.coalesce = opts.config.online.coalesce;
  const codecs::endpoint target = ep.target;
  ao.connect = [ex, target, reconnecting]() {
    return connect_pg(ex, target, "target", reconnecting);
  };
  // A column added on the source: its type's name and default are asked there.
  const codecs::endpoint source = ep.source;
  ao.connect_source = [ex, source, reconnecting]() {
    return connect_pg(ex, source, "source", reconnecting);
  };
  ao.stop_before = stop.at;
  ao.stop_message = stop.message;
  cdc::applier a = co_await cdc::applier::open(std::move(dst), ao);
  const po::lsn from = std::max(a.origin_lsn(), n.start_lsn);
  spdlog::info("following slot {} from {} (publication {})", n.slot, po::format_lsn(from),
               n.publication);
  pg::stream_options so;
  so.slot = n.slot;
  so.start = from;
  so.publications.push_back(n.publication);
  co_await rc.start(so);

  // Lag figures, live while a target transaction runs; a prompt stop (cdc/follow_monitor.hpp).
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
  const follower_heartbeat beat(ex, st);
  for (;;) {
    if (observe::the_hub().paused() && !stopping) {
      // Paused over --http: the target transaction in hand commits, then nothing is applied.
      if (!a.idle() && !co_await unless_stopped(a.flush(), stopping, cancelled)) break;
      rc.confirm(a.committed_lsn());
      co_await observe::wait_while_paused(rt.stop_token());
    }
    // Most messages are read ahead and need no I/O to apply: no coroutine for them.
    std::optional<pg::wal_message> m = rc.try_next();
    if (!m) m = co_await rc.next();
    if (!m) break;
    if (!a.try_feed(m->payload) &&
        !co_await unless_stopped(a.feed(m->payload), stopping, cancelled))
      break;
    while (auto s = a.take_sentinel()) {
      // Everything before it is committed first: the switchover's promise.
      co_await a.flush();
      rc.confirm(a.committed_lsn());
      if (!accept_sentinel(st, n, s->first, s->second)) continue;
      out.switched_over = true;
      out.sentinel = s->first;
      break;
    }
    if (out.switched_over) break;
    if (!rc.has_buffered() && !a.idle()) {
      // The stream went quiet: commit the group unless more comes at once (a walsender slower
      // than the apply sends in bursts; committing at every gap made groups of a few
      // transactions). The group's age still bounds it (apply_options::max_group_delay).
      const bool more = co_await rc.wait_for_message(quiet_commit);
      if (!more && !co_await unless_stopped(a.flush(), stopping, cancelled)) break;
    }
    // Caught up: keepalives until the next message may be confirmed up to the server's
    // position (else a fast shutdown of the source waits for us forever).
    rc.confirm(a.committed_lsn(), !rc.has_buffered() && a.idle() && a.stats().queued_txns == 0);
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
asio::awaitable<void> finish_switchover(state_store& st, const job_spec& opts, const endpoints& ep,
                                        const online_names& n, const follow_result& f,
                                        pg::replication_connection& rc) {
  const bool keep = opts.config.online.keep_slot;
  if (!keep) {
    co_await rc.drop_slot(n.slot, true);
    online_names rest = n;
    rest.slot.clear();  // dropped above, on the connection that used it
    (void)co_await drop_leftovers(ep, rest);
  }
  st.put("online.phase", "switched_over");
  // Last: the switchover command waits for this, and then syncs the sequences.
  mark_request(st, parse_sentinel(f.sentinel)->request, request_state::done);
  spdlog::info("switchover done at {}{}", po::format_lsn(f.applied),
               keep ? "; slot, publication and origin kept (--keep-slot)"
                    : "; slot, publication and origin dropped");
}

/// One connection's worth of following (and the switchover, when its sentinel comes). Returns
/// why to reconnect; empty when done (switched over, or stopped).
asio::awaitable<std::string> follow_once(io::runtime& rt, state_store& st, const job_spec& opts,
                                         const endpoints& ep, const online_names& n,
                                         std::optional<pg::replication_connection>& rc,
                                         progress& prog, std::optional<follow_result>& f,
                                         bool reconnecting, stop_point& stop) {
  auto ex = co_await asio::this_coro::executor;
  std::exception_ptr error;
  std::string retry;
  try {
    if (!rc) rc.emplace(co_await pg::replication_connection::connect(ex, conninfo_of(ep.source)));
    f = co_await follow_loop(rt, st, opts, ep, n, *rc, prog.follow(), reconnecting, stop);
    if (f->switched_over)
      co_await finish_switchover(st, opts, ep, n, *f, *rc);
    else if (!rt.stop_token().stop_requested())
      retry = "the source ended the stream";
  } catch (const cdc::schema_change_error& e) {
    if (e.at() != 0 && e.at() != stop.at) {
      // Source transactions before the one that showed it were rolled back with it: apply them
      // again, then stop there, so that the follower resumes at that transaction.
      stop = stop_point{e.at(), e.what(), e.table(), e.column(), e.type()};
      retry = "a column changed on the source: applying what comes before it";
    } else {
      if (!e.table().empty()) stop = stop_point{e.at(), e.what(), e.table(), e.column(), e.type()};
      record_schema_fix(st, stop);
      error = std::make_exception_ptr(job_error(stop.message + follow_hint()));
    }
  } catch (const cdc::apply_error& e) {
    // A deadlock or a restart of the target while a batch ran: that target transaction rolled
    // back, apply it again. Anything else stops, and says what to fix before resuming.
    if (pg::is_retryable(e.diag()) && !rt.stop_token().stop_requested())
      retry = e.diag().message;
    else
      error = std::make_exception_ptr(job_error(e.what() + apply_advice(e.diag()) + follow_hint()));
  } catch (const pg::error& e) {
    // A restart of the source or the target (class 08, 57P01...): reconnect.
    if (e.retryable() && !rt.stop_token().stop_requested())
      retry = e.diag().message;
    else
      error = std::make_exception_ptr(job_error(e.what() + follow_hint()));
  } catch (const job_error&) {
    error = std::current_exception();
  } catch (const usage_error&) {
    error = std::current_exception();
  } catch (const std::exception& e) {
    // Whatever stopped the follower (after the user fixed it), `follow` resumes from the origin.
    error = std::make_exception_ptr(job_error(e.what() + follow_hint()));
  } catch (...) {
    error = std::current_exception();
  }
  try {
    if (rc) co_await rc->close();  // on this context, while it runs
  } catch (const std::exception& e) {
    spdlog::debug("closing the replication connection: {}", e.what());
  }
  rc.reset();
  if (error) std::rethrow_exception(error);
  co_return retry;
}

/// `started`: when the command started (--max-runtime counts from there, the copy included).
int follow_phase(io::runtime& rt, state_store& st, const job_spec& opts, const endpoints& ep,
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
  const std::chrono::seconds give_up(opts.config.online.reconnect_s);
  rt.run([&]() -> asio::awaitable<void> {
    io::deadline deadline(rt, limit);
    std::chrono::milliseconds backoff(250);
    stop_point stop;
    auto failing_since = std::chrono::steady_clock::now();
    for (bool reconnecting = false;; reconnecting = true) {
      const auto attempt = std::chrono::steady_clock::now();
      const std::string why =
          co_await follow_once(rt, st, opts, ep, n, rc, prog, f, reconnecting, stop);
      if (why.empty()) co_return;
      const auto now = std::chrono::steady_clock::now();
      if (now - attempt > std::chrono::seconds(30)) {  // it followed for a while: a new outage
        failing_since = attempt;
        backoff = std::chrono::milliseconds(250);
      }
      if (now - failing_since >= give_up)
        throw job_error(
            fmt::format("{}; gave up reconnecting after {}s (online.reconnect_s): "
                        "applied up to {}{}",
                        why, give_up.count(), po::format_lsn(f ? f->applied : 0), follow_hint()));
      spdlog::warn("follow: {}: reconnecting in {:.1f}s", why, backoff.count() / 1000.0);
      if (!co_await io::sleep_unless_stopped(backoff, rt.stop_token())) co_return;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }());
  reporter.stop();
  if (f && f->switched_over) {
    std::printf("switchover complete: the target has every change up to %s\n",
                po::format_lsn(f->applied).c_str());
    return 0;
  }
  throw job_error((rt.stop_reason().empty() ? std::string("the stream ended") : rt.stop_reason()) +
                  ": applied up to " + po::format_lsn(f ? f->applied : 0) + follow_hint());
}

}  // namespace

int cdc::run_online(const job_spec& opts) {
  const auto started = std::chrono::steady_clock::now();
  const endpoints ep = pg_pair(opts, "run --follow");
  state_store st = state_store::open(opts.state_dir);
  io::runtime rt(0);
  if (opts.restart) {
    if (auto old = recorded_names(st)) {
      spdlog::info("--restart: dropping the previous job's slot {} and origin", old->slot);
      (void)rt.run(drop_leftovers(ep, *old));
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
  n.slot = job_object_name(n.token);
  n.origin = job_object_name(n.token);
  n.publication = opts.config.online.publication;
  n.own_publication = n.publication.empty();
  if (n.own_publication) n.publication = job_object_name(n.token);
  std::optional<pg::replication_connection> rc;
  std::string snapshot;
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    pg::connection src = co_await connect_endpoint(ex, ep.source, "source");
    (co_await src.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")).check("source");
    std::vector<table_info> tables = co_await discover_tables(src, make_filter(opts));
    if (tables.empty())
      throw usage_error("no source table matches --tables/--exclude: nothing to copy");
    co_await check_replica_identity(src, tables);
    (void)co_await src.query("COMMIT");
    co_await ensure_publication(src, n, tables);
    co_await src.close();
    rc.emplace(co_await pg::replication_connection::connect(ex, conninfo_of(ep.source)));
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
    if (opts.config.online.copy) {
      bulk::run_phase(opts, st, rt, snapshot);
    } else {
      // The target holds the data already (the other direction of a two-way setup): what the
      // source commits from the slot's start on is followed, nothing before it is copied.
      spdlog::info("[online] copy = false: nothing copied; following from {}",
                   po::format_lsn(n.start_lsn));
    }
  } catch (const usage_error&) {
    // Found before anything was copied (a target that is not empty...): leave nothing behind.
    rt.run([&]() -> asio::awaitable<void> {
      co_await rc->close();
      (void)co_await drop_leftovers(ep, n);
    }());
    st.reset();
    throw;
  } catch (const std::exception& e) {
    throw job_error(e.what() + abandon_copy(rt, opts, ep, n, *rc));
  }
  st.put("online.phase", "follow");
  return follow_phase(rt, st, opts, ep, n, rc, started);
}

int cdc::run_follow(const job_spec& opts) {
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

}  // namespace uringmig::engine
