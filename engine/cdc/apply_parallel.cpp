// The parallel applier: a dispatcher that decodes pgoutput once and hands whole source
// transactions, decoded, in pooled batches (codecs/pgoutput_batch.hpp) to worker appliers (lanes,
// cdc/apply.cpp), one target connection and replication origin each. What goes where and when a
// lane may commit is decided by apply_order (cdc/apply_order.cpp); this file does it.
// The invariants are stated in cdc/apply_parallel.hpp.
#include "engine/cdc/apply_parallel.hpp"

#include "codecs/sql_text.hpp"
#include "engine/cdc/apply_sql.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <string_view>

namespace uringmig::engine::cdc::detail {

namespace pg = connectors::postgres;
namespace pgo = codecs::pgoutput;
namespace asio = boost::asio;
using detail::fail;

namespace {

// What the batch pool keeps: up to this many bytes of batches (the queues hold up to
// 2 x workers x chunk_limit messages); a batch that grew past a quarter of it is freed instead.
constexpr std::size_t max_pooled_bytes = 64 << 20;
// Messages per raw item (stream blocks, a large transaction's changes).
constexpr std::size_t max_raw_item = 1024;

bool is_sentinel(const apply_options& o, std::string_view prefix) {
  return !o.sentinel_prefix.empty() &&
         prefix.substr(0, o.sentinel_prefix.size()) == o.sentinel_prefix;
}

}  // namespace

asio::awaitable<applier> parallel::open(pg::connection target, apply_options o) {
  if (!o.connect) throw std::invalid_argument("cdc apply: workers > 1 needs a connect function");
  auto ex = target.executor();
  auto par = std::make_shared<parallel>();
  par->opts_ = o;
  std::vector<pg::connection> conns;
  conns.push_back(std::move(target));
  for (std::size_t k = 1; k < o.workers; ++k)
    conns.push_back(co_await o.connect());
  par->catalog_.emplace(co_await o.connect());
  // Every table at once: a Relation message naming one first needs no round trip.
  if (o.prefetch_tables) par->tables_ = co_await fetch_target_tables(*par->catalog_);
  // The job's own name exists too (no progress of its own): what drops the job's origins finds
  // it, as with one worker.
  pg::result r = co_await conns[0].query(
      "SELECT pg_replication_origin_create($1) WHERE NOT EXISTS "
      "(SELECT 1 FROM pg_replication_origin WHERE roname = $1)",
      pg::make_params(o.origin));
  r.check("target: pg_replication_origin_create");
  for (std::size_t k = 0; k < o.workers; ++k) {
    apply_options so = o;
    so.workers = 1;
    so.connect = nullptr;
    so.origin = o.origin + "_" + std::to_string(k);
    so.sentinel_prefix.clear();  // reported by the dispatcher
    so.stop_before = 0;          // the dispatcher stops there
    so.prefetch_tables = false;  // the dispatcher's answers are theirs
    worker_state w;
    w.sub.emplace(co_await applier::open(std::move(conns[k]), std::move(so)));
    par->workers_.push_back(std::move(w));
  }
  par->origin_lsn_ = co_await origin_progress(par->workers_[0].sub->conn_, o.origin);
  par->order_.emplace(o.workers, chunk_limit(o));
  par->order_->set_committed_lsn(par->origin_lsn_);
  parallel* p = par.get();
  for (std::size_t k = 0; k < o.workers; ++k) {
    applier& sub = *par->workers_[k].sub;
    // Everything up to the highest origin is in, whichever worker committed it.
    sub.seen_end_ = std::max(sub.seen_end_, par->origin_lsn_);
    sub.committed_lsn_ = std::max(sub.committed_lsn_, par->origin_lsn_);
    sub.before_commit_ = [p, k]() { return p->wait_turn(k); };
    sub.after_commit_ = [p, k]() { p->committed(k); };
    sub.shared_tables_ = &p->tables_;
  }
  applier a;
  a.opts_ = std::move(o);
  a.origin_lsn_ = par->origin_lsn_;
  a.committed_lsn_ = par->origin_lsn_;
  a.seen_end_ = par->origin_lsn_;
  a.par_ = par;
  for (std::size_t k = 0; k < par->workers_.size(); ++k)
    asio::co_spawn(ex, run_worker(par, k), asio::detached);
  asio::co_spawn(ex, run_live(par), asio::detached);
  co_return a;
}

// ---------------------------------------------------------------- workers

asio::awaitable<void> parallel::run_worker(std::shared_ptr<parallel> self, std::size_t k) {
  worker_state& w = self->workers_[k];
  apply_order& order = *self->order_;
  try {
    while (!self->stopping_ && !self->error_) {
      if (!w.queue.empty()) {
        const std::uint64_t seq = w.queue.front().seq;
        if (order.must_commit_before(k, seq)) {
          // Not the next in commit order: the group ends here.
          co_await self->flush_worker(k);
          continue;
        }
        work_item item = std::move(w.queue.front());
        w.queue.pop_front();
        self->queued_ -= item.batch->size();
        order.took(k, seq);
        self->notify();
        for (const auto& e : item.batch->entries()) {
          if (!w.sub->try_feed(e.m)) co_await w.sub->feed(e.m, e.payload);
        }
        self->release(std::move(item.batch));
        continue;
      }
      // The next transaction went to another worker, or the dispatcher waits for commits.
      if (order.should_commit(k, self->waiting_ > 0)) {
        co_await self->flush_worker(k);
        continue;
      }
      co_await self->wait_change();
    }
  } catch (...) {
    if (!self->stopping_ && !self->error_) self->error_ = std::current_exception();
  }
  self->notify();
}

asio::awaitable<void> parallel::flush_worker(std::size_t k) {
  worker_state& w = workers_[k];
  co_await w.sub->flush();
  if (order_->pending(k)) {
    // The worker skipped them all (applied before): nothing to commit, but their turn passes.
    co_await wait_turn(k);
    committed(k);
  }
}

asio::awaitable<void> parallel::wait_change() {
  co_await io::park([this](io::wake_handler& h) {
    waiters_.push(std::move(h));
    return true;
  });
}

void parallel::check() const {
  if (error_) std::rethrow_exception(error_);
  if (stopping_) fail("stopped");
}

asio::awaitable<void> parallel::wait_turn(std::size_t k) {
  while (!stopping_ && !error_ && !order_->turn(k))
    co_await wait_change();
  check();
}

void parallel::committed(std::size_t k) {
  order_->committed(k);
  notify();
}

void parallel::stop() {
  stopping_ = true;
  notify();
}

parallel::batch_ptr parallel::acquire() {
  if (pool_.empty()) return std::make_unique<pgo::message_batch>();
  batch_ptr b = std::move(pool_.back());
  pool_.pop_back();
  pooled_bytes_ -= b->footprint();
  return b;
}

void parallel::release(batch_ptr b) {
  if (!b) return;
  const std::size_t size = b->footprint();
  if (size > max_pooled_bytes / 4 || pooled_bytes_ + size > max_pooled_bytes) return;
  b->clear();
  pooled_bytes_ += size;
  pool_.push_back(std::move(b));
}

// ---------------------------------------------------------------- dispatcher

asio::awaitable<void> parallel::drain() {
  ++waiting_;
  notify();
  while (!stopping_ && !error_ && !order_->all_committed())
    co_await wait_change();
  --waiting_;
  check();
}

asio::awaitable<void> parallel::room() {
  const std::size_t limit = 2 * workers_.size() * chunk_limit(opts_);
  if (queued_ < limit && order_->in_flight() < limit) co_return;
  ++waiting_;
  notify();
  while (!stopping_ && !error_ && (queued_ >= limit || order_->in_flight() >= limit))
    co_await wait_change();
  --waiting_;
  check();
}

void parallel::push(std::size_t w, work_item item) {
  queued_ += item.batch->size();
  workers_[w].queue.push_back(std::move(item));
  notify();
}

void parallel::push_raw(std::size_t w, const pgo::message& m, std::span<const std::byte> payload) {
  auto& q = workers_[w].queue;
  if (q.empty() || q.back().seq != 0 || q.back().batch->size() >= max_raw_item) {
    q.push_back(work_item{0, acquire()});
  }
  q.back().batch->add(m, payload);
  ++queued_;
  notify();
}

void parallel::assign(std::size_t w, batch_ptr batch, lsn end, std::int64_t time,
                      std::vector<dep_key> keys) {
  const std::uint64_t seq = order_->assign(w, end, time, std::move(keys));
  push(w, work_item{seq, std::move(batch)});
}

void parallel::broadcast(batch_ptr& relations) {
  if (!relations) return;
  for (const auto& e : relations->entries()) {
    for (std::size_t k = 0; k < workers_.size(); ++k)
      push_raw(k, e.m, e.payload);
  }
  release(std::move(relations));
  relations = nullptr;
}

asio::awaitable<void> parallel::flush() {
  check();
  if (txn_) co_return;  // a source transaction is never split
  co_await drain();
}

bool parallel::idle() const {
  return !txn_ && !decoder_.in_stream_block() && order_->all_committed();
}

std::optional<std::pair<std::string, lsn>> parallel::take_sentinel() {
  if (sentinels_.empty()) return std::nullopt;
  auto s = std::move(sentinels_.front());
  sentinels_.pop_front();
  return s;
}

void add_stats(apply_stats& to, const apply_stats& x) {
  to.txns += x.txns;
  to.changes += x.changes;
  to.rows_written += x.rows_written;
  to.groups += x.groups;
  to.skipped_txns += x.skipped_txns;
  to.committed_time = std::max(to.committed_time, x.committed_time);
}

apply_stats parallel::stats() const {
  apply_stats s = live_.done;  // the workers' and the live worker's
  for (const auto& w : workers_)
    add_stats(s, w.sub->stats());
  if (live_.sub) add_stats(s, live_.sub->stats());
  s.committed = order_->committed_lsn();
  s.queued_txns = order_->in_flight() + (txn_ ? 1 : 0);
  s.pending_time = order_->in_flight() != 0 ? order_->oldest_time() : (txn_ ? txn_->time : 0);
  return s;
}

std::vector<int> parallel::backend_pids() const {
  std::vector<int> pids;
  for (const auto& w : workers_)
    pids.push_back(w.sub->backend_pids().front());
  if (live_.sub) pids.push_back(live_.sub->backend_pids().front());
  return pids;
}

asio::awaitable<bool> parallel::on_relation(const pgo::relation_message& r) {
  key_relation k;
  k.identity = static_cast<char>(r.identity);
  k.nspname = std::string(r.nspname);
  k.relname = std::string(r.relname);
  for (const auto& c : r.columns) {
    k.names.emplace_back(c.name);
    k.types.push_back(c.type_oid);
    k.mods.push_back(c.type_modifier);
    k.key.push_back(c.is_key());
  }
  auto it = relations_.find(r.oid);
  const bool known = it != relations_.end();
  if (known) {
    const key_relation& o = it->second;
    if (o.identity == k.identity && o.names == k.names && o.types == k.types && o.mods == k.mods &&
        o.key == k.key && o.nspname == k.nspname && o.relname == k.relname) {
      co_return false;
    }
  }
  std::vector<std::string> key;
  for (std::size_t i = 0; i < k.names.size(); ++i) {
    if (k.key[i] && k.identity != 'f') key.push_back(k.names[i]);
  }
  const std::string qualified = codecs::qualified_name(k.nspname, k.relname);
  const auto has = [](const target_table& t, const std::string& name) {
    return std::any_of(t.columns.begin(), t.columns.end(),
                       [&](const target_column& c) { return c.name == name; });
  };
  // Named first, with each of its columns in what the target said: no need to ask again.
  auto tt = tables_.find(qualified);
  if (known || tt == tables_.end() ||
      !std::all_of(k.names.begin(), k.names.end(),
                   [&](const std::string& n) { return has(tt->second, n); })) {
    std::optional<target_table> asked = co_await ask_target_table(*catalog_, qualified);
    if (asked) {
      tt = tables_.insert_or_assign(qualified, std::move(*asked)).first;
    } else {
      tables_.erase(qualified);
      tt = tables_.end();
    }
  }
  const target_table* t = tt == tables_.end() ? nullptr : &tt->second;
  if (k.identity != 'f') k.whole = t == nullptr || !t->independent(key);
  // A column to add on the target (the source added it while no one followed): a schema change
  // too, ordered with the changes around it like one seen in the stream.
  const bool missing = !known && t != nullptr &&
                       std::any_of(k.names.begin(), k.names.end(),
                                   [&](const std::string& n) { return !has(*t, n); });
  relations_[r.oid] = std::move(k);
  co_return known || missing;
}

void parallel::add_key(std::uint32_t oid, std::span<const pgo::column_value> tuple) {
  auto it = relations_.find(oid);
  const std::optional<dep_key> key =
      row_key(oid, it == relations_.end() ? nullptr : &it->second, tuple);
  if (!key) {
    txn_->barrier = true;  // no key to track (the worker stops with a clear error if it is bad)
    return;
  }
  txn_->keys.push_back(*key);
}

asio::awaitable<void> parallel::feed(std::span<const std::byte> payload) {
  check();
  auto decoded = decoder_.decode(payload);
  if (!decoded) fail(decoded.error().to_string());
  const pgo::message& m = *decoded;

  // Streamed transactions: worker 0 spools them; a Stream Commit is a barrier.
  if (std::holds_alternative<pgo::stream_start_message>(m) ||
      std::holds_alternative<pgo::stream_stop_message>(m) || decoder_.in_stream_block()) {
    const auto* l = std::get_if<pgo::logical_message>(&m);
    if (l != nullptr && l->transactional() && l->xid && is_sentinel(opts_, l->prefix)) {
      stream_sentinels_[*l->xid].emplace_back(std::string(l->content), l->message_lsn);
    }
    const auto* start = std::get_if<pgo::stream_start_message>(&m);
    // A block applied live goes out after every transaction before it committed (why:
    // cdc/apply_stream.cpp).
    if (start != nullptr && live_block(*start)) co_await drain();
    co_await room();
    push_raw(0, m, payload);  // spooled, also when applied live
    if (live_.block) {
      push_live(m, payload);
      if (std::holds_alternative<pgo::stream_stop_message>(m)) live_.block = false;
    }
    co_return;
  }
  if (const auto* ab = std::get_if<pgo::stream_abort_message>(&m)) {
    if (ab->subxid == ab->xid) stream_sentinels_.erase(ab->xid);
    co_await room();
    push_raw(0, m, payload);
    if (live_.xid != 0 && ab->xid == live_.xid) {
      push_live(m, payload);
      live_.xid = 0;  // rolled back, or (a subtransaction) left to the spool
    }
    co_return;
  }
  if (const auto* c = std::get_if<pgo::stream_commit_message>(&m)) {
    std::vector<std::pair<std::string, lsn>> found = std::move(stream_sentinels_[c->xid]);
    stream_sentinels_.erase(c->xid);
    const lsn end = c->end_lsn;
    co_await stop_if_due(c->commit_lsn);
    const std::int64_t time = c->commit_time;
    const bool live = live_.xid != 0 && c->xid == live_.xid;
    if (live) live_.xid = 0;
    if (end <= origin_lsn_) {
      if (live) push_live(pgo::stream_abort_message{c->xid, c->xid}, {});  // rolled back
      push_raw(0, m, payload);  // applied before: the worker drops its spool
    } else if (live && co_await live_commit(m, payload, end)) {
      push_raw(0, pgo::stream_abort_message{c->xid, c->xid}, {});  // its spool is not needed
    } else {
      batch_ptr one = acquire();
      one->add(m, payload);
      co_await drain();
      assign(0, std::move(one), end, time, {});
      co_await drain();
    }
    for (auto& s : found)
      sentinels_.push_back(std::move(s));
    co_return;
  }

  if (const auto* b = std::get_if<pgo::begin_message>(&m)) {
    if (txn_) fail("Begin inside a transaction");
    co_await stop_if_due(b->final_lsn);
    begin_txn(*b, m, payload);
    co_return;
  }
  if (const auto* r = std::get_if<pgo::relation_message>(&m)) {
    const bool changed = co_await on_relation(*r);
    if (!txn_) {
      if (changed) co_await drain();
      for (std::size_t k = 0; k < workers_.size(); ++k)
        push_raw(k, m, payload);
    } else if (txn_->large) {
      broadcast(txn_->relations);  // nothing else runs: a large transaction is alone
      for (std::size_t k = 0; k < workers_.size(); ++k)
        push_raw(k, m, payload);
    } else {
      if (!txn_->relations) txn_->relations = acquire();
      txn_->relations->add(m, payload);
      txn_->barrier = txn_->barrier || changed;
    }
    co_return;
  }
  if (std::holds_alternative<pgo::type_message>(m)) co_return;
  if (const auto* l = std::get_if<pgo::logical_message>(&m)) {
    if (!is_sentinel(opts_, l->prefix)) co_return;
    std::pair<std::string, lsn> s(std::string(l->content), l->message_lsn);
    if (l->transactional() && txn_) {
      txn_->sentinels.push_back(std::move(s));
    } else {
      sentinels_.push_back(std::move(s));
    }
    co_return;
  }
  if (!txn_) {
    if (std::holds_alternative<pgo::origin_message>(m)) co_return;
    if (!std::holds_alternative<pgo::commit_message>(m)) fail("a change outside a transaction");
    fail("Commit outside a transaction");
  }
  if (const auto* c = std::get_if<pgo::commit_message>(&m)) {
    const lsn end = c->end_lsn;
    const std::int64_t time = c->commit_time;
    if (!txn_->batch) txn_->batch = acquire();  // a large transaction's went to worker 0
    txn_->batch->add(m, payload);
    co_await dispatch(end, time);
    co_return;
  }
  if (txn_->skip) co_return;
  if (txn_->large) {
    if (!std::holds_alternative<pgo::origin_message>(m)) ++txn_->changes;
    co_await room();
    push_raw(0, m, payload);
    co_return;
  }
  add_change(m, payload);
  if (txn_->changes > opts_.max_batch_statements) {
    // Too big to hold: everything before it commits, then it is fed to worker 0 as it comes.
    co_await drain();
    txn_->large = true;
    txn_->keys.clear();
    broadcast(txn_->relations);
    push(0, work_item{0, std::move(txn_->batch)});
    txn_->batch = nullptr;
  }
}

void parallel::begin_txn(const pgo::begin_message& b, const pgo::message& m,
                         std::span<const std::byte> payload) {
  // Not emplace(): clang 14 takes the nested type for not default-constructible (its member
  // initializers are parsed after the optional member that names it).
  txn_.emplace(txn_buffer{});
  // Its commit record starts before the resume point: it ends at or before it.
  txn_->skip = b.final_lsn < origin_lsn_;
  txn_->time = b.commit_time;
  txn_->batch = acquire();
  txn_->batch->add(m, payload);
}

void parallel::add_change(const pgo::message& m, std::span<const std::byte> payload) {
  if (const auto* i = std::get_if<pgo::insert_message>(&m)) add_key(i->relation_oid, i->new_tuple);
  if (const auto* u = std::get_if<pgo::update_message>(&m)) {
    add_key(u->relation_oid, u->new_tuple);
    if (u->old_kind != pgo::old_tuple_kind::none) add_key(u->relation_oid, u->old_tuple);
  }
  if (const auto* d = std::get_if<pgo::delete_message>(&m)) add_key(d->relation_oid, d->old_tuple);
  if (std::holds_alternative<pgo::truncate_message>(m)) txn_->barrier = true;
  if (!std::holds_alternative<pgo::origin_message>(m)) ++txn_->changes;
  txn_->batch->add(m, payload);
}

bool parallel::try_feed(std::span<const std::byte> payload) {
  if (error_ || stopping_ || payload.empty() || decoder_.in_stream_block()) return false;
  const char type = static_cast<char>(payload[0]);
  if (type == 'B') {
    if (txn_) return false;
  } else if (type == 'I' || type == 'U' || type == 'D') {
    // Not the change that makes the transaction large (everything before it commits first).
    if (!txn_ || txn_->large || (!txn_->skip && txn_->changes >= opts_.max_batch_statements)) {
      return false;
    }
  } else {
    return false;
  }
  auto decoded = decoder_.decode(payload);
  if (!decoded) fail(decoded.error().to_string());
  const pgo::message& m = *decoded;
  if (const auto* b = std::get_if<pgo::begin_message>(&m)) {
    if (opts_.stop_before != 0 && b->final_lsn >= opts_.stop_before) {
      // Rare: stop_if_due awaits. Decoding a Begin changes no decoder state: feed() it again.
      return false;
    }
    begin_txn(*b, m, payload);
    return true;
  }
  if (!txn_->skip) add_change(m, payload);
  return true;
}

asio::awaitable<void> parallel::stop_if_due(lsn commit) {
  if (opts_.stop_before == 0 || commit < opts_.stop_before) co_return;
  co_await drain();  // everything before it committed
  throw schema_change_error(opts_.stop_message, 0);
}

asio::awaitable<void> parallel::dispatch(lsn end, std::int64_t time) {
  txn_buffer t = std::move(*txn_);
  txn_.reset();
  if (t.skip || end <= origin_lsn_) {
    broadcast(t.relations);  // applied before; later transactions need the relations
    release(std::move(t.batch));
  } else if (t.large) {
    assign(0, std::move(t.batch), end, time, {});
    co_await drain();
  } else if (t.barrier) {
    co_await drain();
    broadcast(t.relations);
    assign(0, std::move(t.batch), end, time, {});
    co_await drain();
  } else {
    co_await room();
    apply_order::placement p;
    for (;;) {
      p = order_->place(t.keys, t.changes);
      if (!p.wait) break;
      ++waiting_;
      notify();
      co_await wait_change();
      --waiting_;
      check();
    }
    broadcast(t.relations);
    assign(p.lane, std::move(t.batch), end, time, std::move(t.keys));
  }
  for (auto& s : t.sentinels)
    sentinels_.push_back(std::move(s));
}

}  // namespace uringmig::engine::cdc::detail
