#pragma once

// Internal to engine/cdc/apply*: the parallel applier (apply_options::workers > 1). One
// dispatcher reads the stream; whole source transactions go to worker appliers, each on its own
// target connection and replication origin. Invariants that keep exactly-once:
// - COMMITs happen strictly in source commit order (a worker's COMMIT waits for its turn), so
//   the highest progress over the workers' origins is a point below which everything is in;
// - a worker's target transaction holds only source transactions consecutive in commit order;
// - a transaction touching a (relation, replica identity key) held by an uncommitted earlier one
//   runs on that one's worker, after it, or waits for its commit; TRUNCATE, relation changes,
//   streamed and large transactions are barriers (everything before committed, then run alone).

#include "engine/cdc/apply.hpp"
#include "io/waiters.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <exception>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace uringmig::engine::cdc::detail {

/// The highest progress of `origin` and of `origin_<k>` on the target (0 when none).
boost::asio::awaitable<lsn> origin_progress(connectors::postgres::connection& c,
                                            const std::string& origin);

/// What the dispatcher knows of a relation: enough to build keys and to see a change.
struct key_relation {
  char identity = 'd';
  std::vector<std::string> names;
  std::vector<std::uint32_t> types;
  std::vector<std::int32_t> mods;  // type modifiers
  std::vector<bool> key;
  std::string nspname;
  std::string relname;
  /// Rows with different keys can interact on the target (detail::rows_independent is false):
  /// its transactions are ordered as a whole, like a keyless table's.
  bool whole = false;
};

using payload_bytes = std::vector<std::byte>;

/// A dependency key: a 64-bit digest of (relation, replica identity key values), or of the
/// relation alone for tables ordered as a whole. Two keys that share a digest only order two
/// transactions that could have run side by side: never a wrong order.
using dep_key = std::uint64_t;

struct work_item {
  std::uint64_t seq = 0;  // 0: raw messages fed as they are (relations, stream blocks)
  std::vector<payload_bytes> payloads;
};

struct inflight_txn {
  std::uint64_t seq = 0;
  lsn end = 0;
  std::int64_t time = 0;  // source commit time
  std::size_t worker = 0;
  std::vector<dep_key> keys;
};

struct worker_state {
  std::optional<applier> sub;
  std::deque<work_item> queue;
  std::uint64_t pending_first = 0;  // source transactions fed since the last COMMIT
  std::uint64_t pending_last = 0;
  bool running = false;
};

class parallel {
 public:
  static boost::asio::awaitable<applier> open(connectors::postgres::connection target,
                                              apply_options o);

  boost::asio::awaitable<void> feed(std::span<const std::byte> payload);
  boost::asio::awaitable<void> flush();
  lsn committed_lsn() const { return committed_lsn_; }
  std::optional<std::pair<std::string, lsn>> take_sentinel();
  apply_stats stats() const;
  std::vector<int> backend_pids() const;
  bool idle() const;
  /// Asks the workers to end (uncommitted work is abandoned); they hold this object until then.
  void stop();

 private:
  struct txn_buffer {
    std::vector<payload_bytes> payloads;
    std::vector<payload_bytes> relations;  // new or changed Relation messages
    std::vector<dep_key> keys;
    std::vector<std::pair<std::string, lsn>> sentinels;
    std::size_t changes = 0;
    bool barrier = false;
    bool large = false;     // fed to worker 0 as it streams
    bool skip = false;      // committed before origin_lsn_: applied already
    std::int64_t time = 0;  // source commit time (from Begin)
  };

  static boost::asio::awaitable<void> run_worker(std::shared_ptr<parallel> self, std::size_t k);
  boost::asio::awaitable<void> wait_change();
  void notify() { io::wake_all(waiters_.take_all()); }
  /// Changes one worker takes in a row before the next worker's turn: big enough that each
  /// worker's target transactions are large (a commit each; net apply within), small enough that
  /// every worker has work.
  std::size_t chunk_limit() const {
    return std::max(opts_.max_batch_statements,
                    opts_.max_group_changes / (2 * std::max<std::size_t>(workers_.size(), 1)));
  }
  void check() const;
  boost::asio::awaitable<void> wait_turn(std::size_t k);
  boost::asio::awaitable<void> flush_worker(std::size_t k);
  void committed(std::size_t k);
  boost::asio::awaitable<void> drain();
  boost::asio::awaitable<void> room();
  boost::asio::awaitable<void> dispatch(lsn end, std::int64_t time);
  std::uint64_t assign(std::size_t w, std::vector<payload_bytes> payloads, lsn end,
                       std::int64_t time, std::vector<dep_key> keys);
  void push(std::size_t w, work_item item);
  void broadcast(std::vector<payload_bytes>& relations);
  /// Records `r` (asking the target whether its rows are independent); true when it changes a
  /// known relation's definition, or names a column the target lacks (the workers add it).
  boost::asio::awaitable<bool> on_relation(const codecs::pgoutput::relation_message& r);
  /// apply_options::stop_before, as applier::stop_if_due.
  boost::asio::awaitable<void> stop_if_due(lsn commit);
  void add_key(std::uint32_t oid, std::span<const codecs::pgoutput::column_value> tuple);

  apply_options opts_;
  std::optional<connectors::postgres::connection> catalog_;  // the dispatcher's catalog queries
  std::vector<worker_state> workers_;
  io::waiters waiters_;
  codecs::pgoutput::decoder decoder_{2};
  std::unordered_map<std::uint32_t, key_relation> relations_;
  std::unordered_map<dep_key, std::pair<std::uint64_t, std::size_t>> owners_;  // key -> seq, w
  std::deque<inflight_txn> inflight_;
  std::exception_ptr error_;
  bool stopping_ = false;
  int waiting_ = 0;         // the dispatcher waits: workers commit instead of waiting for more
  std::size_t queued_ = 0;  // payloads queued, not yet fed
  std::uint64_t next_seq_ = 1;
  std::uint64_t committed_seq_ = 0;
  lsn origin_lsn_ = 0;
  lsn committed_lsn_ = 0;
  std::size_t chunk_worker_ = 0;
  std::size_t chunk_changes_ = 0;
  std::optional<txn_buffer> txn_;  // the source transaction being read
  std::unordered_map<std::uint32_t, std::vector<std::pair<std::string, lsn>>> stream_sentinels_;
  std::deque<std::pair<std::string, lsn>> sentinels_;
};

}  // namespace uringmig::engine::cdc::detail
