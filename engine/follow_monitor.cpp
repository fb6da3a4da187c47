// The follower's watch: live lag figures and a prompt stop (see follow_monitor.hpp).
#include "engine/follow_monitor.hpp"

#include "engine/bulk_internal.hpp"

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
constexpr auto tick = std::chrono::milliseconds(250);
// How long a stopping follow loop may take to end on its own before its target statements are
// cancelled: a group commit in flight usually finishes within it.
constexpr auto stop_grace = std::chrono::milliseconds(500);
}  // namespace

follow_monitor::follow_monitor(state_store& st, follow_progress& fp, cdc::applier& a,
                               pg::replication_connection& rc, codecs::endpoint source,
                               codecs::endpoint target)
    : st_(st),
      fp_(fp),
      a_(a),
      rc_(rc),
      source_(std::move(source)),
      target_(std::move(target)),
      first_changes_(a.stats().changes),
      last_changes_(first_changes_),
      last_record_(steady::now()) {}

void follow_monitor::start(const asio::any_io_executor& ex) {
  tick_.emplace(ex);
  ended_.emplace(ex, steady::time_point::max());
  running_ = true;
  publish();
  fp_.active = true;
  asio::co_spawn(ex, run(), asio::detached);
}

void follow_monitor::stopping() {
  if (!stop_asked_) stop_asked_ = steady::now();
}

asio::awaitable<follow_lag> follow_monitor::finish() {
  done_ = true;
  if (tick_) tick_->cancel();
  while (running_) {
    (void)co_await ended_->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (src_) co_await src_->close();
  if (dst_) co_await dst_->close();
  src_.reset();
  dst_.reset();
  const follow_lag l = publish();
  record(l);
  co_return l;
}

asio::awaitable<void> follow_monitor::run() {
  auto last_source = steady::time_point{};
  auto last_cancel = steady::time_point{};
  while (!done_) {
    const auto now = steady::now();
    if (now - last_source >= std::chrono::seconds(1)) {
      last_source = now;
      co_await refresh_source_lsn();
    }
    if (done_) break;
    const follow_lag l = publish();
    if (steady::now() - last_record_ >= std::chrono::seconds(1)) record(l);
    if (stop_asked_ && steady::now() - *stop_asked_ >= stop_grace &&
        steady::now() - last_cancel >= std::chrono::seconds(1)) {
      last_cancel = steady::now();
      co_await cancel_apply();
    }
    if (done_) break;
    tick_->expires_after(tick);
    (void)co_await tick_->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  running_ = false;
  ended_->cancel();
}

asio::awaitable<void> follow_monitor::refresh_source_lsn() {
  // Keepalives stop coming while the follow loop is busy (the stream is read one message ahead
  // only): ask the source itself.
  try {
    if (!src_)
      src_.emplace(co_await bulk::connect_endpoint(tick_->get_executor(), source_, "source"));
    pg::result r = co_await src_->query("SELECT pg_current_wal_lsn()::text");
    r.check("source: pg_current_wal_lsn()");
    if (auto l = po::parse_lsn(r.value(0, 0))) source_lsn_ = std::max(source_lsn_, *l);
  } catch (const std::exception& e) {
    spdlog::debug("follow: reading the source's WAL position: {}", e.what());
    src_.reset();
  }
}

asio::awaitable<void> follow_monitor::cancel_apply() {
  const std::vector<int> pids = a_.backend_pids();
  std::string list;
  for (int pid : pids) {
    if (pid > 0) list += (list.empty() ? "{" : ",") + std::to_string(pid);
  }
  if (list.empty()) co_return;
  try {
    if (!dst_)
      dst_.emplace(co_await bulk::connect_endpoint(tick_->get_executor(), target_, "target"));
    pg::result r = co_await dst_->query(
        "SELECT count(*) FILTER (WHERE pg_cancel_backend(p)) FROM unnest($1::int[]) p",
        pg::make_params(list + "}"));
    r.check("target: pg_cancel_backend");
    spdlog::info("stopping: cancelled the apply statements running on the target ({})",
                 r.value(0, 0));
  } catch (const std::exception& e) {
    spdlog::warn("stopping: cancelling the apply statements on the target: {}", e.what());
    dst_.reset();
  }
}

follow_lag follow_monitor::publish() {
  follow_lag l;
  l.stats = a_.stats();
  const po::lsn committed = a_.committed_lsn();
  l.source_lsn = std::max(source_lsn_, rc_.server_wal_end());
  l.applied = committed;
  // Nothing received is waiting and nothing is read ahead: every transaction the server sent
  // before its last reported WAL end is on the target (the WAL past the last commit belongs to
  // other databases or tables).
  if (l.stats.pending_time == 0 && a_.idle() && !rc_.has_buffered()) {
    l.applied = std::max(committed, rc_.server_wal_end());
  }
  l.bytes = l.source_lsn > l.applied ? l.source_lsn - l.applied : 0;
  if (l.stats.pending_time != 0) {
    l.seconds = std::max(0.0, std::chrono::duration<double>(std::chrono::system_clock::now() -
                                                            po::from_pg_time(l.stats.pending_time))
                                  .count());
  }
  fp_.applied_lsn.store(committed, std::memory_order_relaxed);
  fp_.lag_bytes.store(static_cast<std::int64_t>(l.bytes), std::memory_order_relaxed);
  fp_.lag_ms.store(static_cast<std::int64_t>(l.seconds * 1000), std::memory_order_relaxed);
  fp_.changes.store(l.stats.changes - first_changes_, std::memory_order_relaxed);
  fp_.queued_txns.store(l.stats.queued_txns, std::memory_order_relaxed);
  return l;
}

void follow_monitor::record(const follow_lag& l) {
  const auto now = steady::now();
  const double secs = std::chrono::duration<double>(now - last_record_).count();
  const cdc::apply_stats& s = l.stats;
  const double rate = secs > 0 ? double(s.changes - last_changes_) / secs : 0;
  last_changes_ = s.changes;
  last_record_ = now;
  st_.put("online.applied_lsn", po::format_lsn(a_.committed_lsn()));
  st_.put("online.lag_bytes", std::to_string(l.bytes));
  st_.put("online.lag_seconds", fmt::format("{:.1f}", l.seconds));
  st_.put("online.apply_rate", fmt::format("{:.0f}", rate));
  st_.put("online.apply_queue", std::to_string(s.queued_txns));
  spdlog::debug(
      "follow: applied to {}, source at {}, lag {} bytes / {:.1f} s, {:.0f} changes/s, {} queued, "
      "{} transactions, {} changes as {} row writes in {} target transactions",
      po::format_lsn(a_.committed_lsn()), po::format_lsn(l.source_lsn), l.bytes, l.seconds, rate,
      s.queued_txns, s.txns, s.changes, s.rows_written, s.groups);
}

}  // namespace uringmig::engine
