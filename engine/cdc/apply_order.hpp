#pragma once

// Internal to engine/cdc/apply*: the parallel applier's ordering decisions as plain objects, no
// I/O (tests/unit/cdc_apply_order_test.cpp). The dispatcher and the lanes (cdc/apply_parallel.cpp)
// ask these what to do next and do it:
// - row_key: a change's dependency key, from what the dispatcher knows of its relation;
// - apply_order: which lane a source transaction goes to (or that it must wait), when a lane's
//   target transaction must end, when its COMMIT may go (strictly in source commit order), and
//   what is committed once it did.

#include "codecs/pgoutput.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace uringmig::engine::cdc::detail {

using lsn = codecs::pgoutput::lsn;

/// A dependency key: a 64-bit digest of (relation, replica identity key values), or of the
/// relation alone for tables ordered as a whole. Two keys that share a digest only order two
/// transactions that could have run side by side: never a wrong order.
using dep_key = std::uint64_t;

/// What the dispatcher knows of a relation: enough to build keys and to see a change.
struct key_relation {
  char identity = 'd';
  std::vector<std::string> names;
  std::vector<std::uint32_t> types;
  std::vector<std::int32_t> mods;  // type modifiers
  std::vector<bool> key;
  std::string nspname;
  std::string relname;
  /// Rows with different keys can interact on the target (detail::target_table::independent is
  /// false): its transactions are ordered as a whole, like a keyless table's.
  bool whole = false;
};

/// The key of a change to `tuple` of relation `oid` (`rel`: null when unknown): the relation's
/// own key when it is ordered as a whole (REPLICA IDENTITY FULL, `whole`), else the digest of
/// its key columns' values. nullopt when no key can be built (unknown relation, a tuple of
/// another width, an unchanged TOAST key value): the transaction must run alone.
std::optional<dep_key> row_key(std::uint32_t oid, const key_relation* rel,
                               std::span<const codecs::pgoutput::column_value> tuple);

/// Dependency key -> the uncommitted transaction holding it (seq, lane): open addressing, no
/// allocation per key (a transaction of 100 rows adds and finds 100 of them). A commit releases
/// its transactions' keys all at once by raising `committed` (no probe per key: the probes of a
/// release per key were the follower's top user-space cost, measured with perf); entries of
/// committed transactions are dropped when the table would grow.
class owner_map {
 public:
  struct owner {
    std::uint64_t seq = 0;  // 0: none
    std::size_t lane = 0;
  };
  /// The transaction holding `key`, if it is not committed.
  owner find(dep_key key) const;
  /// `o.seq` holds `key` from now on (o.seq > 0, and above every seq released so far).
  void set(dep_key key, owner o);
  /// Transactions up to `seq` committed: they hold nothing any more.
  void release_through(std::uint64_t seq) { committed_ = std::max(committed_, seq); }
  /// Keys held by transactions not committed (counts the table: for tests).
  std::size_t size() const;

 private:
  struct slot {
    dep_key key = 0;
    owner o;  // o.seq == 0: empty
  };
  std::size_t home(dep_key key) const { return static_cast<std::size_t>(key) & mask_; }
  void rebuild();
  std::vector<slot> slots_;
  std::size_t mask_ = 0;
  std::size_t used_ = 0;  // slots holding a key, committed or not
  std::uint64_t committed_ = 0;
};

/// Source transactions in flight over `lanes` target connections. Invariants (exactly-once):
/// COMMITs in source commit order; a lane's target transaction holds only source transactions
/// consecutive in commit order; a transaction whose keys an uncommitted one holds goes to that
/// one's lane (after it), or waits while they are held on more than one lane.
class apply_order {
 public:
  /// `chunk_limit`: changes one lane takes in a row before the next lane's turn.
  apply_order(std::size_t lanes, std::size_t chunk_limit);

  struct placement {
    bool wait = false;  // its keys are held on more than one lane: wait for a commit, ask again
    std::size_t lane = 0;
  };
  /// Where a transaction with `keys` and `changes` changes goes now; when it is not told to
  /// wait, the caller assigns it to that lane next.
  placement place(std::span<const dep_key> keys, std::size_t changes);
  /// Records a transaction (ending at `end`, committed at source time `time`) on `lane`, holding
  /// `keys` until it commits; returns its sequence number (commit order, from 1).
  std::uint64_t assign(std::size_t lane, lsn end, std::int64_t time, std::vector<dep_key> keys);

  /// A lane is about to take transaction `seq` (0: raw messages, no transaction): true when its
  /// open target transaction must commit first (`seq` does not follow its last one).
  bool must_commit_before(std::size_t lane, std::uint64_t seq) const;
  /// The lane took transaction `seq` into its open target transaction.
  void took(std::size_t lane, std::uint64_t seq);
  /// Nothing queued for the lane: true when its open target transaction should commit now (the
  /// next transaction went to another lane, or `dispatcher_waits` for commits).
  bool should_commit(std::size_t lane, bool dispatcher_waits) const;
  /// The lane holds transactions not committed yet.
  bool pending(std::size_t lane) const { return lanes_[lane].last != 0; }
  /// The lane's COMMIT may go: everything before its first transaction committed.
  bool turn(std::size_t lane) const { return committed_seq_ + 1 == lanes_[lane].first; }
  /// The lane's target transaction committed: its transactions' keys are released and the
  /// committed LSN moves up.
  void committed(std::size_t lane);

  /// Every assigned transaction committed.
  bool all_committed() const { return committed_seq_ + 1 == next_seq_; }
  /// Transactions assigned, not committed.
  std::size_t in_flight() const { return inflight_.size(); }
  lsn committed_lsn() const { return committed_lsn_; }
  /// Source commit time of the oldest transaction in flight; 0 when none.
  std::int64_t oldest_time() const { return inflight_.empty() ? 0 : inflight_.front().time; }
  void set_committed_lsn(lsn l) { committed_lsn_ = l; }

 private:
  struct txn {
    std::uint64_t seq = 0;
    lsn end = 0;
    std::int64_t time = 0;
  };
  struct lane_state {
    std::uint64_t first = 0;  // source transactions taken since the lane's last COMMIT
    std::uint64_t last = 0;
  };

  std::vector<lane_state> lanes_;
  std::size_t chunk_limit_;
  owner_map owners_;
  std::deque<txn> inflight_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t committed_seq_ = 0;
  lsn committed_lsn_ = 0;
  std::size_t chunk_lane_ = 0;
  std::size_t chunk_changes_ = 0;
};

}  // namespace uringmig::engine::cdc::detail
