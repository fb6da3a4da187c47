// The applier's stream side: transactions, groups, pipelined batches, the origin, spools.
// The SQL of each change is in cdc/apply_dml.cpp.
#include "engine/cdc/apply.hpp"

#include "engine/cdc/apply_parallel.hpp"
#include "engine/cdc/apply_sql.hpp"
#include "engine/core/observe/hub.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>
#include <system_error>

namespace uringmig::engine::cdc {

namespace pg = connectors::postgres;
namespace pgo = codecs::pgoutput;
namespace asio = boost::asio;
using detail::fail;

namespace {
constexpr std::size_t max_full_scans = 256;  // per group, see end_transaction
}  // namespace

asio::awaitable<applier> applier::open(pg::connection target, apply_options o) {
  if (o.origin.empty()) throw std::invalid_argument("cdc apply: no replication origin name");
  if (o.max_batch_statements == 0) o.max_batch_statements = 1;
  if (o.max_group_changes == 0) o.max_group_changes = 1;
  if (o.workers > 1) co_return co_await detail::parallel::open(std::move(target), std::move(o));
  applier a;
  a.conn_ = std::move(target);
  a.opts_ = std::move(o);
  if (a.opts_.spool_dir.empty()) {
    a.opts_.spool_dir = std::filesystem::temp_directory_path() / "uringmig-spool";
  }
  std::filesystem::create_directories(a.opts_.spool_dir);
  // Spools a crashed run left: the slot streams those transactions again from their start.
  const std::string mine = a.opts_.origin + "_";
  for (const auto& f : std::filesystem::directory_iterator(a.opts_.spool_dir)) {
    const std::string name = f.path().filename().string();
    if (name.size() > mine.size() + 6 && name.compare(0, mine.size(), mine) == 0 &&
        name.ends_with(".spool") &&
        name.find_first_not_of("0123456789", mine.size()) == name.size() - 6) {
      std::error_code ec;
      std::filesystem::remove(f.path(), ec);
    }
  }

  // enable_seqscan off: updates and deletes find their row through the key's index, as
  // PostgreSQL's own apply does. The plans of small, heavily updated tables otherwise stay
  // sequential scans over ever more dead rows (measured: most of the target's time).
  // jit off: the disabled scan's cost puts a statement that must scan (a REPLICA IDENTITY FULL
  // table without an index) far above jit_above_cost, and compiling it took ~300 ms per
  // statement — for a statement that reads a few pages.
  // plan_cache_mode force_generic_plan: a prepared statement is planned once, not at each of its
  // first five executions (most statements of a table with few changes per group never get past
  // five: a multi-row statement per table and row count). Their rows come from VALUES: the
  // parameters' values would not change the plan.
  pg::result r = co_await a.conn_.simple(
      "SET session_replication_role = replica; SET synchronous_commit = on; "
      "SET enable_seqscan = off; SET jit = off; SET plan_cache_mode = force_generic_plan");
  r.check("target: SET session_replication_role = replica, synchronous_commit = on");
  r = co_await a.conn_.query(
      "SELECT pg_replication_origin_create($1) WHERE NOT EXISTS "
      "(SELECT 1 FROM pg_replication_origin WHERE roname = $1)",
      pg::make_params(a.opts_.origin));
  r.check("target: pg_replication_origin_create");
  // A previous applier's session may still hold the origin while its connection closes.
  for (int attempt = 0;; ++attempt) {
    r = co_await a.conn_.query("SELECT pg_replication_origin_session_setup($1)",
                               pg::make_params(a.opts_.origin));
    if (r.ok()) break;
    if (r.error().sqlstate != "55006" || attempt >= 100) {
      r.check("target: pg_replication_origin_session_setup");
    }
    asio::steady_timer t(a.conn_.executor(), std::chrono::milliseconds(100));
    co_await t.async_wait(asio::use_awaitable);
  }
  if (a.opts_.prefetch_tables) {
    auto tables = std::make_shared<const detail::target_tables>(
        co_await detail::fetch_target_tables(a.conn_));
    a.shared_tables_ = tables.get();
    a.own_tables_ = std::move(tables);
  }
  a.origin_lsn_ = co_await detail::origin_progress(a.conn_, a.opts_.origin);
  a.committed_lsn_ = a.origin_lsn_;
  a.seen_end_ = a.origin_lsn_;
  co_return a;
}

asio::awaitable<lsn> detail::origin_progress(pg::connection& c, const std::string& origin) {
  // A run with another worker count wrote `origin` or `origin_<k>`: commits are in source order
  // in both modes, so the highest progress is the resume point.
  pg::result r = co_await c.query(
      "SELECT max(pg_replication_origin_progress(roname, true)) FROM pg_replication_origin "
      "WHERE roname = $1 OR (left(roname, length($1) + 1) = $1 || '_' "
      "AND substr(roname, length($1) + 2) ~ '^[0-9]+$')",
      pg::make_params(origin));
  r.check("target: pg_replication_origin_progress");
  if (r.rows() != 1 || r.is_null(0, 0)) co_return 0;
  auto l = pgo::parse_lsn(r.value(0, 0));
  if (!l) fail("cannot read the origin's progress '" + std::string(r.value(0, 0)) + "'");
  co_return *l;
}

applier::~applier() {
  if (par_) par_->stop();
  if (spool_out_.is_open()) spool_out_.close();
  for (auto& [xid, s] : spools_) {
    std::error_code ec;
    std::filesystem::remove(s.path, ec);
  }
}

lsn applier::committed_lsn() const {
  return par_ ? par_->committed_lsn() : committed_lsn_;
}

std::optional<std::pair<std::string, lsn>> applier::take_sentinel() {
  if (par_) return par_->take_sentinel();
  if (sentinels_.empty()) return std::nullopt;
  auto s = std::move(sentinels_.front());
  sentinels_.pop_front();
  return s;
}

apply_stats applier::stats() const {
  if (par_) return par_->stats();
  apply_stats s = stats_;
  s.committed = committed_lsn_;
  s.queued_txns = group_txns_ + (in_txn_ ? 1 : 0) + spools_.size();
  s.pending_time = group_txns_ != 0 ? group_first_time_ : (in_txn_ ? txn_time_ : 0);
  return s;
}

std::vector<int> applier::backend_pids() const {
  if (par_) return par_->backend_pids();
  return {conn_.backend_pid()};
}

bool applier::idle() const {
  if (par_) return par_->idle();
  return !in_txn_ && !in_stream_ && group_txns_ == 0 && !group_active_;
}

// ---------------------------------------------------------------- the stream

asio::awaitable<void> applier::feed(std::span<const std::byte> payload) {
  if (par_) {
    co_await par_->feed(payload);
    co_return;
  }
  auto decoded = decoder_.decode(payload);
  if (!decoded) fail(decoded.error().to_string());
  co_await feed(*decoded, payload);
}

asio::awaitable<void> applier::feed(const message& m, std::span<const std::byte> payload) {
  if (const auto* s = std::get_if<pgo::stream_start_message>(&m)) {
    if (spool_out_.is_open()) spool_out_.close();
    auto& st = spools_[s->xid];
    if (st.path.empty()) {
      st.path = opts_.spool_dir / (opts_.origin + "_" + std::to_string(s->xid) + ".spool");
    }
    if (s->first_segment) st.aborted_subxids.clear();
    spool_out_.open(st.path,
                    std::ios::binary | (s->first_segment ? std::ios::trunc : std::ios::app));
    if (!spool_out_) fail("cannot open spool file " + st.path.string());
    spool_xid_ = s->xid;
    in_stream_ = true;
    co_return;
  }
  if (std::holds_alternative<pgo::stream_stop_message>(m)) {
    in_stream_ = false;
    spool_out_.close();
    if (spool_out_.fail()) fail("cannot write spool file for xid " + std::to_string(spool_xid_));
    co_return;
  }
  if (in_stream_) {
    spool_write(payload);
    co_return;
  }
  if (const auto* c = std::get_if<pgo::stream_commit_message>(&m)) {
    co_await stop_if_due(c->commit_lsn);
    txn_commit_ = c->commit_lsn;
    co_await replay_spool(c->xid, c->end_lsn, c->commit_time);
    co_return;
  }
  if (const auto* ab = std::get_if<pgo::stream_abort_message>(&m)) {
    if (ab->subxid == ab->xid) {
      remove_spool(ab->xid);
    } else {
      auto it = spools_.find(ab->xid);
      if (it != spools_.end()) it->second.aborted_subxids.insert(ab->subxid);
    }
    co_return;
  }
  co_await handle(m, false);
}

asio::awaitable<void> applier::flush() {
  if (par_) {
    co_await par_->flush();
    co_return;
  }
  // A source transaction is never split: one still open stays in the group.
  if (in_txn_) co_return;
  co_await commit_group();
}

asio::awaitable<void> applier::handle(const message& m, bool replay) {
  if (const auto* b = std::get_if<pgo::begin_message>(&m)) {
    if (in_txn_) fail("Begin inside a transaction");
    co_await stop_if_due(b->final_lsn);
    begin_transaction(*b);
    co_return;
  }
  if (const auto* c = std::get_if<pgo::commit_message>(&m)) {
    if (!in_txn_) fail("Commit outside a transaction");
    co_await end_transaction(c->end_lsn, c->commit_time);
    co_return;
  }
  if (const auto* o = std::get_if<pgo::origin_message>(&m)) {
    if (in_txn_ && !opts_.skip_origin_prefix.empty() &&
        o->name.substr(0, opts_.skip_origin_prefix.size()) == opts_.skip_origin_prefix) {
      txn_skip_origin_ = true;
    }
    co_return;
  }
  if (const auto* r = std::get_if<pgo::relation_message>(&m)) {
    // Even in skipped transactions: later ones rely on the cache.
    co_await on_relation(*r);
    co_return;
  }
  if (std::holds_alternative<pgo::type_message>(m)) co_return;
  if (const auto* l = std::get_if<pgo::logical_message>(&m)) {
    if (opts_.sentinel_prefix.empty() ||
        l->prefix.substr(0, opts_.sentinel_prefix.size()) != opts_.sentinel_prefix) {
      co_return;
    }
    if (replay && l->xid && replay_aborted_.count(*l->xid) != 0) co_return;
    std::pair<std::string, lsn> s(std::string(l->content), l->message_lsn);
    if (l->transactional() && in_txn_) {
      txn_sentinels_.push_back(std::move(s));
    } else {
      sentinels_.push_back(std::move(s));
    }
    co_return;
  }

  // DML.
  std::optional<std::uint32_t> xid;
  if (const auto* i = std::get_if<pgo::insert_message>(&m)) xid = i->xid;
  if (const auto* u = std::get_if<pgo::update_message>(&m)) xid = u->xid;
  if (const auto* d = std::get_if<pgo::delete_message>(&m)) xid = d->xid;
  if (const auto* t = std::get_if<pgo::truncate_message>(&m)) xid = t->xid;
  if (!in_txn_) fail("a change outside a transaction");
  if (txn_skip_lsn_ || txn_skip_origin_) co_return;
  if (replay && xid && replay_aborted_.count(*xid) != 0) co_return;
  if (const auto* i = std::get_if<pgo::insert_message>(&m)) co_await on_insert(*i);
  if (const auto* u = std::get_if<pgo::update_message>(&m)) co_await on_update(*u);
  if (const auto* d = std::get_if<pgo::delete_message>(&m)) co_await on_delete(*d);
  if (const auto* t = std::get_if<pgo::truncate_message>(&m)) co_await on_truncate(*t);
}

void applier::begin_transaction(const pgo::begin_message& b) {
  in_txn_ = true;
  txn_commit_ = b.final_lsn;
  // The commit record of a transaction that ends after seen_end_ starts at or after it.
  txn_skip_lsn_ = b.final_lsn < seen_end_;
  txn_skip_origin_ = false;
  txn_time_ = b.commit_time;
  txn_sentinels_.clear();
}

bool applier::note_end(lsn end_lsn, std::int64_t commit_time) {
  in_txn_ = false;
  for (auto& s : txn_sentinels_)
    sentinels_.push_back(std::move(s));
  txn_sentinels_.clear();
  if (txn_skip_lsn_ || end_lsn <= seen_end_) return false;  // applied before
  seen_end_ = end_lsn;
  if (txn_skip_origin_) {
    ++stats_.skipped_txns;
  } else {
    ++stats_.txns;
  }
  // Skipped and empty transactions join the group too: their end is progress.
  touch_group();
  if (group_txns_ == 0) group_first_time_ = commit_time;
  ++group_txns_;
  group_end_ = end_lsn;
  group_commit_time_ = commit_time;
  return true;
}

bool applier::commit_due() const {
  // Each statement on a full_scan table reads the whole table, the row versions the group wrote
  // included: a long group would cost the square of its length.
  return group_statements_ >= opts_.max_group_changes || group_full_scans_ >= max_full_scans ||
         (group_active_ &&
          std::chrono::steady_clock::now() - group_started_ >= opts_.max_group_delay);
}

asio::awaitable<void> applier::end_transaction(lsn end_lsn, std::int64_t commit_time) {
  if (note_end(end_lsn, commit_time) && commit_due()) co_await commit_group();
}

// ---------------------------------------------------------------- without I/O

namespace {

// The relation a change message (Insert, Update, Delete outside a stream block) names, read
// before decoding it; 0 when it is not one.
std::uint32_t change_relation(std::span<const std::byte> payload) {
  if (payload.size() < 5) return 0;
  const char type = static_cast<char>(payload[0]);
  if (type != 'I' && type != 'U' && type != 'D') return 0;
  std::uint32_t oid = 0;
  for (std::size_t i = 1; i < 5; ++i)
    oid = (oid << 8) | std::to_integer<std::uint32_t>(payload[i]);
  return oid;
}

}  // namespace

bool applier::try_feed(std::span<const std::byte> payload) {
  if (par_) return par_->try_feed(payload);
  if (payload.empty() || in_stream_ || decoder_.in_stream_block()) return false;
  const char type = static_cast<char>(payload[0]);
  if (type != 'B' && type != 'C') {
    // A change: only those the net or multiset takes (else it is decoded twice).
    const std::uint32_t oid = change_relation(payload);
    if (oid == 0 || !in_txn_) return false;
    const auto it = relations_.find(oid);
    const bool skipped = txn_skip_lsn_ || txn_skip_origin_;
    if (!skipped && (it == relations_.end() || !(it->second.coalesce || it->second.full_set))) {
      return false;
    }
  }
  auto decoded = decoder_.decode(payload);
  if (!decoded) fail(decoded.error().to_string());
  return try_feed(*decoded);
}

bool applier::try_feed(const message& m) {
  if (par_ || in_stream_) return false;
  if (const auto* b = std::get_if<pgo::begin_message>(&m)) {
    if (in_txn_ || (opts_.stop_before != 0 && b->final_lsn >= opts_.stop_before)) return false;
    begin_transaction(*b);
    return true;
  }
  if (const auto* c = std::get_if<pgo::commit_message>(&m)) {
    // Not when the group commits after it (nor with no delay: that is at every commit).
    if (!in_txn_ || opts_.max_group_delay.count() <= 0) return false;
    if (!txn_skip_lsn_ && c->end_lsn > seen_end_ && commit_due()) return false;
    note_end(c->end_lsn, c->commit_time);
    return true;
  }
  if (!in_txn_) return false;
  return change_now(m);
}

bool applier::change_now(const message& m) {
  const bool skipped = txn_skip_lsn_ || txn_skip_origin_;
  if (const auto* i = std::get_if<pgo::insert_message>(&m)) {
    if (skipped) return true;
    const auto it = relations_.find(i->relation_oid);
    if (it == relations_.end() || it->second.columns.size() != i->new_tuple.size()) return false;
    const detail::relation_info& rel = it->second;
    if (rel.coalesce) return net_insert_now(*i) == step::done;
    return rel.full_set && full_change_now(i->relation_oid, {}, i->new_tuple) == step::done;
  }
  if (const auto* u = std::get_if<pgo::update_message>(&m)) {
    if (skipped) return true;
    const auto it = relations_.find(u->relation_oid);
    const bool has_old = u->old_kind != pgo::old_tuple_kind::none;
    if (it == relations_.end() || it->second.columns.size() != u->new_tuple.size() ||
        (has_old && it->second.columns.size() != u->old_tuple.size())) {
      return false;
    }
    const detail::relation_info& rel = it->second;
    if (rel.coalesce) return net_update_now(*u) == step::done;
    return rel.full_set && has_old &&
           full_change_now(u->relation_oid, u->old_tuple, u->new_tuple) == step::done;
  }
  if (const auto* d = std::get_if<pgo::delete_message>(&m)) {
    if (skipped) return true;
    const auto it = relations_.find(d->relation_oid);
    if (it == relations_.end() || it->second.columns.size() != d->old_tuple.size()) return false;
    const detail::relation_info& rel = it->second;
    if (rel.coalesce) return net_delete_now(*d) == step::done;
    return rel.full_set && full_change_now(d->relation_oid, d->old_tuple, {}) == step::done;
  }
  return false;
}

// ---------------------------------------------------------------- streamed transactions

void applier::spool_write(std::span<const std::byte> payload) {
  if (!spool_out_.is_open()) fail("a streamed change outside a stream block");
  const auto len = static_cast<std::uint32_t>(payload.size());
  spool_out_.write(reinterpret_cast<const char*>(&len), sizeof len);
  spool_out_.write(reinterpret_cast<const char*>(payload.data()),
                   static_cast<std::streamsize>(payload.size()));
  if (!spool_out_) fail("cannot write spool file for xid " + std::to_string(spool_xid_));
}

void applier::remove_spool(std::uint32_t xid) {
  if (spool_out_.is_open() && spool_xid_ == xid) spool_out_.close();
  auto it = spools_.find(xid);
  if (it == spools_.end()) return;
  std::error_code ec;
  std::filesystem::remove(it->second.path, ec);
  spools_.erase(it);
}

asio::awaitable<void> applier::replay_spool(std::uint32_t xid, lsn end_lsn,
                                            std::int64_t commit_time) {
  if (in_txn_) fail("Stream Commit inside a transaction");
  if (spool_out_.is_open() && spool_xid_ == xid) spool_out_.close();
  auto it = spools_.find(xid);
  in_txn_ = true;
  txn_skip_lsn_ = end_lsn <= seen_end_;
  txn_skip_origin_ = false;
  txn_time_ = commit_time;
  txn_sentinels_.clear();
  if (it != spools_.end() && !txn_skip_lsn_) {
    replay_aborted_ = std::move(it->second.aborted_subxids);
    std::ifstream in(it->second.path, std::ios::binary);
    if (!in) fail("cannot open spool file " + it->second.path.string());
    std::vector<std::byte> buf;
    for (;;) {
      std::uint32_t len = 0;
      if (!in.read(reinterpret_cast<char*>(&len), sizeof len)) break;
      buf.resize(len);
      if (!in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(len))) {
        fail("spool file " + it->second.path.string() + " is truncated");
      }
      auto decoded = pgo::decode_message(buf, true, replay_buffers_);
      if (!decoded)
        fail("spool of xid " + std::to_string(xid) + ": " + decoded.error().to_string());
      co_await handle(*decoded, true);
    }
    replay_aborted_.clear();
  }
  remove_spool(xid);
  co_await end_transaction(end_lsn, commit_time);
}

// ---------------------------------------------------------------- groups and batches

void applier::touch_group() {
  if (group_active_) return;
  group_active_ = true;
  group_started_ = std::chrono::steady_clock::now();
}

void applier::begin_group() {
  touch_group();
  if (group_begun_) return;
  pg::statement begin;
  begin.sql = "BEGIN";
  batch_.push_back(std::move(begin));
  group_begun_ = true;
}

void applier::clear_group() {
  group_active_ = false;
  group_begun_ = false;
  group_txns_ = 0;
  group_statements_ = 0;
  group_changes_ = 0;
  group_writes_ = 0;
  group_full_scans_ = 0;
}

asio::awaitable<void> applier::add(pg::statement s, std::size_t rows, bool counted) {
  begin_group();
  batch_.push_back(std::move(s));
  batch_rows_ += rows;
  group_writes_ += rows;
  if (!counted) group_statements_ += rows;
  if (batch_rows_ >= opts_.max_batch_statements) co_await send_batch();
}

asio::awaitable<void> applier::send_batch() {
  if (batch_.empty()) co_return;
  std::vector<std::string> names;
  names.reserve(batch_.size());
  for (const auto& s : batch_)
    names.push_back(s.sql);
  std::vector<pg::statement> batch = std::move(batch_);
  batch_.clear();
  batch_rows_ = 0;
  std::vector<pg::result> results = co_await conn_.pipeline(std::move(batch));
  std::string error;
  pg::diagnostics diag;
  for (std::size_t i = 0; i < results.size() && error.empty(); ++i) {
    if (results[i].ok() || results[i].aborted()) continue;
    auto t = statement_tables_.find(names[i]);
    diag = results[i].error();
    error = (t != statement_tables_.end() ? "table " + t->second : "'" + names[i] + "'") + ": " +
            diag.to_string();
  }
  if (error.empty() && results.size() != names.size()) fail("target: a pipeline lost results");
  if (!error.empty()) {
    pg::result r = co_await conn_.query("ROLLBACK");
    throw apply_error("cdc apply: target: " + error, std::move(diag));
  }
}

asio::awaitable<void> applier::send_pending() {
  co_await flush_all_net();
  co_await flush_all_full();
  co_await emit_inserts();
  co_await send_batch();
}

asio::awaitable<void> applier::discard() {
  run_ = detail::insert_run{};
  net_.clear();
  net_order_.clear();
  full_.clear();
  // The batch may prepare statements (remembered as prepared): it goes out, then rolls back.
  co_await send_batch();
  if (group_begun_) {
    pg::result r = co_await conn_.query("ROLLBACK");
    r.check("target: ROLLBACK");
  }
  in_txn_ = false;
  clear_group();
}

asio::awaitable<void> applier::commit_group() {
  if (in_txn_ || group_txns_ == 0) co_return;
  co_await flush_all_net();
  co_await flush_all_full();
  co_await emit_inserts();
  if (before_commit_) {
    // A parallel worker: the DML runs while earlier transactions commit; COMMIT waits its turn.
    co_await send_batch();
    co_await before_commit_();
  }
  begin_group();
  if (group_changes_ == 0) {
    // Only skipped or empty transactions: an xid makes the commit record carry the progress.
    pg::statement xid;
    xid.sql = "SELECT pg_current_xact_id()";
    batch_.push_back(std::move(xid));
  }
  pg::statement setup;
  setup.sql =
      "SELECT pg_replication_origin_xact_setup($1::pg_lsn, "
      "'2000-01-01 00:00:00+00'::timestamptz + $2::bigint * interval '1 microsecond')";
  setup.params = pg::make_params(pgo::format_lsn(group_end_), std::to_string(group_commit_time_));
  batch_.push_back(std::move(setup));
  pg::statement commit;
  commit.sql = "COMMIT";
  batch_.push_back(std::move(commit));
  co_await send_batch();

  committed_lsn_ = group_end_;
  stats_.committed_time = group_commit_time_;
  ++stats_.groups;
  observe::the_hub().target_txn_finished(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - group_started_).count());
  stats_.changes += group_changes_;
  stats_.rows_written += group_writes_;
  clear_group();
  if (after_commit_) after_commit_();
}

}  // namespace uringmig::engine::cdc
