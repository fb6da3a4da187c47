#pragma once

// Internal to engine/cdc/apply*: the parallel applier (apply_options::workers > 1). One
// dispatcher reads the stream; whole source transactions go to worker appliers, each on its own
// target connection and replication origin. Invariants that keep exactly-once:
// - COMMITs happen strictly in source commit order (a worker's COMMIT waits for its turn), so
//   the highest progress over the workers' origins is a point below which everything is in;
// - a worker's target transaction holds only source transactions consecutive in commit order;
// - a transaction touching a (relation, replica identity key) held by an uncommitted earlier one
//   runs on that one's worker, after it, or waits for its commit; TRUNCATE, relation changes,
//   streamed and large transactions are barriers (everything before committed, then run alone);
// - a streamed transaction applied as it streams (cdc/apply_stream.cpp) commits only at its Stream
//   Commit, once everything before it committed, on a connection and origin of its own.

#include "codecs/pgoutput_batch.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/cdc/apply_order.hpp"
#include "engine/cdc/apply_sql.hpp"
#include "io/waiters.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace uringmig::engine::cdc::detail {

/// The highest progress of `origin` and of `origin_<k>` on the target (0 when none).
boost::asio::awaitable<lsn> origin_progress(connectors::postgres::connection& c,
                                            const std::string& origin);

/// Adds the counts of `x` to `to` (the latest commit time of both).
void add_stats(apply_stats& to, const apply_stats& x);

/// A unit of a lane's work: a whole source transaction (`seq` > 0, in commit order), or raw
/// messages fed as they come (seq 0: relations, stream blocks, a large transaction's changes),
/// decoded once by the dispatcher, in a batch from its pool.
struct work_item {
  std::uint64_t seq = 0;
  std::unique_ptr<codecs::pgoutput::message_batch> batch;
};

struct worker_state {
  std::optional<applier> sub;
  std::deque<work_item> queue;
};

/// The streamed transaction applied while it streams (cdc/apply_stream.cpp): one at a time, in a
/// target transaction of its own connection (origin `<origin>_<workers>`), committed at its
/// Stream Commit. Worker 0 spools it as well: on a rolled-back subtransaction or a failure the
/// live target transaction rolls back and the spool is applied at the commit, as without it.
struct live_state {
  std::optional<applier> sub;
  std::deque<std::unique_ptr<codecs::pgoutput::message_batch>> queue;
  std::uint32_t xid = 0;   // dispatcher: the transaction applied live (0: none)
  bool block = false;      // dispatcher: in one of its stream blocks
  bool failed = false;     // its worker: it fell back to the spool
  bool committed = false;  // its worker: the Stream Commit committed it
  bool busy = false;       // its worker: taking a batch
  apply_stats done;        // stats of live appliers closed after a failure
};

class parallel {
 public:
  static boost::asio::awaitable<applier> open(connectors::postgres::connection target,
                                              apply_options o);

  boost::asio::awaitable<void> feed(std::span<const std::byte> payload);
  /// applier::try_feed: a change of an open source transaction added to its buffer, or a Begin,
  /// without a coroutine; false: nothing was done, feed(payload) it.
  bool try_feed(std::span<const std::byte> payload);
  boost::asio::awaitable<void> flush();
  lsn committed_lsn() const { return order_->committed_lsn(); }
  std::optional<std::pair<std::string, lsn>> take_sentinel();
  apply_stats stats() const;
  std::vector<int> backend_pids() const;
  bool idle() const;
  /// Asks the workers to end (uncommitted work is abandoned); they hold this object until then.
  void stop();

 private:
  using batch_ptr = std::unique_ptr<codecs::pgoutput::message_batch>;
  struct txn_buffer {
    batch_ptr batch;      // Begin .. Commit (null once a large transaction went to worker 0)
    batch_ptr relations;  // new or changed Relation messages (null: none)
    std::vector<dep_key> keys;
    std::vector<std::pair<std::string, lsn>> sentinels;
    std::size_t changes = 0;
    bool barrier = false;
    bool large = false;     // fed to worker 0 as it streams
    bool skip = false;      // committed before origin_lsn_: applied already
    std::int64_t time = 0;  // source commit time (from Begin)
  };

  static boost::asio::awaitable<void> run_worker(std::shared_ptr<parallel> self, std::size_t k);
  // cdc/apply_stream.cpp: a streamed transaction applied as it streams.
  static boost::asio::awaitable<void> run_live(std::shared_ptr<parallel> self);
  /// The dispatcher, at a Stream Start: whether the block is the live transaction's (the first
  /// block of a transaction makes it live when none is).
  bool live_block(const codecs::pgoutput::stream_start_message& s);
  void push_live(const codecs::pgoutput::message& m, std::span<const std::byte> payload);
  /// The live worker: one message of the live transaction.
  boost::asio::awaitable<void> live_message(const codecs::pgoutput::message& m);
  /// The dispatcher, at the live transaction's Stream Commit (`end`): everything before it
  /// commits, then it; false when it fell back to the spool (nothing of it committed).
  boost::asio::awaitable<bool> live_commit(const codecs::pgoutput::message& m,
                                           std::span<const std::byte> payload, lsn end);
  boost::asio::awaitable<void> wait_change();
  void notify() { io::wake_all(waiters_.take_all()); }
  /// Changes one worker takes in a row before the next worker's turn: big enough that each
  /// worker's target transactions are large (a commit each; net apply within), small enough that
  /// every worker has work.
  static std::size_t chunk_limit(const apply_options& o) {
    return std::max(o.max_batch_statements,
                    o.max_group_changes / (2 * std::max<std::size_t>(o.workers, 1)));
  }
  void check() const;
  boost::asio::awaitable<void> wait_turn(std::size_t k);
  boost::asio::awaitable<void> flush_worker(std::size_t k);
  void committed(std::size_t k);
  boost::asio::awaitable<void> drain();
  boost::asio::awaitable<void> room();
  boost::asio::awaitable<void> dispatch(lsn end, std::int64_t time);
  void assign(std::size_t w, batch_ptr batch, lsn end, std::int64_t time,
              std::vector<dep_key> keys);
  void push(std::size_t w, work_item item);
  /// Appends one message to worker `w`'s last queued raw item (a new one when there is none).
  void push_raw(std::size_t w, const codecs::pgoutput::message& m,
                std::span<const std::byte> payload);
  /// Queues the Relation messages of `relations` for every worker; releases the batch.
  void broadcast(batch_ptr& relations);
  /// A batch from the pool (empty), and back.
  batch_ptr acquire();
  void release(batch_ptr b);
  /// Records `r` (asking the target whether its rows are independent); true when it changes a
  /// known relation's definition, or names a column the target lacks (the workers add it).
  boost::asio::awaitable<bool> on_relation(const codecs::pgoutput::relation_message& r);
  /// apply_options::stop_before, as applier::stop_if_due.
  boost::asio::awaitable<void> stop_if_due(lsn commit);
  void add_key(std::uint32_t oid, std::span<const codecs::pgoutput::column_value> tuple);
  /// A source transaction starts: its buffer.
  void begin_txn(const codecs::pgoutput::begin_message& b, const codecs::pgoutput::message& m,
                 std::span<const std::byte> payload);
  /// A change of the open transaction (not a large one) into its buffer and dependency keys.
  void add_change(const codecs::pgoutput::message& m, std::span<const std::byte> payload);

  apply_options opts_;
  std::optional<connectors::postgres::connection> catalog_;  // the dispatcher's catalog queries
  std::vector<worker_state> workers_;
  io::waiters waiters_;
  codecs::pgoutput::decoder decoder_{2};
  std::unordered_map<std::uint32_t, key_relation> relations_;
  target_tables tables_;  // what the lanes' Relation messages need to know of the target
  std::optional<apply_order> order_;
  std::vector<batch_ptr> pool_;   // batches the workers are done with, cleared
  std::size_t pooled_bytes_ = 0;  // their footprint
  std::exception_ptr error_;
  bool stopping_ = false;
  int waiting_ = 0;         // the dispatcher waits: workers commit instead of waiting for more
  std::size_t queued_ = 0;  // messages queued, not yet fed
  lsn origin_lsn_ = 0;
  std::optional<txn_buffer> txn_;  // the source transaction being read
  std::unordered_map<std::uint32_t, std::vector<std::pair<std::string, lsn>>> stream_sentinels_;
  live_state live_;
  std::deque<std::pair<std::string, lsn>> sentinels_;
};

}  // namespace uringmig::engine::cdc::detail
