// The follower's watch: live lag figures and a prompt stop (see cdc/follow_monitor.hpp).
#include "engine/cdc/follow_monitor.hpp"

#include "engine/core/pg_session.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;
namespace po = codecs::pgoutput;
using steady = std::chrono::steady_clock;

namespace {
constexpr auto tick_interval = std::chrono::milliseconds(250);
// How long a stopping follow loop may take to end on its own before its target statements are
// cancelled: a group commit in flight usually finishes within it.
constexpr auto stop_grace = std::chrono::milliseconds(500);
}  // namespace

struct follow_monitor::state {
  state(state_store& st_, follow_progress& fp_, cdc::applier& a_, pg::replication_connection& rc_,
        codecs::endpoint source_, codecs::endpoint target_)
      : st(st_), fp(fp_), a(a_), rc(rc_), source(std::move(source_)), target(std::move(target_)) {}

  state_store& st;
  follow_progress& fp;
  cdc::applier& a;
  pg::replication_connection& rc;
  codecs::endpoint source;
  codecs::endpoint target;
  std::optional<pg::connection> src;
  std::optional<pg::connection> dst;
  po::lsn source_lsn = 0;
  std::uint64_t first_changes = 0;
  std::uint64_t last_changes = 0;
  steady::time_point last_record = steady::now();
  std::optional<steady::time_point> stop_asked;
  bool alive = true;  // false: the monitor is gone, st, fp, a and rc may be too
  bool done = false;
  bool running = false;
  std::optional<asio::steady_timer> tick;
  std::optional<asio::steady_timer> ended;  // cancelled when run() returns

  static asio::awaitable<void> run(std::shared_ptr<state> s);
  asio::awaitable<void> refresh_source_lsn();
  asio::awaitable<void> cancel_apply();
  follow_lag publish();
  asio::awaitable<void> record(const follow_lag& l);
};

follow_monitor::follow_monitor(state_store& st, follow_progress& fp, cdc::applier& a,
                               pg::replication_connection& rc, codecs::endpoint source,
                               codecs::endpoint target)
    : s_(std::make_shared<state>(st, fp, a, rc, std::move(source), std::move(target))) {
  s_->first_changes = a.stats().changes;
  s_->last_changes = s_->first_changes;
}

follow_monitor::~follow_monitor() {
  s_->alive = false;
  s_->done = true;
  if (s_->tick) s_->tick->cancel();
}

void follow_monitor::start(const asio::any_io_executor& ex) {
  s_->tick.emplace(ex);
  s_->ended.emplace(ex, steady::time_point::max());
  s_->running = true;
  s_->publish();
  s_->fp.active = true;
  asio::co_spawn(ex, state::run(s_), asio::detached);
}

void follow_monitor::stopping() {
  if (!s_->stop_asked) s_->stop_asked = steady::now();
}

asio::awaitable<follow_lag> follow_monitor::finish() {
  state& s = *s_;
  s.done = true;
  if (s.tick) s.tick->cancel();
  while (s.running) {
    (void)co_await s.ended->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  const follow_lag l = s.publish();
  co_await s.record(l);
  co_return l;
}

asio::awaitable<void> follow_monitor::state::run(std::shared_ptr<state> s) {
  auto last_source = steady::time_point{};
  auto last_cancel = steady::time_point{};
  while (!s->done) {
    const auto now = steady::now();
    if (now - last_source >= std::chrono::seconds(1)) {
      last_source = now;
      co_await s->refresh_source_lsn();
    }
    if (s->done) break;
    const follow_lag l = s->publish();
    if (steady::now() - s->last_record >= std::chrono::seconds(1)) co_await s->record(l);
    if (s->stop_asked && steady::now() - *s->stop_asked >= stop_grace &&
        steady::now() - last_cancel >= std::chrono::seconds(1)) {
      last_cancel = steady::now();
      co_await s->cancel_apply();
    }
    if (s->done) break;
    s->tick->expires_after(tick_interval);
    (void)co_await s->tick->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (s->src) co_await s->src->close();
  if (s->dst) co_await s->dst->close();
  s->src.reset();
  s->dst.reset();
  s->running = false;
  s->ended->cancel();
}

asio::awaitable<void> follow_monitor::state::refresh_source_lsn() {
  // Keepalives stop coming while the follow loop is busy (the stream is read one message ahead
  // only): ask the source itself.
  try {
    if (!src) src.emplace(co_await connect_endpoint(tick->get_executor(), source, "source"));
    pg::result r = co_await src->query("SELECT pg_current_wal_lsn()::text");
    r.check("source: pg_current_wal_lsn()");
    if (auto l = po::parse_lsn(r.value(0, 0))) source_lsn = std::max(source_lsn, *l);
  } catch (const std::exception& e) {
    spdlog::debug("follow: reading the source's WAL position: {}", e.what());
    src.reset();
  }
}

asio::awaitable<void> follow_monitor::state::cancel_apply() {
  if (!alive) co_return;
  const std::vector<int> pids = a.backend_pids();
  std::string list;
  for (int pid : pids) {
    if (pid > 0) list += (list.empty() ? "{" : ",") + std::to_string(pid);
  }
  if (list.empty()) co_return;
  try {
    if (!dst) dst.emplace(co_await connect_endpoint(tick->get_executor(), target, "target"));
    pg::result r = co_await dst->query(
        "SELECT count(*) FILTER (WHERE pg_cancel_backend(p)) FROM unnest($1::int[]) p",
        pg::make_params(list + "}"));
    r.check("target: pg_cancel_backend");
    spdlog::info("stopping: cancelled the apply statements running on the target ({})",
                 r.value(0, 0));
  } catch (const std::exception& e) {
    spdlog::warn("stopping: cancelling the apply statements on the target: {}", e.what());
    dst.reset();
  }
}

follow_lag follow_monitor::state::publish() {
  follow_lag l;
  l.stats = a.stats();
  const po::lsn committed = a.committed_lsn();
  l.source_lsn = std::max(source_lsn, rc.server_wal_end());
  l.applied = committed;
  // Nothing received is waiting and nothing is read ahead: every transaction the server sent
  // before its last reported WAL end is on the target (the WAL past the last commit belongs to
  // other databases or tables).
  if (l.stats.pending_time == 0 && a.idle() && !rc.has_buffered()) {
    l.applied = std::max(committed, rc.server_wal_end());
  }
  l.bytes = l.source_lsn > l.applied ? l.source_lsn - l.applied : 0;
  if (l.stats.pending_time != 0) {
    l.seconds = std::max(0.0, std::chrono::duration<double>(std::chrono::system_clock::now() -
                                                            po::from_pg_time(l.stats.pending_time))
                                  .count());
  }
  fp.applied_lsn.store(committed, std::memory_order_relaxed);
  fp.lag_bytes.store(static_cast<std::int64_t>(l.bytes), std::memory_order_relaxed);
  fp.lag_ms.store(static_cast<std::int64_t>(l.seconds * 1000), std::memory_order_relaxed);
  fp.changes.store(l.stats.changes - first_changes, std::memory_order_relaxed);
  fp.queued_txns.store(l.stats.queued_txns, std::memory_order_relaxed);
  return l;
}

asio::awaitable<void> follow_monitor::state::record(const follow_lag& l) {
  if (!alive) co_return;
  const auto now = steady::now();
  const double secs = std::chrono::duration<double>(now - last_record).count();
  const cdc::apply_stats& s = l.stats;
  const double rate = secs > 0 ? double(s.changes - last_changes) / secs : 0;
  last_changes = s.changes;
  last_record = now;
  const std::vector<std::pair<std::string, std::string>> marks = {
      {"online.applied_lsn", po::format_lsn(a.committed_lsn())},
      {"online.lag_bytes", std::to_string(l.bytes)},
      {"online.lag_seconds", fmt::format("{:.1f}", l.seconds)},
      {"online.apply_rate", fmt::format("{:.0f}", rate)},
      {"online.apply_queue", std::to_string(s.queued_txns)}};
  // Off this context: it serves the replication and apply sockets.
  co_await st.write_off_context([&] { st.put_many(marks); });
  spdlog::debug(
      "follow: applied to {}, source at {}, lag {} bytes / {:.1f} s, {:.0f} changes/s, {} queued, "
      "{} transactions, {} changes as {} row writes in {} target transactions",
      po::format_lsn(a.committed_lsn()), po::format_lsn(l.source_lsn), l.bytes, l.seconds, rate,
      s.queued_txns, s.txns, s.changes, s.rows_written, s.groups);
}

}  // namespace uringmig::engine
