// `uringmig run` into Apache Doris: plan under one snapshot, chunks spread over workers (a
// source reader and an HTTP client each, on a context of their own), marks in the state store.

#include "codecs/doris_types.hpp"
#include "codecs/sql_text.hpp"
#include "engine/core/chunk_runner.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/planner.hpp"
#include "engine/core/settings.hpp"
#include "engine/core/status.hpp"
#include "engine/core/workers.hpp"
#include "engine/doris/doris.hpp"
#include "engine/doris/load.hpp"
#include "io/deadline.hpp"
#include "io/runtime.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/this_coro.hpp>

#include <iostream>
#include <random>
#include <thread>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace doris {

namespace {

std::string random_token() {
  std::random_device rd;
  return fmt::format("{:08x}{:04x}", rd(), rd() & 0xffff);
}

}  // namespace

load_settings make_settings(const job_spec& opts, const codecs::doris_endpoint& target) {
  const doris_config& d = opts.config.doris;  // each value checked against the registry
  load_settings s;
  s.target = target;
  const int per_be = d.concurrency_per_be;
  const int nodes = std::max<int>(1, static_cast<int>(target.be.size()));
  s.workers = static_cast<std::size_t>(opts.jobs > 0 ? opts.jobs : std::min(per_be * nodes, 16));
  s.retries = d.retries;
  s.backoff = std::chrono::milliseconds(d.backoff_ms);
  s.backoff_max = std::chrono::milliseconds(d.backoff_max_ms);
  s.two_phase = d.two_phase_commit;
  s.binary_copy = d.binary_copy;
  s.group_commit = d.group_commit;
  if (!s.group_commit.empty() && s.two_phase)
    throw usage_error(
        "doris.group_commit and doris.two_phase_commit exclude each other: Doris "
        "runs group commit without labels or transactions of its own");
  s.compress = d.compress;
  if (!s.compress.empty() && target.format != codecs::doris_format::csv)
    throw usage_error("doris.compress works with format=csv only (Doris compresses CSV loads)");
  s.max_filter_ratio = d.max_filter_ratio;
  s.columns = d.columns;
  s.where = d.where;
  s.expect_100_timeout = std::chrono::milliseconds(d.expect_100_ms);
  s.load_timeout_s = d.timeout_s;
  s.buffer_bytes = static_cast<std::size_t>(d.buffer_kib) * 1024;
  s.exit_after_precommit = d.exit_after_precommit;
  if (const std::string& bes = d.trusted_bes; !bes.empty()) {
    // host:port lists are read as the URL's be= is.
    const auto parsed = codecs::parse_endpoint("doris://fe/db?be=" + bes);
    if (!parsed)
      throw usage_error("doris.trusted_bes = '" + bes + "': " + parsed.error +
                        " (expected host:port entries)");
    s.trusted_bes = std::get<codecs::doris_endpoint>(parsed.value->spec).be;
  }
  s.tls_ca_file = target.tls_ca_file;
  if (s.tls_ca_file.empty()) s.tls_ca_file = d.tls_ca_file;
  if (!target.tls && !s.tls_ca_file.empty())
    throw usage_error(
        "doris.tls_ca_file is set but the target does not use TLS: write doris+https:// or add "
        "tls=true to the target URL");
  if (target.tls && !target.tls_verify)
    spdlog::warn(
        "doris: tls_verify=false: the FE's and BEs' certificates and host names are NOT checked; "
        "anyone on the path can read the credentials and the data");
  return s;
}

job::job(const job_spec& o, codecs::endpoint s, load_settings c, state_store& st, io::runtime& r)
    : opts(o),
      source(std::move(s)),
      cfg(std::move(c)),
      state(st),
      pool(256 * 1024, std::max<std::size_t>(64u << 20, cfg.workers * 2 * cfg.channel_bytes)),
      rt(r),
      stop(r.stop_token()) {
  for (const auto& hp : cfg.target.be)
    be_urls.push_back(connectors::doris::base_url(hp, cfg.target.tls));
  if (!be_urls.empty()) bes = std::make_unique<connectors::doris::be_rotation>(be_urls);
  trusted = be_urls;
  for (const auto& hp : cfg.trusted_bes)
    trusted.push_back(connectors::doris::base_url(hp, cfg.target.tls));
}

std::string job::fe_base_url() const {
  return connectors::doris::base_url(cfg.target.fe, cfg.target.tls);
}

std::string job::next_base_url() {
  return bes ? bes->next() : fe_base_url();
}

connectors::doris::load_endpoint job::endpoint(std::string base) const {
  return {std::move(base), cfg.target.user, cfg.target.password, trusted};
}

connectors::doris::http_client_options job::http_options() const {
  connectors::doris::http_client_options o;
  o.ca_file = cfg.tls_ca_file;
  o.verify_tls = cfg.target.tls_verify;
  return o;
}

asio::awaitable<void> join_snapshot(job& j, pg::connection& c) {
  // Text forms Doris reads back exactly (codecs/doris_format.hpp).
  co_await apply_settings(c, text_profile::portable, "setting up a source reader");
  if (!j.leased) {
    co_await engine::join_snapshot(c, j.snapshot);
    co_return;
  }
  (void)co_await join_coordinator_snapshot(j.state, j.rt, j.coord, c);
}

/// Every stored column (generated ones too: Doris keeps their values as data), quoted for
/// the COPY, with the Doris kinds for the row writer.
asio::awaitable<std::vector<codecs::doris_source_column>> columns_of(pg::connection& c,
                                                                     const table_info& t) {
  pg::result cols = co_await c.query(
      "select attname, format_type(atttypid, atttypmod), attnotnull, atttypid from pg_attribute "
      "where "
      "attrelid = $1::oid and attnum > 0 and not attisdropped order by attnum",
      pg::make_params(std::to_string(t.oid)));
  cols.check("reading the columns of " + codecs::printable(t.display()));
  std::vector<codecs::doris_source_column> out;
  for (int r = 0; r < cols.rows(); ++r)
    out.push_back({std::string(cols.value(r, 0)), std::string(cols.value(r, 1)),
                   cols.value(r, 2) == "t",
                   static_cast<std::uint32_t>(std::stoul(std::string(cols.value(r, 3))))});
  co_return out;
}

std::string label_stem(const std::string& schema, const std::string& name) {
  std::string out;
  for (char ch : name) {
    if (out.size() >= 40) break;
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    out += ok ? ch : '_';
  }
  return out + "_" + fingerprint({schema, name}).substr(0, 8);
}

namespace {

/// The SELECT list of a chunk: the columns as they are. Value rewrites (timestamptz in UTC,
/// booleans, bytea) happen on our side (codecs::doris_csv_transcoder, doris_row_writer):
/// measured, `AT TIME ZONE` and casts in the SELECT cost PostgreSQL a third more CPU.
std::vector<std::string> select_list(const std::vector<codecs::doris_column>& cols) {
  std::vector<std::string> out;
  for (const auto& c : cols)
    out.push_back(codecs::quote_ident(c.name));
  return out;
}

/// The binary types of every column, or nothing when one has a type COPY binary cannot serve.
std::vector<codecs::pg_binary_type> binary_types(
    const std::vector<codecs::doris_source_column>& cols) {
  std::vector<codecs::pg_binary_type> out;
  for (const auto& c : cols) {
    const auto b = codecs::pg_binary_type_of(c.type_oid);
    if (!b) return {};
    out.push_back(*b);
  }
  return out;
}

std::string text_reason(const load_settings& s,
                        const std::vector<codecs::doris_source_column>& cols) {
  if (!s.binary_copy) return " (doris.binary_copy = false)";
  if (s.target.format != codecs::doris_format::csv) return " (format=json)";
  for (const auto& c : cols)
    if (!codecs::pg_binary_type_of(c.type_oid))
      return fmt::format(" (column {} is {})", c.name, c.pg_type);
  return {};
}

connectors::doris::http_headers load_headers(const load_settings& s,
                                             const codecs::doris_row_writer& w,
                                             const job_options& opts, const table_info& t) {
  connectors::doris::http_headers h;
  for (auto& [k, v] : w.headers()) {
    if (k == "columns") {
      std::string user = table_setting(opts, t.schema, t.name, "doris_columns");
      if (user.empty()) user = s.columns;
      h.emplace_back(k, user.empty() ? v : user);
    } else {
      h.emplace_back(k, v);
    }
  }
  // Rows that do not fit their column are reported as filtered, never loaded as NULL.
  h.emplace_back("strict_mode", "true");
  std::string where = table_setting(opts, t.schema, t.name, "doris_where");
  if (where.empty()) where = s.where;
  if (!where.empty()) h.emplace_back("where", where);
  if (!s.max_filter_ratio.empty()) h.emplace_back("max_filter_ratio", s.max_filter_ratio);
  if (s.two_phase) h.emplace_back("two_phase_commit", "true");
  if (!s.group_commit.empty()) h.emplace_back("group_commit", s.group_commit);
  if (!s.compress.empty()) h.emplace_back("compress_type", s.compress);
  if (s.load_timeout_s > 0) h.emplace_back("timeout", std::to_string(s.load_timeout_s));
  return h;
}

std::string job_fingerprint(const codecs::endpoint& s, const load_settings& c,
                            const std::deque<std::unique_ptr<table_target>>& tables) {
  std::vector<std::string> parts{codecs::redacted_url(s),
                                 c.target.fe.host,
                                 c.target.database,
                                 std::string(codecs::to_string(c.target.format)),
                                 c.two_phase ? "2pc" : "",
                                 c.group_commit,
                                 c.compress};
  for (const auto& t : tables)
    parts.push_back(t->info.display() + ">" + t->doris_table);
  return fingerprint(parts);
}

/// Discovers the tables, plans their chunks (a multiple of the worker count each) and sets up
/// each one's Doris target (writer, headers, labels) in `j.tables`.
asio::awaitable<void> plan_tables(job& j, pg::connection& holder) {
  std::vector<table_info> found = co_await discover_tables(holder, make_filter(j.opts));
  if (found.empty())
    throw usage_error("no source table matches --tables/--exclude: nothing to load");
  job_options planning = j.opts;
  // Each chunk is one Doris transaction: 64 MB keeps several loads busy at once.
  planning.settings.emplace("copy.chunk_size", "64MB");
  // Doris needs no key order: block ranges read each page once (measured ~9% faster).
  planning.settings.emplace("copy.chunk_by", "ctid");
  // A table split in a multiple of the worker count keeps every worker busy to its end (9
  // chunks over 2 workers left one core idle for most of a chunk).
  const std::int64_t chunk_bytes = make_chunk_policy(planning).chunk_bytes;
  const auto nworkers = static_cast<std::int64_t>(j.cfg.workers);
  for (const auto& ti : found) {
    if (!table_setting(j.opts, ti.schema, ti.name, "chunks").empty() ||
        !table_setting(j.opts, ti.schema, ti.name, "chunk_size").empty() ||
        !table_setting(j.opts, ti.schema, ti.name, "ranges").empty())
      continue;
    const std::int64_t n = (ti.bytes + chunk_bytes - 1) / chunk_bytes;
    if (n <= 1) continue;
    planning.settings[fmt::format("tables.{}.{}.chunks", ti.schema, ti.name)] =
        std::to_string((n + nworkers - 1) / nworkers * nworkers);
  }
  std::vector<planned_table> plan = co_await make_plan(holder, found, planning);
  for (auto& ti : found) {
    std::vector<codecs::doris_source_column> cols = co_await columns_of(holder, ti);
    table_info info = ti;
    std::vector<codecs::doris_column> writer_cols = codecs::doris_columns_of(cols);
    info.columns = select_list(writer_cols);
    std::string target = table_setting(j.opts, ti.schema, ti.name, "doris_table");
    if (target.empty()) target = ti.root_name;  // partitions load into their root's table
    auto t = std::make_unique<table_target>(
        std::move(info), std::move(target),
        codecs::doris_row_writer(j.cfg.target.format, std::move(writer_cols)));
    if (j.cfg.binary_copy && j.cfg.target.format == codecs::doris_format::csv)
      t->binary = binary_types(cols);
    t->copy_format_note =
        t->binary.empty() ? "COPY text" + text_reason(j.cfg, cols) : std::string("COPY binary");
    t->label_stem = label_stem(ti.schema, ti.name);
    t->headers = load_headers(j.cfg, t->writer, j.opts, ti);
    check_headers(*t, t->writer.columns());
    for (const auto& p : plan)
      if (p.schema == ti.schema && p.name == ti.name) t->plan = p;
    j.tables.push_back(std::move(t));
  }
}

/// The saved plan's chunks replace the ones just made (a resume, a worker joining a round).
void use_saved_plan(job& j) {
  const auto saved = j.state.load_plan();
  for (auto& t : j.tables)
    for (const auto& p : saved)
      if (p.schema == t->info.schema && p.name == t->info.name) t->plan = p;
}

/// --restart: precommitted transactions of the job being replaced must not stay open in Doris.
asio::awaitable<void> start_over(job& j, connectors::doris::http_client& http) {
  if (!j.state.get("doris.token").value_or("").empty())
    co_await settle_precommitted(j, http, false);
  j.state.reset();
}

run_start run_record(const job& j) {
  std::string preset = "doris";
  if (!j.opts.preset.empty()) preset = j.opts.preset;
  std::optional<std::string> snapshot;  // workers: not known yet (set_run_snapshot)
  if (!j.snapshot.empty()) snapshot = j.snapshot;
  return {j.opts.command,
          preset,
          codecs::redacted_url(j.source),
          codecs::redacted_url(j.opts.target_endpoint()),
          snapshot,
          j.leased};
}

/// Starts over (--restart; workers: join_round did), resumes the plan in the state store or
/// saves this one, and records the run (workers: join_round did).
asio::awaitable<void> open_state(job& j, connectors::doris::http_client& http,
                                 const std::string& fp, std::optional<std::int64_t>& run_id) {
  state_store& state = j.state;
  if (j.opts.restart && !j.leased) co_await start_over(j, http);
  const bool resuming = state.has_plan() && state.get("doris.fingerprint") == fp;
  if (state.has_plan() && !resuming)
    throw usage_error(fmt::format(
        "{} holds another job (different source, target or tables): use --restart to start "
        "over, or another {}",
        j.leased ? "job " + state.where() : "the state directory " + j.opts.state_dir.string(),
        j.leased ? "--job" : "--state-dir"));
  if (!resuming) {
    std::vector<planned_table> saved;
    for (const auto& t : j.tables)
      saved.push_back(t->plan);
    state.save_plan(saved);
    state.put("doris.fingerprint", fp);
    state.put("doris.token", random_token());
  } else {
    use_saved_plan(j);
    spdlog::info(
        "resuming the job in {}: chunks already loaded are skipped (their labels make Doris "
        "refuse them again); the previous snapshot ended with its process, so this run reads "
        "under a fresh one",
        j.leased ? state.where() : j.opts.state_dir.string());
  }
  j.token = *state.get("doris.token");
  if (!j.leased) run_id = state.begin_run(run_record(j));
}

/// Workers (a --state-url state): starts over on --restart unless the job's workers run,
/// records the run and joins the job's round (the first to arrive coordinates).
asio::awaitable<void> join_round(job& j, connectors::doris::http_client& http,
                                 std::optional<std::int64_t>& run_id) {
  state_store& state = j.state;
  if (j.opts.restart && live_coordinator(state))
    spdlog::info("--restart: not applied, the job's workers are running (this one joins them)");
  else if (j.opts.restart)
    co_await start_over(j, http);
  run_id = state.begin_run(run_record(j));
  j.run_id = *run_id;
  j.worker = worker_name(j.opts, j.run_id);
  const worker_round r = co_await join_workers(
      state, j.rt, j.run_id, j.worker, definition_of(j.opts, j.source, j.opts.target_endpoint()));
  j.coord.start(r, j.worker, {}, j.opts.config.bulk.allow_inconsistent);
  if (r.coordinator) state.erase(published_snapshot_key);
}

/// A worker that joined a round: the coordinator's plan and labels (the same tables, checked).
void take_plan(job& j, const std::string& fp) {
  if (j.state.get("doris.fingerprint") != fp)
    throw usage_error(fmt::format(
        "this worker finds other tables (or another Doris database, format or load mode) than "
        "job {} plans: start every worker of a job with the same source, target and settings",
        j.state.where()));
  use_saved_plan(j);
  j.token = j.state.get("doris.token").value_or("");
}

/// Workers: the job's last step, once every chunk is in: precommits a dead worker left (its
/// chunk done meanwhile by another) are committed. Not after a stop: live workers may be
/// between a precommit and its commit then.
asio::awaitable<void> finish_job(job& j, connectors::doris::http_client& http) {
  if (j.rt.stop_token().stop_requested() || j.state.chunks_pending() > 0) co_return;
  // Not in one expression with the `if`: GCC 12 mishandles a co_await there.
  const bool mine = co_await lock_job_finish(j.state, j.rt, j.coord.coordinator_run());
  if (!mine) co_return;
  std::exception_ptr error;
  try {
    co_await settle_precommitted(j, http, true);
    spdlog::info("worker {}: job {} is finished (no chunk is left to load)", j.worker,
                 j.state.where());
  } catch (...) {
    error = std::current_exception();
  }
  unlock_job_finish(j.state, j.coord.coordinator_run(), !error);
  if (error) std::rethrow_exception(error);
}

/// The source snapshot: exported (and held open by `holder` until the chunks are in), or a
/// follower's coordinator's. False: the job's other workers finished it.
asio::awaitable<bool> enter_snapshot(job& j, pg::connection& holder) {
  // No co_await inside a condition: GCC 12 mishandles it.
  const bool follower = j.leased && !j.coord.coordinator();
  bool joined = true;
  if (follower) {
    j.snapshot = published(j.state, published_snapshot_key);
    j.coord.start({false, j.coord.coordinator_run()}, j.worker, j.snapshot,
                  j.opts.config.bulk.allow_inconsistent);
    joined = co_await join_coordinator_snapshot(j.state, j.rt, j.coord, holder);
    j.snapshot = j.coord.snapshot();
    if (joined)
      spdlog::info("worker {}: reading under the coordinator's snapshot {}", j.worker, j.snapshot);
  } else {
    j.snapshot = co_await export_snapshot(holder);
    spdlog::info("source snapshot {}", j.snapshot);
    if (j.leased)
      j.coord.start({true, j.run_id}, j.worker, j.snapshot, j.opts.config.bulk.allow_inconsistent);
  }
  if (joined && j.leased) j.state.set_run_snapshot(j.run_id, j.snapshot);
  co_return joined;
}

asio::awaitable<void> run_all(job& j, run_state& rs, std::optional<std::int64_t>& run_id,
                              const reporter_options& reporter_opts) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection holder = co_await connect_endpoint(ex, j.source, "source");
  co_await apply_settings(holder, text_profile::portable, "setting up the source session");
  std::exception_ptr error;
  try {
    connectors::doris::http_client http(ex, j.http_options());
    if (j.leased) {
      // Before the round: a --restart aborts the replaced job's precommits through the FE.
      co_await preflight(j, http);
      co_await join_round(j, http, run_id);
    }
    const bool follower = j.leased && !j.coord.coordinator();
    const bool joined = co_await enter_snapshot(j, holder);
    if (joined) {
      co_await plan_tables(j, holder);
      const std::string fp = job_fingerprint(j.source, j.cfg, j.tables);
      if (!j.leased) co_await preflight(j, http);
      if (follower) {
        take_plan(j, fp);
      } else {
        co_await open_state(j, http, fp, run_id);
        // A run (or worker) killed between precommit and commit left transactions to commit.
        co_await settle_precommitted(j, http, true);
      }
      if (j.leased && !follower) {
        publish_plan(j.state, j.run_id, {{published_snapshot_key, j.snapshot}});
        co_await wait_for_workers(j.state, j.rt, j.opts);
      }
      co_await load_tables(j, j.rt, rs, reporter_opts);
      if (j.leased) co_await finish_job(j, http);
    }
  } catch (...) {
    error = std::current_exception();
  }
  (void)co_await holder.query("COMMIT");  // the coordinator: releases the workers' snapshot
  co_await holder.close();
  if (error) std::rethrow_exception(error);
}

/// The tables that failed (printable names); workers: whichever worker failed them (added to
/// `rs.failures` when another did).
std::vector<std::string> failed_tables(const job& j, run_state& rs, bool recorded) {
  std::vector<std::string> failed;
  for (const auto& tt : j.tables)
    if (tt->failed) failed.push_back(codecs::printable(tt->info.display()));
  if (!j.leased || !recorded) return failed;
  for (const auto& r : j.state.status_snapshot().tables) {
    if (r.status != "failed") continue;
    const std::string name = codecs::printable(r.schema + "." + r.name);
    if (std::find(failed.begin(), failed.end(), name) != failed.end()) continue;
    failed.push_back(name);
    rs.failures.push_back(name + ": " + r.error);
  }
  return failed;
}

}  // namespace

}  // namespace doris

int doris::run(const job_spec& opts) {
  if (opts.source_endpoint().kind() != codecs::endpoint_kind::postgres)
    throw usage_error("--source: Doris targets load from PostgreSQL");
  const auto& target = std::get<codecs::doris_endpoint>(opts.target_endpoint().spec);
  doris::load_settings cfg = doris::make_settings(opts, target);
  const reporter_options reporter_opts = make_reporter_options(opts);
  const std::size_t threads =
      std::min<std::size_t>(cfg.workers, std::max(1u, std::thread::hardware_concurrency()));
  io::runtime rt(1 + threads);
  const state_location at = state_location_of(opts);
  const bool workers = !at.url.empty();
  check_worker_flag(opts, workers);
  state_store state = state_store::open(at);
  doris::job j(opts, opts.source_endpoint(), std::move(cfg), state, rt);
  j.leased = workers;
  doris::run_state rs;
  std::optional<std::int64_t> run_id;
  const auto started = std::chrono::steady_clock::now();
  std::string error;
  try {
    rt.run([&]() -> asio::awaitable<void> {
      io::deadline deadline(rt, opts.max_runtime);
      co_await doris::run_all(j, rs, run_id, reporter_opts);
    }());
  } catch (const usage_error& e) {
    if (run_id) state.end_run(*run_id, run_status::failed, e.what());
    throw;
  } catch (const connectors::postgres::error& e) {
    error = e.diag().to_string();
  } catch (const std::exception& e) {
    error = e.what();
  }
  const std::vector<std::string> failed = failed_tables(j, rs, run_id.has_value());
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (run_id) {
    std::cout.flush();
    print_summary(std::cout, summarize(state.status_snapshot()));
    // Workers: the table above is the job's; the rows are this worker's.
    std::printf(
        "wall time %.2fs: %lld rows loaded into Doris%s (%.0f rows/s)%s\n", secs,
        static_cast<long long>(rs.rows), j.leased ? (" by worker " + j.worker).c_str() : "",
        rs.rows / std::max(secs, 1e-9),
        rs.filtered > 0
            ? fmt::format(", {} rows filtered by Doris (max_filter_ratio)", rs.filtered).c_str()
            : "");
    if (j.coord.inconsistent())
      std::printf(
          "snapshot: not consistent (the coordinator ended; this worker went on under fresh "
          "snapshots: --allow-inconsistent)\n");
    for (const auto& f : rs.failures)
      std::printf("failed: %s\n", f.c_str());
    std::fflush(stdout);
  }
  if (!error.empty()) {
    if (run_id) state.end_run(*run_id, run_status::failed, error);
    throw job_error(error);
  }
  if (const std::string lost = j.coord.lost(); !lost.empty()) {
    state.end_run(*run_id, run_status::interrupted, lost);
    throw job_error(lost);
  }
  if (!rs.failures.empty()) {
    std::string names;
    for (const auto& f : failed)
      names += (names.empty() ? "" : ", ") + f;
    const std::string msg = fmt::format(
        "{} table(s) failed to load: {} (first: {}); fix the cause and run the "
        "same command to load what is missing",
        rs.failures.size(), names, rs.failures.front());
    state.end_run(*run_id, run_status::failed, msg);
    throw job_error(msg);
  }
  if (rs.interrupted || rt.stop_token().stop_requested()) {
    const std::string msg =
        (rt.stop_reason().empty() ? std::string("stopped") : rt.stop_reason()) +
        ": chunks in flight finished, state saved; resume with the same command";
    state.end_run(*run_id, run_status::interrupted, msg);
    throw job_error(msg);
  }
  state.end_run(*run_id, run_status::done, "");
  return 0;
}

}  // namespace uringmig::engine
