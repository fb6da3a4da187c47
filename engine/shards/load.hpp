// Internal to the SQLite shard load (engine/shard*.cpp): the pipeline from readers to
// per-file writers (on a few threads of their own), shared by the SQLite and PostgreSQL sources.
#pragma once

#include "codecs/row_batch.hpp"
#include "codecs/shard_route.hpp"
#include "connectors/sqlite/shard_writer.hpp"
#include "engine/core/chunk_runner.hpp"
#include "engine/core/job.hpp"
#include "engine/core/plan_types.hpp"
#include "engine/core/progress.hpp"
#include "engine/core/state_store.hpp"
#include "io/channel.hpp"
#include "io/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace uringmig::engine::shards {

/// Where the rows go: a shard set (files `<table>_shard_NN.db` in `dir`) or one plain file.
struct target_spec {
  std::filesystem::path dir;   // shard set
  std::filesystem::path file;  // plain file (then `router` is unused)
  bool sharded = false;
  codecs::shard_router router{1, 1};
  std::string shard_key;

  int files() const { return sharded ? router.files() : 1; }
  std::filesystem::path file_of(const std::string& table, int index) const;
};

/// One table to load, whatever the source.
struct table_load {
  std::string schema;  // "main" for a SQLite source
  std::string name;    // also the target table's name
  std::vector<std::string> columns;
  std::optional<std::size_t> key_column;  // sharded targets
  std::string create_sql;                 // CREATE TABLE for the target files
  std::vector<std::string> index_sql;     // after the data
  /// How a writer finds an unfinished chunk's rows again (connectors/sqlite/shard_writer.hpp).
  /// sequential: each writer takes one chunk at a time (others wait in memory).
  connectors::sqlite::shard_writer_options::resume_by resume =
      connectors::sqlite::shard_writer_options::resume_by::sequential;
  planned_table plan;
  /// resume_by::ranges: the rowids of a chunk (inclusive).
  std::function<std::pair<std::int64_t, std::int64_t>(const planned_chunk&)> chunk_rowids;
};

/// What one reader produces for a chunk; see chunk_sink.
struct shard_msg {
  int chunk_no = 0;
  std::string rows;
  std::int64_t row_count = 0;
  bool end = false;  // the chunk is complete for this file

  std::size_t footprint() const { return rows.capacity() + sizeof(shard_msg); }
};

class load;
using sq_writer_options = connectors::sqlite::shard_writer_options;

/// Routes one chunk's rows into per-file batches and sends them to the writers. For each row a
/// reader calls begin_row() with the key's text (nullopt for NULL), writes the row's values
/// (rowid first) into the writer it returns, then calls end_row().
class chunk_sink {
 public:
  chunk_sink(load& l, const planned_chunk& c);

  /// Routes a row by its key; its values go straight into that file's batch.
  codecs::row_batch_writer begin_row(std::optional<std::string_view> key);
  /// Returns true when a batch is full: then co_await flush().
  bool end_row();
  boost::asio::awaitable<void> flush();
  /// Sends the remainders and the chunk's end marks.
  boost::asio::awaitable<void> finish();
  std::int64_t rows() const { return rows_; }
  std::int64_t bytes() const { return bytes_; }
  const table_load& table() const;
  double send_wait() const { return send_wait_; }

 private:
  boost::asio::awaitable<void> send(int file, bool end);

  load& l_;
  int chunk_no_;
  std::vector<bool> skip_;  // files that already have this chunk
  std::vector<std::string> batches_;
  std::vector<std::int64_t> counts_;
  std::vector<int> full_;
  std::string scratch_;             // rows for files that already have this chunk
  std::string* current_ = nullptr;  // the batch the row in progress goes to
  std::size_t current_file_ = 0;
  std::size_t row_start_ = 0;
  std::int64_t rows_ = 0;
  std::int64_t bytes_ = 0;
  std::int64_t bytes_reported_ = 0;
  double send_wait_ = 0;
};

/// A source: reads one chunk of a table into the sink (on the reader's own context).
using chunk_reader = std::function<boost::asio::awaitable<void>(std::size_t reader_index,
                                                                const planned_chunk&, chunk_sink&)>;

struct load_options {
  std::size_t readers = 2;
  std::size_t batch_bytes = 64 * 1024;
  std::size_t channel_bytes = 1024 * 1024;
  /// Every file's writer starts from these (tuning, fingerprint); the load fills in the
  /// file, the table and its columns.
  connectors::sqlite::shard_writer_options writer;
  /// Several workers on the job (a shared state): chunks come from the state's leases (this
  /// table's only), the writers write shared files (writer.shared), and the files' finish
  /// (indexes, WAL) is not the load's: finish_table() runs it, by one worker.
  std::optional<chunk_leases> leases;
  /// Tests: exit as kill -9 does once the Nth chunk of this process is committed in one file
  /// and not yet in the others.
  int exit_mid_chunk = 0;
  /// Tests: the first chunk of this process, once claimed, waits for the state's mark
  /// debug.release (its lease renewed meanwhile).
  bool hold_first_chunk = false;
};

/// Loads one table: writer per file (each on a context of its own), readers on theirs.
/// Contexts: 0 runs the caller; 1..readers the readers; the rest the writers (file f on
/// writer context f % count).
class load {
 public:
  load(io::runtime& rt, state_store& state, progress& prog, const target_spec& target,
       const load_options& o, const table_load& t);
  ~load();

  /// Runs the table to the end (or to a stop request): returns false when interrupted.
  boost::asio::awaitable<bool> run(chunk_reader reader);
  /// Workers: every chunk of the table is in (whoever loaded it); builds the files' indexes and
  /// makes them durable, marks the table done. The caller holds the table's finish lock.
  boost::asio::awaitable<void> finish_table();

  const table_load& table() const { return t_; }
  const target_spec& target() const { return target_; }
  std::size_t batch_bytes() const { return o_.batch_bytes; }
  std::int64_t rows_written() const { return rows_written_.load(); }
  double index_seconds() const { return index_seconds_; }

 private:
  friend class chunk_sink;
  struct file_state;
  /// Writers share the contexts after the readers' (several files per thread when fewer).
  boost::asio::any_io_executor writer_executor(std::size_t file);
  boost::asio::awaitable<void> open_writers();
  boost::asio::awaitable<void> open_writer(std::size_t file);
  boost::asio::awaitable<void> writer_loop(std::size_t file);
  void write_msg(file_state& fs, shard_msg& m);
  class reader;       // a chunk_worker: the source's chunk_reader into a chunk_sink
  class reader_path;  // the readers as a chunk_path (the chunk runner schedules them)
  /// Runs the readers over the chunks to do, then closes the writers' channels.
  boost::asio::awaitable<void> read_chunks(chunk_reader& read);
  void chunk_committed(int chunk_no);
  /// A chunk every file had already (a worker died after its last file's commit): done.
  void chunk_read(int chunk_no);
  sq_writer_options writer_options(std::size_t file) const;
  boost::asio::awaitable<void> finish_file(std::size_t file);
  /// Batch buffers go round: readers fill them, writers hand them back once their rows ran.
  std::string take_buffer();
  void give_buffer(std::string&& b);
  void fail(std::exception_ptr e);

  io::runtime& rt_;
  state_store& state_;
  progress& prog_;
  const target_spec& target_;
  load_options o_;
  const table_load& t_;
  table_progress* tp_ = nullptr;

  std::vector<std::unique_ptr<file_state>> files_;
  std::mutex m_;
  std::vector<const planned_chunk*> todo_;  // chunks not yet done everywhere, plan order
  std::map<int, int> files_left_;           // chunk -> files still to commit it
  std::map<int, std::pair<std::int64_t, std::int64_t>> chunk_stats_;  // rows, bytes
  std::exception_ptr error_;
  bool failed_ = false;
  std::counting_semaphore<> index_slots_{
      static_cast<std::ptrdiff_t>(std::max(2u, std::thread::hardware_concurrency()))};
  std::mutex buffers_m_;
  std::vector<std::string> buffers_;
  std::atomic<std::int64_t> rows_written_{0};
  double index_seconds_ = 0;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace uringmig::engine::shards
