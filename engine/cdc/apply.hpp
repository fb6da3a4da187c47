#pragma once

// CDC apply on a PostgreSQL target: pgoutput messages (codecs/pgoutput) turned into pipelined
// prepared DML, whole source transactions grouped into target transactions that commit together
// with the replication origin's progress, so a crash at any point resumes without loss or double
// apply. Streamed (in-progress) transactions are spooled to disk until they commit.

#include "codecs/pgoutput.hpp"
#include "connectors/postgres/connection.hpp"
#include "engine/cdc/key_index.hpp"
#include "engine/cdc/packed_values.hpp"
#include "io/buffer_pool.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace uringmig::engine::cdc {

using lsn = codecs::pgoutput::lsn;

struct apply_options {
  std::string origin;                       // replication origin name on the target
  std::size_t max_batch_statements = 2000;  // statements per pipelined round trip
  std::size_t max_group_changes = 20000;    // source changes per target transaction
  /// Reduce a group's changes per (table, key) to their net effect, applied as multi-row
  /// statements, on the tables where order cannot matter (relation_info::coalesce).
  bool coalesce = true;
  std::chrono::milliseconds max_group_delay{200};       // commit a group at latest this long after
                                                        // its first change (checked at each commit)
  std::filesystem::path spool_dir;                      // streamed transactions, one file per xid
  std::string skip_origin_prefix = "uringmig";          // Origin names skipped (loop prevention)
  std::string sentinel_prefix = "uringmig.switchover";  // logical messages reported, not applied
  /// Target connections applying concurrently. 1: one connection, origin `origin`. N > 1: N
  /// connections (open() makes N - 1 more with `connect`), each under its own origin
  /// `<origin>_<k>`; transactions touching the same (relation, replica identity key) stay
  /// ordered, COMMITs happen in source commit order (engine/cdc/apply_parallel.cpp).
  std::size_t workers = 1;
  std::function<boost::asio::awaitable<connectors::postgres::connection>()> connect;
  /// Opens a connection to the source, for what a Relation message does not say about a column
  /// added there (its type's name, the value rows that existed got, its default). Unset: a
  /// column missing on the target is an error.
  std::function<boost::asio::awaitable<connectors::postgres::connection>()> connect_source;
  /// Set after a schema_change_error with at() != 0: the source transaction that commits at this
  /// LSN or later is not applied; everything before it is committed, then schema_change_error
  /// (stop_message) is thrown, so that the fixed target resumes exactly at that transaction.
  lsn stop_before = 0;
  std::string stop_message;
  /// open() asks the target about every table at once (one round trip) and a Relation message
  /// naming a table first takes the answer; off, each table is asked about when first named (a
  /// parallel applier's lanes: they take their dispatcher's answers).
  bool prefetch_tables = true;
};

/// A column dropped or retyped on the source while following, and not on the target, or a table
/// the target lacks (created, renamed or moved on the source): the follower stops (what() names
/// the table, the column and what to do on the target).
class schema_change_error : public std::runtime_error {
 public:
  /// `type`: the column's new type; empty when it was dropped (or renamed).
  schema_change_error(const std::string& what, lsn at, std::string table = {},
                      std::string column = {}, std::string type = {})
      : std::runtime_error(what),
        at_(at),
        table_(std::move(table)),
        column_(std::move(column)),
        type_(std::move(type)) {}
  /// 0: everything before the source transaction that showed the change is committed. Else that
  /// transaction's commit LSN, whose target transaction also held earlier source transactions
  /// (rolled back with it): apply again with apply_options::stop_before = at().
  lsn at() const { return at_; }
  /// What the target must look like to go on: `table` ("ns"."rel") without `column`, or with it
  /// of type `type`; with no `column`, `table` must exist. Empty when not known (the stop of
  /// apply_options::stop_before).
  const std::string& table() const { return table_; }
  const std::string& column() const { return column_; }
  const std::string& type() const { return type_; }

 private:
  lsn at_ = 0;
  std::string table_;
  std::string column_;
  std::string type_;
};

/// A statement the target refused while applying: the open target transaction was rolled back
/// (nothing of it is applied) and the applier is unusable. what() names the table and the
/// server's error; diag() is what the server said (its SQLSTATE tells a conflict from an outage).
class apply_error : public std::runtime_error {
 public:
  apply_error(const std::string& what, connectors::postgres::diagnostics d)
      : std::runtime_error(what), diag_(std::move(d)) {}
  const connectors::postgres::diagnostics& diag() const { return diag_; }

 private:
  connectors::postgres::diagnostics diag_;
};

struct apply_stats {
  std::uint64_t txns = 0;          // source transactions applied (skipped ones excluded)
  std::uint64_t changes = 0;       // rows inserted, updated or deleted, and truncates
  std::uint64_t rows_written = 0;  // rows the target's statements wrote for them: fewer when a
                                   // group's changes to one key were coalesced
  std::uint64_t groups = 0;        // target transactions committed
  std::uint64_t skipped_txns = 0;  // transactions skipped for their origin
  std::uint64_t queued_txns = 0;   // now: received (or being received, or spooled), not yet
                                   // committed on the target
  lsn committed = 0;               // = committed_lsn()
  /// Source commit time (microseconds since 2000-01-01 UTC) of the last committed transaction;
  /// 0 before the first. Lag in seconds = now - this, while there is a backlog.
  std::int64_t committed_time = 0;
  /// Source commit time of the oldest transaction received (or being received) and not yet
  /// committed on the target; 0 when there is none. Lag in seconds = now - this.
  std::int64_t pending_time = 0;
};

/// Once everything is applied (the switchover): adds the source's stored generated columns that
/// tables of `dst` lack (not published: the stream never shows one added), then runs in order
/// what appliers on `dst` left waiting: the NOT NULL, default or identity of a column added on
/// the source that failed when it was added (rows the source had deleted since waited for their
/// DELETE). Each statement that fails is logged with what to do (and stays waiting). Throws
/// postgres::error.
boost::asio::awaitable<void> finish_added_columns(connectors::postgres::connection& src,
                                                  connectors::postgres::connection& dst);

namespace detail {

struct column_info {
  std::string name;
  bool key = false;
  std::uint32_t type_oid = 0;
  std::int32_t type_mod = -1;  // as the Relation message says
  bool write = true;           // false: generated on the target
  std::string cast;            // "::integer": the target's type, without typmod
  std::string full_type;       // "numeric(12,2)": with typmod, to compare values as the column
  bool text_compare = false;   // no equality operator (json, point...): compare as text
};

struct relation_info {
  std::string nspname;
  std::string relname;
  std::string qualified;  // "ns"."rel"
  char identity = 'd';
  std::vector<column_info> columns;
  std::uint32_t generation = 0;  // bumped when the definition changes: new statement names
  /// The group's changes to this table may be reduced to their net effect per key and applied
  /// as multi-row statements (cdc/apply_net.cpp): it has a key, and no unique index, exclusion
  /// constraint, rule or replica trigger on the target could tell the order of rows apart.
  bool coalesce = false;
  /// REPLICA IDENTITY FULL without an index to find rows by: the group's changes are reduced to
  /// row multiplicities and applied set-based (cdc/apply_full.cpp).
  bool full_set = false;
  /// REPLICA IDENTITY FULL applied change by change with a whole-table scan each (no index, and
  /// set-based apply not possible): groups stay small.
  bool full_scan = false;
};

/// The net effect of a group's changes on one key of a coalesced table.
enum class net_op : std::uint8_t { none, insert, update, remove, replace };

struct net_entry {
  net_op op = net_op::none;
};

struct net_table {
  key_index index;                 // encoded key -> entries
  std::vector<net_entry> entries;  // in first-change order
  /// Entry k's values: k * columns .. (k + 1) * columns - 1; key columns always set, others unset
  /// where the target keeps its own.
  packed_values values;
  std::size_t unused = 0;  // bytes of `values` replaced since
};

/// A REPLICA IDENTITY FULL table's changes in the group, as a multiset: per distinct row, how many
/// copies the group added (> 0) or removed (< 0).
struct full_table {
  key_index index;                  // encoded row -> entries
  std::vector<std::int64_t> delta;  // per distinct row, in first-change order
  /// Row k's values: k * columns .. (k + 1) * columns - 1 (one buffer, no string per value).
  packed_values values;
};

struct insert_run {
  std::uint32_t oid = 0;
  std::size_t rows = 0;
  std::size_t max_rows = 0;
  packed_values values;  // rows * written columns
  bool counted = false;  // net inserts: counted in the group as their changes came in
};

struct spool_state {
  std::filesystem::path path;
  std::set<std::uint32_t> aborted_subxids;  // subtransactions rolled back: their changes skipped
};

class parallel;
struct added_column;
struct target_table;
struct target_column;
using target_tables = std::unordered_map<std::string, target_table>;

}  // namespace detail

/// Applies one pgoutput stream to a PostgreSQL target under a replication origin. Every member
/// must be called from the target connection's executor, one call at a time. Not copyable.
class applier {
 public:
  /// Sets up the origin on `target` (pg_replication_origin_create if missing, then
  /// pg_replication_origin_session_setup, retried for a few seconds while a previous session
  /// still holds it) and session_replication_role = replica, synchronous_commit = on (what
  /// committed_lsn() reports must be durable before the slot is told). The applier owns
  /// `target` (and, with o.workers > 1, the connections o.connect makes; their coroutines run
  /// on target's executor and end once the applier is destroyed). Throws postgres::error or
  /// std::runtime_error.
  static boost::asio::awaitable<applier> open(connectors::postgres::connection target,
                                              apply_options o);

  applier(applier&&) noexcept = default;
  applier& operator=(applier&&) noexcept = default;
  applier(const applier&) = delete;
  applier& operator=(const applier&) = delete;
  /// Uncommitted work is abandoned (the target rolls it back when the connection closes);
  /// spool files are removed.
  ~applier();

  /// The origin's progress when open() ran (the highest of `origin` and `origin_<k>`, whichever
  /// worker count wrote them): everything up to here is applied. Stream from it.
  lsn origin_lsn() const { return origin_lsn_; }
  /// Feeds one pgoutput payload (replication_connection::next()), proto 1 or 2. Transactions
  /// whose commit end_lsn <= origin_lsn() are skipped. Applies in commit order; may commit a
  /// group. Throws std::runtime_error (bad input, a relation the target cannot take, a failed
  /// statement: the open target transaction is rolled back and the applier is unusable).
  boost::asio::awaitable<void> feed(std::span<const std::byte> payload);
  /// As feed(payload), for a message decoded already (from `payload`, which a streamed
  /// transaction's spool takes as it is). One applier is fed one way: a decoder tracks stream
  /// blocks for feed(payload).
  boost::asio::awaitable<void> feed(const codecs::pgoutput::message& m,
                                    std::span<const std::byte> payload);
  /// As feed(payload) when the message needs no I/O (most of a stream: a change that goes into
  /// the group's net or multiset, a Begin, a Commit that does not commit the group), without a
  /// coroutine per message; false: nothing was done, feed(payload) it.
  bool try_feed(std::span<const std::byte> payload);
  /// As try_feed, for a message decoded already (feed(m, payload) it on false).
  bool try_feed(const codecs::pgoutput::message& m);
  /// Commits whatever is grouped but not yet committed.
  boost::asio::awaitable<void> flush();
  /// The end LSN of the last source transaction committed on the target (with the origin
  /// progress in the same target transaction): confirm this to the slot.
  lsn committed_lsn() const;
  /// The oldest sentinel logical message not taken yet: content and LSN. Transactional ones are
  /// reported once their transaction was fed to its commit.
  std::optional<std::pair<std::string, lsn>> take_sentinel();
  apply_stats stats() const;
  /// The server process ids of the applier's target sessions (to cancel what they run).
  std::vector<int> backend_pids() const;
  /// No source transaction open (or in a stream block) and nothing grouped but uncommitted.
  /// Streamed transactions spooled and waiting for their commit do not count.
  bool idle() const;

 private:
  applier() = default;
  friend class detail::parallel;

  using message = codecs::pgoutput::message;
  boost::asio::awaitable<void> handle(const message& m, bool replay);
  boost::asio::awaitable<void> on_relation(const codecs::pgoutput::relation_message& r);
  boost::asio::awaitable<void> on_insert(const codecs::pgoutput::insert_message& m);
  boost::asio::awaitable<void> on_update(const codecs::pgoutput::update_message& m);
  boost::asio::awaitable<void> on_delete(const codecs::pgoutput::delete_message& m);
  boost::asio::awaitable<void> on_truncate(const codecs::pgoutput::truncate_message& m);
  boost::asio::awaitable<void> end_transaction(lsn end_lsn, std::int64_t commit_time);
  void begin_transaction(const codecs::pgoutput::begin_message& b);
  /// A transaction's end in the group's bookkeeping; false when it was applied before.
  bool note_end(lsn end_lsn, std::int64_t commit_time);
  /// The group must commit once the transaction that ends now is in it.
  bool commit_due() const;
  /// try_feed's change: false when it needs the awaited path (nothing was changed then).
  bool change_now(const codecs::pgoutput::message& m);
  boost::asio::awaitable<void> replay_spool(std::uint32_t xid, lsn end_lsn,
                                            std::int64_t commit_time);

  void touch_group();
  /// touch_group, and the group's BEGIN queued unless it was.
  void begin_group();
  /// The group's counters back to none (after its COMMIT or ROLLBACK).
  void clear_group();
  /// Appends `s` (`rows` rows) to the batch; `counted`: the rows are source changes not counted
  /// in the group yet (net statements were counted as their changes came in).
  boost::asio::awaitable<void> add(connectors::postgres::statement s, std::size_t rows,
                                   bool counted);
  /// One row's UPDATE or DELETE as the prepared statement `key` (`sql` is empty when it is
  /// prepared already), added to the batch.
  boost::asio::awaitable<void> add_change(std::string key, std::string sql, std::string table,
                                          connectors::postgres::params p);
  boost::asio::awaitable<void> emit_inserts();
  boost::asio::awaitable<void> emit_insert_run(detail::insert_run run);
  /// A long run of a table that has no rule nor replica trigger, as one COPY in the group's
  /// target transaction (the batch goes out first): the target inserts it in multi-row pages.
  boost::asio::awaitable<void> copy_insert_run(const detail::insert_run& run);
  detail::insert_run new_insert_run(std::uint32_t oid) const;

  // cdc/apply_net.cpp: a coalesced table's changes, kept as net effects until the group commits
  // (or a change that cannot be merged makes them go out first).
  /// The group's changes to `rel` may be reduced to their net effect (`target`: what the target
  /// says of the table).
  bool coalescible(const detail::relation_info& rel, const detail::target_table& target) const;
  /// What a change to a coalesced or set-based table did without I/O: taken; or nothing was
  /// changed and the table's net (multiset) must go out first, then try again; or it goes out as
  /// a statement after them (a key change, a value that was not sent).
  enum class step : std::uint8_t { done, flush_first, statement };
  step net_insert_now(const codecs::pgoutput::insert_message& m);
  step net_update_now(const codecs::pgoutput::update_message& m);
  step net_delete_now(const codecs::pgoutput::delete_message& m);
  boost::asio::awaitable<void> net_insert(const codecs::pgoutput::insert_message& m);
  /// false: the update changes the key; it goes out as one statement after the table's net.
  boost::asio::awaitable<bool> net_update(const codecs::pgoutput::update_message& m);
  boost::asio::awaitable<void> net_delete(const codecs::pgoutput::delete_message& m);
  boost::asio::awaitable<void> flush_net(std::uint32_t oid);
  detail::net_table& net_table_for(std::uint32_t oid);
  void add_net_entry(detail::net_table& table, std::string_view key, detail::net_entry row);
  boost::asio::awaitable<void> flush_all_net();
  /// The rows `rows` of `t` as multi-row statements: a DELETE (`shape` empty) or an UPDATE of the
  /// columns `shape` marks '1'.
  boost::asio::awaitable<void> emit_net_keyed(std::uint32_t oid, const std::string& shape,
                                              const detail::net_table& t,
                                              const std::vector<std::size_t>& rows);
  // cdc/apply_full.cpp: REPLICA IDENTITY FULL tables without an index, set-based.
  void classify_full(detail::relation_info& rel, const detail::target_table& target);
  /// One change as rows removed (`old`, may be empty) and added (`added`, may be empty); false
  /// when it cannot be taken (a value it needs was not sent): apply it as a statement.
  boost::asio::awaitable<bool> full_change(std::uint32_t oid,
                                           std::span<const codecs::pgoutput::column_value> old,
                                           std::span<const codecs::pgoutput::column_value> added);
  step full_change_now(std::uint32_t oid, std::span<const codecs::pgoutput::column_value> old,
                       std::span<const codecs::pgoutput::column_value> added);
  boost::asio::awaitable<void> flush_full(std::uint32_t oid);
  boost::asio::awaitable<void> flush_all_full();
  boost::asio::awaitable<void> send_batch();
  boost::asio::awaitable<void> commit_group();
  /// Sends everything grouped (nets, multisets, runs, the batch) without committing.
  boost::asio::awaitable<void> send_pending();
  /// Rolls back the open target transaction: nothing grouped is applied. The source
  /// transaction being fed ends with it.
  boost::asio::awaitable<void> discard();
  /// The prepared statement's name for `key`, preparing `sql` on first use.
  boost::asio::awaitable<std::string> prepared(std::string key, std::string sql, std::string table);

  // cdc/apply_schema.cpp: a relation's definition changed on the source.
  /// Throws schema_change_error when a column of `known` is gone from `now`, or has another type,
  /// and the target (its columns `target`) still has it as it was.
  boost::asio::awaitable<void> check_schema_change(
      const detail::relation_info& known, const detail::relation_info& now,
      const std::vector<detail::target_column>& target);
  /// Adds the columns of `now` (`missing`: their indexes) to the target table, in the group's
  /// target transaction when one is open, else in one of their own.
  boost::asio::awaitable<void> add_columns(std::uint32_t oid, const detail::relation_info& now,
                                           const std::vector<std::size_t>& missing);
  /// One column of add_columns(), in the target's open transaction; its values copied from
  /// `src` when the source gave its rows one each.
  boost::asio::awaitable<void> add_column(connectors::postgres::connection& src,
                                          const detail::relation_info& now,
                                          const detail::added_column& c);
  /// schema_change_error::at() for a change met now.
  lsn stop_at() const;
  /// apply_options::stop_before: a transaction committing at `commit` is not applied when it is
  /// at or after the stop (what precedes it is committed, then schema_change_error is thrown).
  boost::asio::awaitable<void> stop_if_due(lsn commit);

  const detail::relation_info& relation(std::uint32_t oid) const;
  void spool_write(std::span<const std::byte> payload);
  void remove_spool(std::uint32_t xid);

  connectors::postgres::connection conn_;
  apply_options opts_;
  codecs::pgoutput::decoder decoder_{2};
  codecs::pgoutput::decode_buffers replay_buffers_;
  lsn origin_lsn_ = 0;
  lsn committed_lsn_ = 0;
  lsn seen_end_ = 0;  // end LSN of the last transaction fed (applied, skipped or grouped)
  apply_stats stats_;

  std::unordered_map<std::uint32_t, detail::relation_info> relations_;
  std::unordered_map<std::string, std::string> statements_;        // shape key -> prepared name
  std::unordered_map<std::string, std::string> statement_tables_;  // name -> table, for errors
  std::uint32_t next_generation_ = 1;
  std::string key_scratch_;  // a change's encoded key, reused change to change

  // The source transaction being fed (Begin .. Commit, or a spool being replayed).
  bool in_txn_ = false;
  bool txn_skip_lsn_ = false;     // already applied
  bool txn_skip_origin_ = false;  // carries our origin
  std::int64_t txn_time_ = 0;     // its commit time (Begin carries it)
  lsn txn_commit_ = 0;            // its commit LSN (Begin's final LSN)
  std::vector<std::pair<std::string, lsn>> txn_sentinels_;
  std::set<std::uint32_t> replay_aborted_;  // while a spool is replayed

  // The group: whole source transactions in one target transaction.
  bool group_active_ = false;  // something was fed since the last group commit
  bool group_begun_ = false;   // BEGIN is in batch_ or on the server
  std::size_t group_txns_ = 0;
  std::size_t group_statements_ = 0;
  std::uint64_t group_changes_ = 0;
  std::uint64_t group_writes_ = 0;
  lsn group_end_ = 0;
  std::int64_t group_commit_time_ = 0;
  std::int64_t group_first_time_ = 0;  // commit time of the group's first transaction
  std::chrono::steady_clock::time_point group_started_;
  std::vector<connectors::postgres::statement> batch_;
  std::size_t batch_rows_ = 0;
  detail::insert_run run_;
  std::unique_ptr<io::buffer_pool> copy_pool_;  // copy_insert_run's buffers
  std::string copy_text_;                       // its rows as COPY text, a piece at a time
  std::unordered_map<std::uint32_t, detail::net_table> net_;
  std::vector<std::uint32_t> net_order_;  // tables with net entries, first change first
  detail::net_table net_spare_;           // a flushed table's memory, for the next one
  std::unordered_map<std::uint32_t, detail::full_table> full_;
  std::size_t group_full_scans_ = 0;  // statements on full_scan tables in the group

  // Streamed transactions.
  std::map<std::uint32_t, detail::spool_state> spools_;
  bool in_stream_ = false;  // between Stream Start and Stream Stop
  std::ofstream spool_out_;
  std::uint32_t spool_xid_ = 0;

  std::deque<std::pair<std::string, lsn>> sentinels_;

  // workers > 1: the dispatcher (this applier then only delegates to it).
  std::shared_ptr<detail::parallel> par_;
  // Set on a parallel worker: awaited once the group's DML is sent and before its COMMIT (its
  // turn in commit order), called once the COMMIT succeeded.
  std::function<boost::asio::awaitable<void>()> before_commit_;
  std::function<void()> after_commit_;
  /// What the dispatcher learned of target tables (detail::parallel owns it and outlives the
  /// worker), or own_tables_. A relation seen for the first time takes it from there when it has
  /// each of the relation's columns (else the target is asked).
  const detail::target_tables* shared_tables_ = nullptr;
  /// One worker: what open() asked the target (apply_options::prefetch_tables); shared_tables_
  /// points at it.
  std::shared_ptr<const detail::target_tables> own_tables_;
};

}  // namespace uringmig::engine::cdc
