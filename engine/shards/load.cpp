#include "engine/shards/load.hpp"

#include "connectors/sqlite/shard_writer.hpp"
#include "engine/core/chunk_runner.hpp"
#include "io/sleep.hpp"
#include "io/wait_all.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace uringmig::engine::shards {

namespace asio = boost::asio;
namespace sq = connectors::sqlite;

std::filesystem::path target_spec::file_of(const std::string& table, int index) const {
  if (!sharded) return file;
  return dir / codecs::shard_file_name(table, index);
}

struct load::file_state {
  explicit file_state(std::size_t budget) : ch(budget) {}
  std::unique_ptr<sq::shard_writer> writer;
  io::channel<shard_msg> ch;
  std::map<int, std::int64_t> chunk_rows;
  double wait_seconds = 0;  // blocked on the channel (for the debug log)
  int needed = 0;           // chunks this file still needs
  int committed = 0;        // of those, committed
};

namespace {

/// A send refused because the load is failing: the reader stops quietly.
struct load_cancelled {};

using op_t = io::spawned;

std::atomic<int> chunks_committing{0};      // copy.debug.exit_mid_chunk
std::atomic<bool> first_chunk_read{false};  // copy.debug.hold_first_chunk
using io::wait_all;

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

// ---- chunk_sink ---------------------------------------------------------------------------

chunk_sink::chunk_sink(load& l, const planned_chunk& c)
    : l_(l),
      chunk_no_(c.chunk_no),
      skip_(l.files_.size()),
      batches_(l.files_.size()),
      counts_(l.files_.size()) {
  for (std::size_t f = 0; f < l.files_.size(); ++f)
    skip_[f] = l.files_[f]->writer->chunk_done(c.chunk_no);
}

const table_load& chunk_sink::table() const {
  return l_.t_;
}

codecs::row_batch_writer chunk_sink::begin_row(std::optional<std::string_view> key) {
  int f = 0;
  if (l_.target_.sharded) f = key ? l_.target_.router.route(*key) : l_.target_.router.route_null();
  current_file_ = static_cast<std::size_t>(f);
  if (skip_[current_file_]) {
    scratch_.clear();
    current_ = &scratch_;
  } else {
    current_ = &batches_[current_file_];
    if (current_->capacity() == 0) *current_ = l_.take_buffer();
  }
  row_start_ = current_->size();
  return codecs::row_batch_writer(*current_);
}

bool chunk_sink::end_row() {
  ++rows_;
  bytes_ += static_cast<std::int64_t>(current_->size() - row_start_);
  if (current_ == &scratch_) return false;
  ++counts_[current_file_];
  if (current_->size() >= l_.o_.batch_bytes) {
    // Listed once, when it crosses the size (a reader may add rows before it flushes).
    if (row_start_ < l_.o_.batch_bytes) full_.push_back(static_cast<int>(current_file_));
    return true;
  }
  return false;
}

asio::awaitable<void> chunk_sink::send(int file, bool end) {
  const auto fi = static_cast<std::size_t>(file);
  shard_msg msg;
  msg.chunk_no = chunk_no_;
  msg.rows = std::move(batches_[fi]);
  msg.row_count = counts_[fi];
  msg.end = end;
  batches_[fi] = std::string();
  counts_[fi] = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const bool sent = co_await l_.files_[fi]->ch.send(std::move(msg));
  send_wait_ += since(t0);
  if (!sent) throw load_cancelled{};
}

asio::awaitable<void> chunk_sink::flush() {
  if (l_.tp_) l_.tp_->add(0, bytes_ - bytes_reported_);
  bytes_reported_ = bytes_;
  for (int f : full_)
    co_await send(f, false);
  full_.clear();
}

asio::awaitable<void> chunk_sink::finish() {
  {
    std::lock_guard lk(l_.m_);
    l_.chunk_stats_[chunk_no_] = {rows_, bytes_};
  }
  for (std::size_t f = 0; f < batches_.size(); ++f)
    if (!skip_[f]) co_await send(static_cast<int>(f), true);
}

// ---- load ---------------------------------------------------------------------------------

load::load(io::runtime& rt, state_store& state, progress& prog, const target_spec& target,
           const load_options& o, const table_load& t)
    : rt_(rt), state_(state), prog_(prog), target_(target), o_(o), t_(t) {
  for (int f = 0; f < target_.files(); ++f)
    files_.push_back(std::make_unique<file_state>(o_.channel_bytes));
  tp_ = prog_.find(t_.schema, t_.name);
}

void load::fail(std::exception_ptr e) {
  {
    std::lock_guard lk(m_);
    if (!error_) error_ = e;
    failed_ = true;
  }
  for (auto& f : files_)
    f->ch.cancel();
}

load::~load() = default;

asio::any_io_executor load::writer_executor(std::size_t file) {
  const std::size_t threads = std::max<std::size_t>(1, rt_.size() - 1 - o_.readers);
  return rt_.executor(1 + o_.readers + file % threads);
}

sq_writer_options load::writer_options(std::size_t f) const {
  sq::shard_writer_options w = o_.writer;
  w.file = target_.file_of(t_.name, static_cast<int>(f));
  w.table = t_.name;
  w.create_sql = t_.create_sql;
  w.columns = t_.columns;
  w.resume = t_.resume;
  w.index_sql = t_.index_sql;
  w.shared = o_.leases.has_value();
  return w;
}

asio::awaitable<void> load::open_writer(std::size_t f) {
  sq::shard_writer_options w = writer_options(f);
  w.recycle = [this](std::string&& b) { give_buffer(std::move(b)); };
  auto writer = std::make_unique<sq::shard_writer>(std::move(w));
  std::vector<sq::chunk_range> ranges;
  if (t_.resume == sq::shard_writer_options::resume_by::ranges) {
    for (const auto& c : t_.plan.chunks) {
      sq::chunk_range r;
      r.chunk_no = c.chunk_no;
      std::tie(r.lo, r.hi) = t_.chunk_rowids(c);
      ranges.push_back(r);
    }
  }
  writer->clear_unfinished(ranges);
  files_[f]->writer = std::move(writer);
  co_return;
}

asio::awaitable<void> load::open_writers() {
  std::vector<op_t> ops;
  for (std::size_t f = 0; f < files_.size(); ++f)
    ops.push_back(asio::co_spawn(writer_executor(f), open_writer(f), asio::deferred));
  co_await wait_all(std::move(ops));
}

std::string load::take_buffer() {
  {
    std::lock_guard lk(buffers_m_);
    if (!buffers_.empty()) {
      std::string b = std::move(buffers_.back());
      buffers_.pop_back();
      return b;
    }
  }
  std::string b;
  b.reserve(o_.batch_bytes + 4096);
  return b;
}

void load::give_buffer(std::string&& b) {
  if (b.capacity() < o_.batch_bytes || b.capacity() > 4 * o_.batch_bytes) return;
  b.clear();
  std::lock_guard lk(buffers_m_);
  if (buffers_.size() < 4 * files_.size()) buffers_.push_back(std::move(b));
}

void load::chunk_committed(int chunk_no) {
  std::lock_guard lk(m_);
  auto it = files_left_.find(chunk_no);
  if (it == files_left_.end()) return;
  if (o_.exit_mid_chunk > 0 && it->second == static_cast<int>(files_.size()) && it->second > 1 &&
      chunks_committing.fetch_add(1) + 1 == o_.exit_mid_chunk) {
    // Tests: a worker that dies holding a lease, its chunk in one file and not in the others.
    spdlog::critical("copy.debug.exit_mid_chunk reached: exiting as if killed");
    std::_Exit(137);
  }
  if (--it->second > 0) return;
  files_left_.erase(it);
  const auto [rows, bytes] = chunk_stats_[chunk_no];
  state_.mark_chunk_done(t_.schema, t_.name, chunk_no, rows, bytes, since(started_));
  if (tp_) {
    tp_->add(rows, 0);
    tp_->chunk_done();
  }
}

void load::chunk_read(int chunk_no) {
  {
    std::lock_guard lk(m_);
    if (files_left_.count(chunk_no)) return;  // the files' commits mark it
  }
  state_.mark_chunk_done(t_.schema, t_.name, chunk_no, 0, 0, since(started_));
  if (tp_) tp_->chunk_done();
}

void load::write_msg(file_state& fs, shard_msg& m) {
  sq::shard_writer& w = *fs.writer;
  if (m.row_count > 0) {
    fs.chunk_rows[m.chunk_no] += m.row_count;
    w.insert(std::move(m.rows), m.row_count);
  }
  if (m.end) {
    w.end_chunk(m.chunk_no, fs.chunk_rows[m.chunk_no]);
    fs.chunk_rows.erase(m.chunk_no);
  }
  for (int c : w.maybe_commit()) {
    ++fs.committed;
    chunk_committed(c);
  }
}

asio::awaitable<void> load::writer_loop(std::size_t f) {
  file_state& fs = *files_[f];
  sq::shard_writer& w = *fs.writer;
  // resume_by::sequential needs one chunk at a time per file, and so does a shared file (a
  // chunk's rows go in with its mark): messages of other chunks wait here (at most the other
  // readers' chunks' share of this file) until the current one ends.
  const bool one_at_a_time =
      t_.resume == sq::shard_writer_options::resume_by::sequential || o_.leases;
  int current = -1;
  std::map<int, std::vector<shard_msg>> parked;
  try {
    for (;;) {
      const auto w0 = std::chrono::steady_clock::now();
      std::optional<shard_msg> m = co_await fs.ch.receive();
      fs.wait_seconds += since(w0);
      if (!m) break;
      if (!one_at_a_time) {
        write_msg(fs, *m);
        continue;
      }
      if (current < 0) current = m->chunk_no;
      if (m->chunk_no != current) {
        parked[m->chunk_no].push_back(std::move(*m));
        continue;
      }
      const bool ended = m->end;
      write_msg(fs, *m);
      // A chunk ended: drain parked chunks; stop at the first one still incomplete.
      while (ended && current >= 0) {
        current = -1;
        if (parked.empty()) break;
        auto it = parked.begin();
        for (auto p = parked.begin(); p != parked.end(); ++p)
          if (p->second.back().end) it = p;  // a complete one first
        current = it->first;
        std::vector<shard_msg> msgs = std::move(it->second);
        parked.erase(it);
        bool complete = false;
        for (auto& pm : msgs) {
          complete = complete || pm.end;
          write_msg(fs, pm);
        }
        if (!complete) break;
      }
    }
    {
      std::lock_guard lk(m_);
      if (failed_) co_return;
    }
    for (int c : w.commit()) {
      ++fs.committed;
      chunk_committed(c);
    }
    spdlog::debug("{}: writer {} waited {:.3f}s for rows, {:.3f}s busy", t_.name, f,
                  fs.wait_seconds, since(started_) - fs.wait_seconds);
    if (fs.committed == fs.needed && !o_.leases) {
      // At most one index build per core at a time: each sorts in up to its cache's worth of
      // memory, and a dozen at once would only share the cores anyway.
      const auto t0 = std::chrono::steady_clock::now();
      index_slots_.acquire();
      struct release {
        std::counting_semaphore<>& s;
        ~release() { s.release(); }
      } r{index_slots_};
      w.finish();
      std::lock_guard lk(m_);
      index_seconds_ = std::max(index_seconds_, since(t0));
    }
    rows_written_ += w.rows_written();
    fs.writer.reset();  // closed here, on its own thread, in parallel with the others
  } catch (...) {
    fail(std::current_exception());
  }
}

class load::reader final : public chunk_worker {
 public:
  reader(shards::load& l, chunk_reader& read, std::size_t index)
      : l_(l), read_(read), index_(index) {}

  asio::awaitable<chunk_attempt> load(const chunk_table&, const planned_chunk& c) override {
    {
      std::lock_guard lk(l_.m_);
      if (l_.failed_) throw load_cancelled{};
    }
    if (l_.o_.hold_first_chunk && !first_chunk_read.exchange(true)) {
      // Tests: a worker that holds its first chunk's lease until the test lets it go on.
      const auto stop = l_.rt_.stop_token();
      while (!l_.state_.get("debug.release"))
        if (!co_await io::sleep_unless_stopped(std::chrono::milliseconds(50), stop)) break;
    }
    chunk_sink sink(l_, c);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      co_await read_(index_, c, sink);
      co_await sink.flush();
      co_await sink.finish();
    } catch (const load_cancelled&) {
      throw;
    } catch (...) {
      // The load fails with this error; the other readers stop at their next send.
      l_.fail(std::current_exception());
      throw load_cancelled{};
    }
    spdlog::debug("{}: reader {} chunk {} in {:.3f}s, {:.3f}s of it waiting for writers",
                  l_.t_.name, index_, c.chunk_no, since(t0), sink.send_wait());
    // Done once every file committed it (chunk_committed), not here.
    if (l_.o_.leases) l_.chunk_read(c.chunk_no);
    chunk_attempt a;
    a.ok = true;
    a.rows = sink.rows();
    a.bytes = sink.bytes();
    co_return a;
  }

 private:
  shards::load& l_;  // `load` here names the member function
  chunk_reader& read_;
  std::size_t index_;
};

class load::reader_path final : public chunk_path {
 public:
  reader_path(load& l, chunk_reader& read) : l_(l), read_(read) {}
  asio::any_io_executor executor(std::size_t index) override { return l_.rt_.executor(1 + index); }
  asio::awaitable<std::unique_ptr<chunk_worker>> open_worker(std::size_t index) override {
    co_return std::make_unique<reader>(l_, read_, index);
  }

 private:
  load& l_;
  chunk_reader& read_;
};

asio::awaitable<void> load::read_chunks(chunk_reader& read) {
  chunk_table t;
  t.schema = t_.schema;
  t.name = t_.name;
  t.display = t_.name;
  t.chunks = todo_;
  if (o_.leases)  // any chunk of the plan may come: a claim names it
    for (const auto& c : t_.plan.chunks)
      if (std::find(todo_.begin(), todo_.end(), &c) == todo_.end()) t.chunks.push_back(&c);
  t.progress = tp_;
  chunk_runner_options o;
  o.workers = o_.readers;
  o.leases = o_.leases;
  o.record = false;  // a chunk is done once every file committed it
  o.stop = rt_.stop_token();
  reader_path path(*this, read);
  std::vector<chunk_table> tables;
  tables.push_back(std::move(t));
  chunk_runner runner(path, state_, prog_, std::move(tables), std::move(o));
  try {
    co_await runner.run();
  } catch (const load_cancelled&) {
    // The error that cancelled the load is in error_.
  } catch (...) {
    fail(std::current_exception());
  }
  for (auto& f : files_)
    f->ch.close();
}

asio::awaitable<bool> load::run(chunk_reader read) {
  started_ = std::chrono::steady_clock::now();
  try {
    co_await open_writers();
  } catch (...) {
    fail(std::current_exception());
  }
  if (failed_) std::rethrow_exception(error_);

  for (const auto& c : t_.plan.chunks) {
    int missing = 0;
    for (const auto& f : files_)
      if (!f->writer->chunk_done(c.chunk_no)) ++missing;
    if (missing > 0) {
      todo_.push_back(&c);
      files_left_[c.chunk_no] = missing;
    }
  }
  for (auto& f : files_)
    for (const auto* c : todo_)
      if (!f->writer->chunk_done(c->chunk_no)) ++f->needed;
  if (tp_) tp_->set_phase(table_phase::copying);
  // Workers: the runner marks it at this worker's first chunk (never a table another finished).
  if (!o_.leases) state_.set_table_status(t_.schema, t_.name, table_status::copying);

  std::vector<op_t> writers;
  for (std::size_t f = 0; f < files_.size(); ++f)
    writers.push_back(asio::co_spawn(writer_executor(f), writer_loop(f), asio::deferred));
  auto ex = co_await asio::this_coro::executor;
  writers.push_back(asio::co_spawn(ex, read_chunks(read), asio::deferred));
  co_await wait_all(std::move(writers));

  // Writers are done with their files: close them on their own threads.
  for (auto& f : files_)
    f->writer.reset();
  if (error_) std::rethrow_exception(error_);
  // Every chunk to do has an entry until every file committed it; workers: the state has
  // every chunk of the table done, whoever did them.
  bool complete = files_left_.empty();
  if (o_.leases) {
    std::int64_t pending = 0;
    co_await state_.write_off_context([&] { pending = state_.chunks_pending(o_.leases->only); });
    complete = pending == 0 && !rt_.stop_token().stop_requested();
    co_return complete;  // the files' finish is finish_table's
  }
  state_.set_copy_seconds(t_.schema, t_.name, since(started_) - index_seconds_);
  if (complete) {
    state_.set_index_seconds(t_.schema, t_.name, index_seconds_);
    state_.set_table_status(t_.schema, t_.name, table_status::done);
    if (tp_) tp_->set_phase(table_phase::done);
  }
  co_return complete;
}

asio::awaitable<void> load::finish_file(std::size_t f) {
  index_slots_.acquire();
  struct release {
    std::counting_semaphore<>& s;
    ~release() { s.release(); }
  } r{index_slots_};
  sq::shard_writer w(writer_options(f));
  w.finish();
  co_return;
}

asio::awaitable<void> load::finish_table() {
  const auto t0 = std::chrono::steady_clock::now();
  if (tp_) tp_->set_phase(table_phase::indexing);
  std::vector<op_t> ops;
  for (std::size_t f = 0; f < files_.size(); ++f)
    ops.push_back(asio::co_spawn(writer_executor(f), finish_file(f), asio::deferred));
  co_await wait_all(std::move(ops));
  index_seconds_ = since(t0);
  co_await state_.write_off_context([&] {
    state_.set_index_seconds(t_.schema, t_.name, index_seconds_);
    state_.set_table_status(t_.schema, t_.name, table_status::done);
  });
  if (tp_) tp_->set_phase(table_phase::done);
}

}  // namespace uringmig::engine::shards
