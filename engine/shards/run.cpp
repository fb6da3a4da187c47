#include "engine/core/settings.hpp"
#include "engine/shards/shards.hpp"

#include "codecs/url.hpp"
#include "connectors/postgres/error.hpp"
#include "connectors/sqlite/database.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/state_store.hpp"
#include "engine/core/status.hpp"
#include "engine/core/workers.hpp"
#include "engine/shards/load.hpp"
#include "engine/shards/sources.hpp"
#include "io/deadline.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace sq = connectors::sqlite;
using shards::source;
using shards::target_spec;

namespace {

struct endpoints {
  codecs::endpoint source;
  codecs::endpoint target;
};

endpoints endpoints_of(const job_spec& opts) {
  return {opts.source_endpoint(), opts.target_endpoint()};
}

/// The target directory exists (made if missing) and accepts new files.
void check_writable_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw usage_error(
        fmt::format("--target: cannot create directory {}: {}", dir.string(), ec.message()));
  const std::filesystem::path probe = dir / ".uringmig-write-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw usage_error(fmt::format("--target: directory {} is not writable: {}", dir.string(),
                                  std::strerror(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}

target_spec make_target(const codecs::endpoint& t) {
  target_spec spec;
  if (const auto* sh = std::get_if<codecs::sqlite_shards_endpoint>(&t.spec)) {
    spec.sharded = true;
    spec.dir = sh->dir;
    spec.router = codecs::shard_router(sh->shards, sh->reserved_shard);
    spec.shard_key = sh->shard_key;
  } else if (const auto* f = std::get_if<codecs::sqlite_endpoint>(&t.spec)) {
    spec.file = f->path;
    spec.dir = spec.file.parent_path().empty() ? "." : spec.file.parent_path();
  } else {
    throw usage_error("--target: expected a sqlite:// URL");
  }
  return spec;
}

asio::awaitable<source> open_source(const codecs::endpoint& s, const job_spec& opts,
                                    const target_spec& target, io::runtime& rt,
                                    std::size_t readers) {
  if (const auto* f = std::get_if<codecs::sqlite_endpoint>(&s.spec)) {
    source src = shards::open_sqlite_source(*f, opts, target, readers);
    src.close = []() -> asio::awaitable<void> { co_return; };
    co_return src;
  }
  if (s.kind() == codecs::endpoint_kind::postgres)
    co_return co_await shards::open_pg_source(s, opts, target, rt, readers);
  if (s.kind() == codecs::endpoint_kind::sqlite_shards)
    throw usage_error("--source: a shard set cannot be a source; name one SQLite file");
  throw usage_error("--source: SQLite targets load from a SQLite file or PostgreSQL");
}

/// Shard files are `<table>_shard_NN.db` in the target directory: the table name must be a
/// file name.
void check_file_names(const source& src, const target_spec& t) {
  if (!t.sharded) return;
  for (const auto& tl : src.tables)
    if (tl.name.find('/') != std::string::npos || tl.name.find('\0') != std::string::npos)
      throw usage_error(
          fmt::format("table {} cannot name a shard file (`{}_shard_NN.db` would "
                      "need a '/' in a file name): leave it out with --exclude",
                      tl.name, tl.name));
}

std::string job_fingerprint(const codecs::endpoint& s, const target_spec& t,
                            const std::vector<shards::table_load>& tables) {
  std::vector<std::string> parts{codecs::redacted_url(s),
                                 t.sharded ? t.dir.string() : t.file.string(),
                                 std::to_string(t.sharded),
                                 std::to_string(t.router.shards()),
                                 std::to_string(t.router.reserved()),
                                 t.shard_key};
  for (const auto& tl : tables)
    parts.push_back(tl.schema + "." + tl.name);
  return fingerprint(parts);
}

/// Files of `table` in the target that already exist.
std::vector<std::filesystem::path> existing_files(const target_spec& t, const std::string& table) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (int f = 0; f < t.files(); ++f) {
    auto p = t.file_of(table, f);
    if (std::filesystem::exists(p, ec)) out.push_back(p);
  }
  return out;
}

bool plain_file_has_table(const std::filesystem::path& file, const std::string& table) {
  sq::database db = sq::database::open(file, sq::open_mode::read_only);
  sq::statement s = db.prepare("select 1 from sqlite_schema where type = 'table' and name = ?1");
  s.bind_text(1, table);
  return s.step();
}

/// A new job must not overwrite anything; --restart removes what an earlier job left.
void prepare_target(const target_spec& t, const std::vector<shards::table_load>& tables,
                    bool restart) {
  for (const auto& tl : tables) {
    auto files = existing_files(t, tl.name);
    if (files.empty()) continue;
    if (!t.sharded) {
      bool has = false;
      try {
        has = plain_file_has_table(t.file, tl.name);
      } catch (const sq::error& e) {
        throw usage_error(std::string("--target: ") + e.what());
      }
      if (!has) continue;
      if (!restart)
        throw usage_error(
            fmt::format("--target: {} already has table {}: use --restart to "
                        "replace it, or another file",
                        t.file.string(), tl.name));
      sq::database db = sq::database::open(t.file, sq::open_mode::read_write_create);
      db.exec("drop table if exists " + sq::quote_ident(tl.name));
      sq::statement d1 = db.prepare("delete from _uringmig_chunks where tbl = ?1");
      d1.bind_text(1, tl.name);
      d1.run();
      sq::statement d2 = db.prepare("delete from _uringmig_meta where tbl = ?1");
      d2.bind_text(1, tl.name);
      d2.run();
      continue;
    }
    if (!restart)
      throw usage_error(
          fmt::format("--target: {} already exists: use --restart to replace the "
                      "shard set, or another directory",
                      files.front().string()));
    for (const auto& f : files)
      for (const char* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(f.string() + suffix);
  }
}

/// SQLite virtual tables (FTS5, R*Tree, ...) are left out: their module keeps its data in
/// shadow tables that only make sense beside the virtual table itself.
void print_not_copied(const std::vector<std::string>& not_copied) {
  for (const auto& what : not_copied)
    std::printf(
        "not copied: %s (SQLite virtual tables are not copied: create them on the "
        "target and fill them from the copied tables)\n",
        what.c_str());
}

void print_plan(const source& src, const target_spec& t) {
  std::printf("%-5s %-36s %10s %12s  %s\n", "order", "table", "MB", "rows", "split");
  int order = 0;
  std::size_t chunks = 0;
  for (std::size_t i = 0; i < src.tables.size(); ++i) {
    const auto& tl = src.tables[i];
    chunks += tl.plan.chunks.size();
    std::printf("%-5d %-36s %10.1f %12lld  %s\n", ++order, tl.name.c_str(), src.bytes[i] / 1e6,
                static_cast<long long>(src.rows[i]),
                tl.plan.chunks.size() == 1
                    ? "whole table"
                    : fmt::format("{} rowid-range chunks", tl.plan.chunks.size()).c_str());
    if (t.sharded)
      std::printf("      -> %s .. %s (%d files, key %s)\n", t.file_of(tl.name, 0).c_str(),
                  t.file_of(tl.name, t.files() - 1).c_str(), t.files(), t.shard_key.c_str());
    else
      std::printf("      -> %s\n", t.file.c_str());
  }
  std::printf("total: %zu tables, %zu chunks\n", src.tables.size(), chunks);
  print_not_copied(src.not_copied);
}

shards::load_options load_options_from(const job_spec& opts, std::size_t readers) {
  const sqlite_config& c = opts.config.sqlite;
  shards::load_options o;
  o.readers = readers;
  auto& w = o.writer;
  w.page_size = c.page_size;
  w.cache_mib = c.cache_mib;
  w.commit_rows = c.commit_rows;
  w.max_rows_per_insert = c.rows_per_insert;
  w.segment_insert = c.segment_insert;
  w.segment_bytes = static_cast<std::size_t>(c.segment_kib) * 1024;
  o.batch_bytes = static_cast<std::size_t>(c.batch_kib) * 1024;
  return o;
}

std::size_t reader_count(const job_options& opts) {
  return static_cast<std::size_t>(opts.jobs > 0 ? opts.jobs : 2);
}

}  // namespace

int shards::plan(const job_spec& opts) {
  const endpoints ep = endpoints_of(opts);
  const target_spec target = make_target(ep.target);
  const std::size_t readers = reader_count(opts);
  (void)load_options_from(opts, readers);
  io::runtime rt(1 + readers);
  rt.run([&]() -> asio::awaitable<void> {
    source src = co_await open_source(ep.source, opts, target, rt, readers);
    check_file_names(src, target);
    std::printf("source: %s\n", codecs::redacted_url(ep.source).c_str());
    std::printf("target: %s\n", codecs::redacted_url(ep.target).c_str());
    std::printf("%s", settings_summary(opts.settings).c_str());
    print_plan(src, target);
    co_await src.close();
  }());
  return 0;
}

namespace {

/// Everything after the source is open, inside the runtime.
struct shard_run {
  const job_spec& opts;
  const endpoints& ep;
  const target_spec& target;
  io::runtime& rt;
  std::optional<state_store> state;
  std::int64_t run_id = 0;
  progress prog;
  std::int64_t rows = 0;
  bool interrupted = false;
  std::vector<std::string> not_copied;  // the source's, for the summary
  bool workers = false;                 // one of several workers (a shared state)
  std::string worker;                   // its name in the state
  coordinator_watch watch;              // workers: on the coordinator and its snapshot
};

/// The saved plan's chunks: rowid ranges must not move under rows already written.
void use_saved_plan(state_store& state, source& src) {
  const auto saved = state.load_plan();
  for (auto& t : src.tables)
    for (const auto& p : saved)
      if (p.schema == t.schema && p.name == t.name) t.plan = p;
}

/// Workers write into one directory: the coordinator leaves a mark there with a token the
/// state keeps, and every worker must find it (else its files would be a shard set of its own).
constexpr const char* workers_mark = ".uringmig-workers";

void check_shared_target(const state_store& state, const target_spec& t) {
  const std::string want = state.get("shards.target_mark").value_or("");
  std::ifstream in(t.dir / workers_mark);
  std::string have;
  std::getline(in, have);
  if (!want.empty() && have == want) return;
  throw usage_error(fmt::format(
      "--target: {} does not hold the files this job's other workers write (no mark {} of "
      "job {} there): every worker of a shard job must write into one shared directory (a "
      "network file system with POSIX locks, or one host's disk); mount it at the same path on "
      "every host",
      t.dir.string(), (t.dir / workers_mark).string(), state.where()));
}

void mark_shared_target(state_store& state, const target_spec& t) {
  const std::string token =
      fmt::format("{:08x}{:08x}", std::random_device{}(), std::random_device{}());
  std::ofstream out(t.dir / workers_mark, std::ios::trunc);
  out << token << "\n";
  out.close();
  if (!out)
    throw usage_error(fmt::format("--target: cannot write {}", (t.dir / workers_mark).string()));
  state.put("shards.target_mark", token);
}

/// Workers: the first plans (the shard plan into the state, the target's mark, its snapshot for
/// the others), the others check their definition against its, find its files and read under
/// its snapshot.
asio::awaitable<void> join_job(shard_run& r, source& src, const std::string& fp) {
  state_store& state = *r.state;
  const job_spec& opts = r.opts;
  if (opts.restart && live_coordinator(state))
    spdlog::info("--restart: not applied, the job's workers are running (this one joins them)");
  else if (opts.restart)
    state.reset();
  r.run_id = state.begin_run({opts.command,
                              opts.preset.empty() ? "shards" : opts.preset,
                              codecs::redacted_url(r.ep.source),
                              codecs::redacted_url(r.ep.target),
                              {},
                              true});
  r.worker = worker_name(opts, r.run_id);
  const worker_round round = co_await join_workers(state, r.rt, r.run_id, r.worker,
                                                   definition_of(opts, r.ep.source, r.ep.target));
  r.watch.start(round, r.worker,
                round.coordinator ? src.snapshot : published(state, published_snapshot_key),
                opts.config.bulk.allow_inconsistent);
  if (!round.coordinator) {
    if (state.get("shards.fingerprint") != fp)
      throw usage_error(fmt::format(
          "this worker finds other tables (or another shard key or count) than job {} plans: "
          "start every worker of a job with the same source and target",
          state.where()));
    check_shared_target(state, r.target);
    use_saved_plan(state, src);
    if (src.follow_coordinator) {
      co_await src.follow_coordinator(state, r.watch);
      spdlog::info("worker {}: reading under the coordinator's snapshot {}", r.worker,
                   r.watch.snapshot());
    }
    co_return;
  }
  const bool resuming = state.has_plan() && state.get("shards.fingerprint") == fp;
  if (state.has_plan() && !resuming)
    throw usage_error(fmt::format(
        "job {} is another job (different source, target, key or tables): use --restart to "
        "start over, or another --job",
        state.where()));
  if (resuming) {
    check_shared_target(state, r.target);
    use_saved_plan(state, src);
  } else {
    prepare_target(r.target, src.tables, opts.restart);
    mark_shared_target(state, r.target);  // before the plan: a resumed round checks it
    std::vector<planned_table> plan;
    for (const auto& t : src.tables)
      plan.push_back(t.plan);
    state.save_plan(plan);
    state.put("shards.fingerprint", fp);
  }
  publish_plan(state, r.run_id, {{published_snapshot_key, src.snapshot}});
}

/// Workers: the finish of a table whose data is in, by whichever worker takes its lock.
asio::awaitable<void> finish_if_mine(shard_run& r, shards::load& l) {
  const shards::table_load& t = l.table();
  if (!claim_table_finish(*r.state, t.schema, t.name)) co_return;
  std::exception_ptr error;
  try {
    spdlog::info("table {}: finishing its files (indexes, WAL)", t.name);
    co_await l.finish_table();
  } catch (...) {
    error = std::current_exception();
  }
  release_table_finish(*r.state, t.schema, t.name);
  if (error) std::rethrow_exception(error);
}

/// Loads every table not done yet (workers: their chunks from the leases, then the finish of
/// every table whose finisher died).
asio::awaitable<void> load_tables(shard_run& r, source& src, const shards::load_options& lo) {
  state_store& state = *r.state;
  for (const auto& t : src.tables) {
    if (state.get_table_status(t.schema, t.name) == table_status::done) continue;
    shards::load_options o = lo;
    if (o.leases) o.leases->only = table_key{t.schema, t.name};
    shards::load l(r.rt, state, r.prog, r.target, o, t);
    const bool done = co_await l.run(src.reader);
    r.rows += l.rows_written();
    if (!done) {
      r.interrupted = true;
      co_return;
    }
    if (r.workers) co_await finish_if_mine(r, l);
  }
  if (!r.workers) co_return;
  co_await finish_others(state, r.rt, [&](const table_row& row) -> asio::awaitable<bool> {
    for (const auto& t : src.tables) {
      if (t.schema != row.schema || t.name != row.name) continue;
      shards::load l(r.rt, state, r.prog, r.target, lo, t);
      co_await finish_if_mine(r, l);
      co_return true;
    }
    co_return false;
  });
}

asio::awaitable<void> run_all(shard_run& r, const shards::load_options& lo_base,
                              const reporter_options& reporter_opts) {
  const job_spec& opts = r.opts;
  source src = co_await open_source(r.ep.source, opts, r.target, r.rt, lo_base.readers);
  r.not_copied = src.not_copied;
  std::exception_ptr error;
  try {
    check_file_names(src, r.target);
    check_writable_dir(r.target.dir);
    const state_location at = state_location_of(opts);
    r.workers = !at.url.empty();
    check_worker_flag(opts, r.workers);
    r.state.emplace(state_store::open(at));
    state_store& state = *r.state;
    const std::string fp = job_fingerprint(r.ep.source, r.target, src.tables);
    if (r.workers) co_await join_job(r, src, fp);
    if (opts.restart && !r.workers) state.reset();
    const bool resuming = state.has_plan() && state.get("shards.fingerprint") == fp;
    if (state.has_plan() && !resuming && !r.workers)
      throw usage_error(fmt::format(
          "the state directory {} holds another job (different source, target, key or tables): "
          "use --restart to start over, or another --state-dir",
          opts.state_dir.string()));
    if (r.workers) {
      // join_job planned or took the plan.
    } else if (!resuming) {
      prepare_target(r.target, src.tables, opts.restart);
      std::vector<planned_table> plan;
      for (const auto& t : src.tables)
        plan.push_back(t.plan);
      state.save_plan(plan);
      state.put("shards.fingerprint", fp);
    } else {
      use_saved_plan(state, src);
      spdlog::info("resuming the job in {}: chunks every file has are skipped{}",
                   opts.state_dir.string(),
                   r.ep.source.kind() == codecs::endpoint_kind::postgres
                       ? "; the previous snapshot ended with its process, so this run reads "
                         "under a fresh one"
                       : "");
    }
    shards::load_options lo = lo_base;
    lo.writer.fingerprint = fp;
    if (r.workers) {
      chunk_leases l;
      l.worker = r.worker;
      l.lease = std::chrono::seconds(opts.config.bulk.lease_s);
      lo.leases = std::move(l);
      lo.exit_mid_chunk = opts.config.bulk.exit_mid_chunk;
      lo.hold_first_chunk = boolean_setting(opts.settings, "copy.debug.hold_first_chunk");
      if (src.follow_coordinator)
        lo.leases->heartbeat = [&r] { watch_coordinator(*r.state, r.rt, r.watch); };
    } else {
      r.run_id = state.begin_run({opts.command,
                                  opts.preset.empty() ? "shards" : opts.preset,
                                  codecs::redacted_url(r.ep.source),
                                  codecs::redacted_url(r.ep.target),
                                  {}});
    }
    for (std::size_t i = 0; i < src.tables.size(); ++i)
      r.prog.add_table(src.tables[i].schema, src.tables[i].name, src.bytes[i], src.rows[i],
                       static_cast<int>(src.tables[i].plan.chunks.size()));
    {
      const job_status st = state.status_snapshot();
      for (const auto& row : st.tables)
        if (auto* tp = r.prog.find(row.schema, row.name))
          tp->resume_from(row.chunks_done, row.rows_copied, row.bytes_copied);
    }
    progress_reporter reporter(r.prog, reporter_opts);
    std::exception_ptr load_error;
    try {
      co_await load_tables(r, src, lo);
    } catch (...) {
      load_error = std::current_exception();
    }
    reporter.stop();
    if (load_error) std::rethrow_exception(load_error);
  } catch (...) {
    error = std::current_exception();
  }
  co_await src.close();
  if (error) std::rethrow_exception(error);
}

}  // namespace

int shards::run(const job_spec& opts) {
  const endpoints ep = endpoints_of(opts);
  const target_spec target = make_target(ep.target);
  const std::size_t readers = reader_count(opts);
  shards::load_options lo = load_options_from(opts, readers);
  const reporter_options reporter_opts = make_reporter_options(opts);

  // Writer threads (sqlite.writer_threads): by default one per core, at most one per file;
  // more only add context switches (measured on 2 cores, 11 files: 2 threads 0.615 s median,
  // 4 threads 0.645 s, 11 threads slower still).
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int writer_threads = int_setting(opts, "sqlite.writer_threads",
                                         std::min(target.files(), cores), 1, target.files());
  io::runtime rt(1 + readers + static_cast<std::size_t>(writer_threads));
  shard_run r{opts, ep, target, rt, {}, 0, {}, 0, false, {}, false, {}, {}};
  const auto started = std::chrono::steady_clock::now();
  std::string error;
  try {
    rt.run([&]() -> asio::awaitable<void> {
      io::deadline deadline(rt, opts.max_runtime);
      co_await run_all(r, lo, reporter_opts);
    }());
  } catch (const sq::error& e) {
    error = e.disk_full()
                ? fmt::format(
                      "the target disk is full or a file size limit was hit ({}); free "
                      "space and run the same command to resume",
                      e.what())
                : std::string(e.what()) + "; fix the cause and run the same command to resume";
  } catch (const usage_error& e) {
    if (r.state && r.run_id) r.state->end_run(r.run_id, run_status::failed, e.what());
    throw;
  } catch (const connectors::postgres::error& e) {
    error = e.diag().to_string();
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (!r.state) throw job_error(error);
  state_store& state = *r.state;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout.flush();
  print_summary(std::cout, summarize(state.status_snapshot()));
  std::printf("wall time %.2fs: %lld rows written (%.0f rows/s) into %d file(s) per table\n", secs,
              static_cast<long long>(r.rows), r.rows / std::max(secs, 1e-9), target.files());
  print_not_copied(r.not_copied);
  if (r.watch.inconsistent())
    std::printf(
        "snapshot: not consistent (the coordinator ended; this worker went on under fresh "
        "snapshots: --allow-inconsistent)\n");
  std::fflush(stdout);
  if (!error.empty()) {
    if (r.run_id) state.end_run(r.run_id, run_status::failed, error);
    throw job_error(error);
  }
  if (const std::string lost = r.watch.lost(); !lost.empty()) {
    state.end_run(r.run_id, run_status::interrupted, lost);
    throw job_error(lost);
  }
  if (r.interrupted || rt.stop_token().stop_requested()) {
    const std::string msg =
        (rt.stop_reason().empty() ? std::string("stopped") : rt.stop_reason()) +
        ": chunks in flight finished, state saved; resume with the same command";
    state.end_run(r.run_id, run_status::interrupted, msg);
    throw job_error(msg);
  }
  state.end_run(r.run_id, run_status::done, "");
  return 0;
}

}  // namespace uringmig::engine
