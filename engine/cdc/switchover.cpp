// `uringmig switchover`: asks the running follower of an online job to stop at a sentinel in
// the source's WAL, waits until it applied everything before it, then syncs the sequences. The
// handshake goes through the job's state store (cdc/handshake.hpp).

#include "codecs/pgoutput.hpp"
#include "connectors/postgres/connection.hpp"
#include "engine/bulk/bulk.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/cdc/handshake.hpp"
#include "engine/cdc/online.hpp"
#include "engine/cdc/online_internal.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/settings.hpp"
#include "engine/core/state_store.hpp"
#include "engine/verify/verify.hpp"
#include "io/runtime.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;
using namespace cdc;

namespace {

// How long a follower started just before may take to take the state directory, and to report
// its first heartbeat.
constexpr auto starting_grace = std::chrono::seconds(5);
constexpr auto follower_grace = std::chrono::seconds(15);
constexpr auto poll_every = std::chrono::milliseconds(100);

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<int> sync_sequences(const endpoints& ep) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection src = co_await connect_endpoint(ex, ep.source, "source");
  pg::connection dst = co_await connect_endpoint(ex, ep.target, "target");
  // First: an identity added while following brings its sequence.
  co_await finish_added_columns(src, dst);
  const int n = co_await bulk::copy_sequences(src, dst);
  co_await dst.close();
  co_await src.close();
  co_return n;
}

std::string follow_hint(const job_options& opts) {
  return "start it with `uringmig follow` (same --source, --target and --state-dir " +
         opts.state_dir.string() + "), then run switchover again";
}

/// Fails fast when nobody would answer a sentinel: no process holds the job's state directory,
/// or the one that does has not reported within follower_grace.
asio::awaitable<void> check_follower(state_store& st, const job_options& opts) {
  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    if (!state_store::in_use(opts.state_dir)) {
      if (std::chrono::steady_clock::now() - started < starting_grace) {
        co_await pause(poll_every);
        continue;
      }
      throw job_error("no follower is running for the online job in " + opts.state_dir.string() +
                      ": " + follow_hint(opts));
    }
    if (beating(st.get(follower_pid_key), st.get(follower_beat_key), unix_ms())) co_return;
    if (std::chrono::steady_clock::now() - started > follower_grace) break;
    co_await pause(poll_every);
  }
  throw job_error(fmt::format(
      "the process holding {} has not reported as a follower for {}s: check it (its log, "
      "`uringmig status`); if it is gone or stuck, stop it and {}",
      opts.state_dir.string(), follower_grace.count(), follow_hint(opts)));
}

struct wait_result {
  bool acknowledged = false;
  std::string why;  // when not
};

/// One look at the request: the outcome once there is one, nullopt while it is to be awaited.
/// Withdraws the request on timeout or a stop request, unless the follower accepted it already
/// (then its end is awaited).
std::optional<wait_result> look_at_request(state_store& st, const job_options& opts,
                                           const std::string& id, bool give_up, io::runtime& rt,
                                           int timeout_s) {
  const auto r = parse_request(st.get(request_key).value_or(""));
  if (!r || r->id != id)
    return wait_result{false, "another switchover of this job replaced this one"};
  if (r->state == request_state::done) return wait_result{true, {}};
  if (!state_store::in_use(opts.state_dir)) {
    (void)move_request(st, id, r->state, request_state::cancelled);
    if (r->state == request_state::accepted)
      return wait_result{false,
                         "the follower stopped while switching over (see its log): run "
                         "switchover again"};
    return wait_result{false,
                       "the follower stopped before it reached the sentinel (see its "
                       "log): " +
                           follow_hint(opts)};
  }
  if (r->state != request_state::requested || !give_up ||
      !move_request(st, id, request_state::requested, request_state::cancelled))
    return std::nullopt;
  if (rt.stop_token().stop_requested())
    return wait_result{false, rt.stop_reason() +
                                  ": the switchover request is withdrawn; the follower keeps "
                                  "following"};
  return wait_result{
      false, fmt::format("the follower did not apply everything up to the sentinel within {}s "
                         "(last reported lag {} bytes); the switchover request is withdrawn and "
                         "the follower keeps following: run switchover again, or with a longer "
                         "--timeout",
                         timeout_s, st.get("online.lag_bytes").value_or("unknown"))};
}

/// Polls the request until there is an outcome, beating every second meanwhile.
asio::awaitable<wait_result> await_follower(state_store& st, const job_options& opts,
                                            const std::string& id, int timeout_s, io::runtime& rt) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  auto last_beat = std::chrono::steady_clock::now();
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    const bool give_up = now >= deadline || rt.stop_token().stop_requested();
    std::optional<wait_result> out = look_at_request(st, opts, id, give_up, rt, timeout_s);
    if (out) co_return std::move(*out);
    if (now - last_beat >= std::chrono::seconds(1)) {
      st.put(requester_beat_key, std::to_string(unix_ms()));
      last_beat = now;
    }
    co_await pause(poll_every);
  }
}

/// `switchover --verify`: the tables the job copied, compared on both sides (run_verify's
/// manifest: rows, checksum, identical or not). Throws job_error naming those that differ.
void verify_after_switchover(const job_options& opts, const state_store& st) {
  job_options v = opts;
  v.command = "verify";
  v.tables.clear();
  v.exclude.clear();
  for (const auto& t : st.load_plan()) {
    std::string exact;  // a glob that matches only this name
    for (const char c : t.schema + "." + t.name) {
      if (c == '*' || c == '?' || c == '\\') exact += '\\';
      exact += c;
    }
    v.tables.push_back(std::move(exact));
  }
  if (v.tables.empty()) throw job_error("switchover --verify: the job's state lists no tables");
  std::printf("verifying the %zu migrated table(s):\n", v.tables.size());
  std::fflush(stdout);
  verify::run_verify(v);
}

}  // namespace

int cdc::run_switchover(const job_spec& opts) {
  const endpoints ep = pg_pair(opts, "switchover");
  const int timeout_s = opts.config.online.timeout_s;
  auto st = state_store::open_shared(opts.state_dir);
  const auto n = st ? recorded_names(*st) : std::nullopt;
  if (!n)
    throw usage_error("no online job in " + opts.state_dir.string() +
                      ": pass the --state-dir of the running `uringmig run --preset online`");
  io::runtime rt(1);
  const std::string phase = st->get("online.phase").value_or("");
  if (phase == "switched_over") {
    // Re-runnable on its own: a switchover stopped before its sequence sync is finished here.
    const int sequences = rt.run(sync_sequences(ep));
    st->put(sequences_key, "true");
    std::printf("the job was switched over already; %d sequence(s) set from the source\n",
                sequences);
    return 0;
  }
  if (phase != "follow")
    throw job_error("the online job in " + opts.state_dir.string() +
                    " has not finished its copy, so nothing follows yet: run switchover once "
                    "`uringmig status` shows it following");
  const std::string id = random_token() + random_token();
  wait_result w;
  int sequences = 0;
  rt.run([&]() -> asio::awaitable<void> {
    co_await check_follower(*st, opts);
    // Who asks, before what: the follower honours the sentinel only while this process beats.
    st->put(requester_pid_key, std::to_string(::getpid()));
    st->put(requester_beat_key, std::to_string(unix_ms()));
    mark_request(*st, id, request_state::requested);
    auto ex = co_await asio::this_coro::executor;
    // (Named, not built inside the co_await expression: GCC 12 destroys such temporaries twice.)
    const sentinel_id sid{n->slot, id};
    const std::string content = format_sentinel(sid);
    const std::string prefix = sentinel_prefix;
    pg::connection src = co_await connect_endpoint(ex, ep.source, "source");
    pg::result r = co_await src.query("select pg_logical_emit_message(false, $1, $2)::text",
                                      pg::make_params(prefix, content));
    co_await src.close();
    if (!r.ok()) {
      mark_request(*st, id, request_state::cancelled);
      r.check("writing the switchover sentinel into the source's WAL");
    }
    spdlog::info("switchover sentinel written at {}; waiting for the follower (up to {}s)",
                 r.value(0, 0), timeout_s);
    w = co_await await_follower(*st, opts, id, timeout_s, rt);
    if (!w.acknowledged) co_return;
    sequences = co_await sync_sequences(ep);
    st->put(sequences_key, "true");
  }());
  if (!w.acknowledged) throw job_error(w.why);
  std::printf("switchover complete: the target has every change; %d sequence(s) set\n", sequences);
  if (opts.config.online.verify) verify_after_switchover(opts, *st);
  return 0;
}

}  // namespace uringmig::engine
