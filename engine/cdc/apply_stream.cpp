// A streamed (in-progress) transaction applied while it streams: the parallel applier's live
// worker feeds its changes, block by block, into a target transaction of its own (its own
// connection and origin `<origin>_<workers>`), sends each block's statements at the block's end,
// and commits at the Stream Commit, once every transaction before it committed — instead of
// applying the whole transaction from its spool after the commit. The target works while the
// source still decodes. Why that is exact:
// - the target transaction commits with the origin's progress at the transaction's end, after
//   every transaction before it (commit order, as the lanes'); a Stream Abort rolls it back, so
//   does a crash (nothing committed: the slot streams the transaction again);
// - rows it changed are locked on the source until it ends: a transaction committing before it
//   cannot have changed them after it did. A transaction that comes after one of its blocks in
//   the stream committed after the block's changes were made: it touches none of their rows, so
//   the lanes never wait for its locks. One that comes before a block may have touched rows the
//   block changes again: every block goes out once the transactions before it committed;
// - a rolled-back subtransaction (its changes are in the live transaction), a failed statement or
//   a transaction applied before (a crash after the commit, before the slot was told) make it
//   roll back and fall back to worker 0's spool, which has every message: the commit applies it
//   from there, as without the live worker.
#include "engine/cdc/apply_parallel.hpp"

#include <spdlog/spdlog.h>

namespace uringmig::engine::cdc::detail {

namespace pgo = codecs::pgoutput;
namespace asio = boost::asio;

asio::awaitable<void> parallel::run_live(std::shared_ptr<parallel> self) {
  live_state& l = self->live_;
  while (!self->stopping_ && !self->error_) {
    if (l.queue.empty()) {
      co_await self->wait_change();
      continue;
    }
    batch_ptr b = std::move(l.queue.front());
    l.queue.pop_front();
    l.busy = true;
    self->queued_ -= b->size();
    self->notify();
    for (const auto& e : b->entries()) {
      if (self->stopping_) break;
      std::string why;
      try {
        co_await self->live_message(e.m);
        continue;
      } catch (const std::exception& ex) {
        why = ex.what();
      } catch (...) {
        why = "unknown error";
      }
      if (self->stopping_) break;
      // The spool has it all: the commit applies it from there (and names a real problem).
      // Said once a transaction at info: slower, not wrong (e.g. the target's
      // max_replication_slots has no room for the live worker's origin).
      spdlog::info(
          "cdc apply: a streamed transaction is applied from its spool after its commit, not "
          "while it streams: {}",
          why);
      if (l.sub) add_stats(l.done, l.sub->stats());  // what it committed stays counted
      l.sub.reset();                                 // its connection closes: the target rolls back
      l.failed = true;
    }
    self->release(std::move(b));
    l.busy = false;
    self->notify();
  }
  l.busy = false;
  self->notify();
}

void parallel::push_live(const pgo::message& m, std::span<const std::byte> payload) {
  auto& q = live_.queue;
  if (q.empty() || q.back()->size() >= 1024) q.push_back(acquire());
  q.back()->add(m, payload);
  ++queued_;
  notify();
}

bool parallel::live_block(const pgo::stream_start_message& s) {
  // One at a time: others interleaved with it are spooled only.
  if (s.first_segment && live_.xid == 0 && opts_.connect) live_.xid = s.xid;
  live_.block = live_.xid != 0 && live_.xid == s.xid;
  return live_.block;
}

asio::awaitable<void> parallel::live_message(const pgo::message& m) {
  live_state& l = live_;
  if (const auto* s = std::get_if<pgo::stream_start_message>(&m)) {
    if (!s->first_segment) co_return;
    l.failed = false;
    l.committed = false;
    if (!l.sub) {
      apply_options so = opts_;
      so.workers = 1;
      so.connect = nullptr;
      so.origin = opts_.origin + "_" + std::to_string(workers_.size());
      so.sentinel_prefix.clear();  // reported by the dispatcher
      so.stop_before = 0;
      so.prefetch_tables = false;  // the dispatcher's answers are its
      l.sub.emplace(co_await applier::open(co_await opts_.connect(), std::move(so)));
      l.sub->shared_tables_ = &tables_;
    }
    applier& a = *l.sub;
    a.in_txn_ = true;
    a.txn_skip_lsn_ = false;
    a.txn_skip_origin_ = false;
    a.txn_time_ = 0;
    a.txn_sentinels_.clear();
    co_return;
  }
  if (l.failed || !l.sub) co_return;
  applier& a = *l.sub;
  if (std::holds_alternative<pgo::stream_stop_message>(m)) {
    co_await a.send_pending();  // the target applies the block while the next one streams
    co_return;
  }
  if (const auto* ab = std::get_if<pgo::stream_abort_message>(&m)) {
    co_await a.discard();
    // A subtransaction's changes are mixed into the target transaction: the spool takes over.
    l.failed = ab->subxid != ab->xid;
    co_return;
  }
  if (const auto* c = std::get_if<pgo::stream_commit_message>(&m)) {
    // Everything before it is committed (live_commit): it is next in commit order.
    a.seen_end_ = std::max(a.seen_end_, order_->committed_lsn());
    a.committed_lsn_ = std::max(a.committed_lsn_, order_->committed_lsn());
    a.txn_commit_ = c->commit_lsn;
    const bool fresh = a.note_end(c->end_lsn, c->commit_time);
    if (!fresh) {
      co_await a.discard();
      l.failed = true;
      co_return;
    }
    co_await a.commit_group();
    l.committed = true;
    co_return;
  }
  if (!a.try_feed(m)) co_await a.handle(m, false);
}

asio::awaitable<bool> parallel::live_commit(const pgo::message& m,
                                            std::span<const std::byte> payload, lsn end) {
  co_await drain();  // every transaction before it committed
  push_live(m, payload);
  ++waiting_;
  notify();
  while (!stopping_ && !error_ && (!live_.queue.empty() || live_.busy))
    co_await wait_change();
  --waiting_;
  check();
  if (!live_.committed) co_return false;
  live_.committed = false;
  order_->set_committed_lsn(std::max(order_->committed_lsn(), end));
  notify();
  co_return true;
}

}  // namespace uringmig::engine::cdc::detail
