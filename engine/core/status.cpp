#include "engine/core/status.hpp"

#include "codecs/json_text.hpp"
#include "codecs/sql_text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <ostream>

namespace uringmig::engine {

namespace {

constexpr double mb = 1e6;

/// What the run's status means now: a "running" row without a live process is stale.
std::string run_state(const run_row& r, bool live) {
  if (r.status != "running") return r.status;
  return live ? "running" : "stopped without an outcome (killed?); the next run resumes";
}

/// Whether the process of `s`'s last run lives: on a shared state its own worker row says so
/// (others may live while it is dead), else `live`.
bool last_run_live(const job_status& s, bool live) {
  if (s.location.empty() || !s.last_run) return live;
  for (const auto& w : s.workers)
    if (w.run_id == s.last_run->id) return w.alive;
  return live;
}

std::string json_str(std::string_view s) {
  return codecs::json_string(s);
}

std::string json_opt(const std::optional<std::string>& s) {
  return s ? json_str(*s) : "null";
}

std::string json_num(double v) {
  return std::isfinite(v) ? fmt::format("{:.3f}", v) : "null";
}

struct totals {
  int tables_done = 0;
  int tables_failed = 0;
  int chunks_total = 0;
  int chunks_done = 0;
  int chunks_failed = 0;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  std::int64_t bytes_planned = 0;
  int indexes_total = 0;
  int indexes_done = 0;
  int indexes_failed = 0;
};

totals sum(const job_status& s) {
  totals t;
  for (const auto& r : s.tables) {
    if (r.status == "done") ++t.tables_done;
    if (r.status == "failed") ++t.tables_failed;
    t.chunks_total += r.chunks_total;
    t.chunks_done += r.chunks_done;
    t.chunks_failed += r.chunks_failed;
    t.rows += r.rows_copied;
    t.bytes += r.bytes_copied;
    t.bytes_planned += r.bytes;
    t.indexes_total += r.indexes_total;
    t.indexes_done += r.indexes_done;
    t.indexes_failed += r.indexes_failed;
  }
  return t;
}

std::string fraction(int done, int total) {
  return std::to_string(done) + "/" + std::to_string(total);
}

/// Whether a kv mark is worth showing: a pause mark only while a job is live (a process killed
/// while paused leaves it behind).
bool shown_mark(std::string_view key, bool live) {
  return live || key != http_paused_mark;
}

double rows_per_second(const worker_row& w) {
  return w.seconds > 0 ? double(w.rows) / w.seconds : 0;
}

/// "public.t #3 (lease to 12:00:03Z)"; a lease that ran out says so.
std::string lease_text(const worker_lease& l) {
  const auto t = l.lease_until.find('T');
  const std::string until = t == std::string::npos ? l.lease_until : l.lease_until.substr(t + 1);
  return fmt::format("{}.{} #{} ({} {})", codecs::printable(l.schema), codecs::printable(l.name),
                     l.chunk_no, l.expired ? "lease ran out at" : "lease to", until);
}

/// The workers of a shared state, when there are any: one line each, then the chunks each
/// holds. A dead worker's leases are taken again once they run out.
void print_workers(std::ostream& out, const job_status& s) {
  if (s.workers.empty()) return;
  int alive = 0;
  for (const auto& w : s.workers)
    alive += w.alive ? 1 : 0;
  out << fmt::format("\nworkers ({} alive of {})\n", alive, s.workers.size());
  std::size_t width = 6;
  for (const auto& w : s.workers)
    width = std::max(width, std::min<std::size_t>(w.name.size(), 48));
  const auto row = [&](std::string_view name, std::string_view state, std::string_view heartbeat,
                       std::string_view chunks, std::string_view rows, std::string_view mbs,
                       std::string_view rate) {
    auto text = fmt::format("{:<{}}  {:<6} {:<24} {:>6} {:>12} {:>10} {:>10}", name, width, state,
                            heartbeat, chunks, rows, mbs, rate);
    text.erase(text.find_last_not_of(' ') + 1);
    out << text << '\n';
  };
  row("worker", "state", "last heartbeat", "chunks", "rows", "MB", "rows/s");
  for (const auto& w : s.workers) {
    row(codecs::printable(w.name), w.state, w.last_heartbeat.value_or("-"),
        std::to_string(w.chunks_done), std::to_string(w.rows),
        fmt::format("{:.1f}", double(w.bytes) / mb), fmt::format("{:.0f}", rows_per_second(w)));
    for (const auto& l : w.leases)
      out << "  holds " << lease_text(l)
          << (w.alive ? ""
                      : ": its worker is dead, the chunk is taken again once the lease runs out")
          << '\n';
  }
}

std::string workers_json(const job_status& s) {
  std::string j = "[";
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    const auto& w = s.workers[i];
    if (i > 0) j += ',';
    j += fmt::format(
        "{{\"name\":{},\"run_id\":{},\"host\":{},\"pid\":{},\"alive\":{},\"state\":{},"
        "\"started_at\":{},\"last_heartbeat\":{},\"chunks_done\":{},\"rows\":{},\"bytes\":{},"
        "\"seconds\":{},\"rows_per_second\":{},\"leases\":[",
        json_str(w.name), w.run_id, json_str(w.host), w.pid, w.alive ? "true" : "false",
        json_str(w.state), json_str(w.started_at), json_opt(w.last_heartbeat), w.chunks_done,
        w.rows, w.bytes, json_num(w.seconds), json_num(rows_per_second(w)));
    for (std::size_t k = 0; k < w.leases.size(); ++k) {
      const auto& l = w.leases[k];
      if (k > 0) j += ',';
      j += fmt::format(
          "{{\"schema\":{},\"name\":{},\"chunk_no\":{},\"lease_until\":{},\"expired\":{}}}",
          json_str(l.schema), json_str(l.name), l.chunk_no, json_str(l.lease_until),
          l.expired ? "true" : "false");
    }
    j += "]}";
  }
  return j + "]";
}

}  // namespace

int run_status(const job_options& opts) {
  return run_status(opts, std::cout);
}

int run_status(const job_options& opts, std::ostream& out) {
  const auto& dir = opts.state_dir;
  const state_location at = state_location_of(opts);
  auto store = state_store::open_existing(at);
  if (!store && !at.url.empty())
    throw usage_error("no job " + at.job +
                      " in the state database (check --job, or run the job "
                      "with this --state-url first)");
  if (!store) {
    throw usage_error("no job state in " + dir.string() + " (run a job with --state-dir " +
                      dir.string() + " first)");
  }
  const auto s = store->status_snapshot();
  const bool live = at.url.empty() ? state_store::in_use(dir) : s.live_runs > 0;
  if (opts.json) {
    print_status_json(out, s, dir, live);
  } else {
    print_status(out, s, dir, live);
  }
  out.flush();
  return 0;
}

void print_status(std::ostream& out, const job_status& s, const std::filesystem::path& state_dir,
                  bool live) {
  out << "state     " << (s.location.empty() ? (state_dir / "state.db").string() : s.location)
      << '\n';
  if (s.last_run) {
    const auto& r = *s.last_run;
    out << fmt::format("run       #{} {}{}: {}\n", r.id, r.command,
                       r.preset.empty() ? "" : " --preset " + r.preset,
                       run_state(r, last_run_live(s, live)));
    if (r.finished_at) {
      out << fmt::format("started   {}, finished {} ({})\n", r.started_at, *r.finished_at,
                         format_seconds(r.seconds));
    } else {
      out << fmt::format("started   {} ({} ago)\n", r.started_at, format_seconds(r.seconds));
    }
    if (!r.source_redacted.empty()) out << "source    " << r.source_redacted << '\n';
    if (!r.target_redacted.empty()) out << "target    " << r.target_redacted << '\n';
    out << "snapshot  " << r.snapshot.value_or("none") << '\n';
    if (!r.message.empty()) out << "message   " << r.message << '\n';
    out << "runs      " << s.run_count << " recorded\n";
    if (!s.location.empty())
      out << "job       " << job_state(s, live)
          << (s.live_runs > 0 ? fmt::format(" ({} of its processes alive)", s.live_runs) : "")
          << '\n';
  } else {
    out << "run       none recorded\n";
  }
  // An online job: its follow state in one line (the follower refreshes it every second).
  const auto mark = [&s](const char* key) {
    auto it = s.kv.find(key);
    return it == s.kv.end() ? std::string("-") : it->second;
  };
  static constexpr const char* follow_keys[] = {"online.phase",      "online.applied_lsn",
                                                "online.lag_bytes",  "online.lag_seconds",
                                                "online.apply_rate", "online.apply_queue"};
  if (s.kv.count("online.phase") != 0) {
    out << fmt::format(
        "online    {}; applied to {}; lag {} bytes / {} s; {} changes/s; {} transactions "
        "queued\n",
        mark("online.phase"), mark("online.applied_lsn"), mark("online.lag_bytes"),
        mark("online.lag_seconds"), mark("online.apply_rate"), mark("online.apply_queue"));
  }
  for (const auto& [key, value] : s.kv) {
    if (std::find(std::begin(follow_keys), std::end(follow_keys), key) != std::end(follow_keys) ||
        !shown_mark(key, live))
      continue;
    out << "mark      " << key << " = " << value << '\n';
  }

  out << '\n';
  if (s.tables.empty()) {
    out << "no plan saved yet\n";
    print_workers(out, s);
    return;
  }
  const auto tot = sum(s);
  std::string label = fmt::format("total ({} tables, {} done", s.tables.size(), tot.tables_done);
  if (tot.tables_failed > 0) label += fmt::format(", {} failed", tot.tables_failed);
  label += ")";
  std::size_t w = label.size();
  for (const auto& t : s.tables)
    w = std::max(w, std::min<std::size_t>(t.schema.size() + 1 + t.name.size(), 48));
  const auto row = [&](std::string_view table, std::string_view status, std::string_view chunks,
                       std::string_view rows, std::string_view mbs, std::string_view indexes,
                       std::string_view copy, std::string_view index) {
    auto text = fmt::format("{:<{}}  {:<9} {:>9} {:>12} {:>10} {:>8} {:>8} {:>8}", table, w, status,
                            chunks, rows, mbs, indexes, copy, index);
    text.erase(text.find_last_not_of(' ') + 1);
    out << text << '\n';
  };
  row("table", "status", "chunks", "rows", "MB", "indexes", "copy", "index");
  for (const auto& t : s.tables) {
    row(codecs::printable(t.schema + "." + t.name), t.status,
        fraction(t.chunks_done, t.chunks_total), std::to_string(t.rows_copied),
        fmt::format("{:.1f}", double(t.bytes_copied) / mb),
        fraction(t.indexes_done, t.indexes_total), format_seconds(t.copy_seconds),
        format_seconds(t.index_seconds));
  }
  row(label, "", fraction(tot.chunks_done, tot.chunks_total), std::to_string(tot.rows),
      fmt::format("{:.1f}", double(tot.bytes) / mb), fraction(tot.indexes_done, tot.indexes_total),
      "", "");
  print_workers(out, s);

  bool header = false;
  const auto problem = [&](const std::string& line) {
    if (!header) out << "\nproblems\n";
    header = true;
    out << "  " << line << '\n';
  };
  for (const auto& t : s.tables) {
    if (!t.error.empty()) problem(fmt::format("table {}.{}: {}", t.schema, t.name, t.error));
  }
  for (const auto& c : s.failed_chunks) {
    problem(fmt::format("chunk {} of {}.{} ({} attempts): {}", c.chunk_no, c.schema, c.name,
                        c.attempts, c.error));
  }
  for (const auto& i : s.indexes) {
    if (i.status == "failed") {
      problem(fmt::format("index {} on {}.{}: {}", i.index_name, i.schema, i.table_name, i.error));
    }
  }
}

void print_status_json(std::ostream& out, const job_status& s,
                       const std::filesystem::path& state_dir, bool live) {
  out << status_json(s, state_dir, live) << '\n';
}

std::string status_json(const job_status& s, const std::filesystem::path& state_dir, bool live) {
  std::string j = "{\"state_dir\":" + json_str(state_dir.string());
  if (!s.location.empty()) j += ",\"state\":" + json_str(s.location);
  j += ",\"live\":";
  j += live ? "true" : "false";
  j += ",\"job_state\":" + json_str(job_state(s, live));
  j += ",\"runs\":" + std::to_string(s.run_count) + ",\"last_run\":";
  if (s.last_run) {
    const auto& r = *s.last_run;
    j += fmt::format(
        "{{\"id\":{},\"command\":{},\"preset\":{},\"status\":{},\"state\":{},\"started_at\":{},"
        "\"finished_at\":{},\"seconds\":{},\"snapshot\":{},\"source\":{},\"target\":{},"
        "\"message\":{}}}",
        r.id, json_str(r.command), json_str(r.preset), json_str(r.status),
        json_str(run_state(r, last_run_live(s, live))), json_str(r.started_at),
        json_opt(r.finished_at), json_num(r.seconds), json_opt(r.snapshot),
        json_str(r.source_redacted), json_str(r.target_redacted), json_str(r.message));
  } else {
    j += "null";
  }
  j += ",\"tables\":[";
  for (std::size_t i = 0; i < s.tables.size(); ++i) {
    const auto& t = s.tables[i];
    if (i > 0) j += ',';
    j += fmt::format(
        "{{\"schema\":{},\"name\":{},\"status\":{},\"bytes_planned\":{},\"rows_estimate\":{},"
        "\"chunks_total\":{},\"chunks_done\":{},\"chunks_failed\":{},\"rows\":{},\"bytes\":{},"
        "\"copy_seconds\":{},\"index_seconds\":{},\"indexes_total\":{},\"indexes_done\":{},"
        "\"indexes_failed\":{},\"error\":{}}}",
        json_str(t.schema), json_str(t.name), json_str(t.status), t.bytes, t.rows_estimate,
        t.chunks_total, t.chunks_done, t.chunks_failed, t.rows_copied, t.bytes_copied,
        json_num(t.copy_seconds), json_num(t.index_seconds), t.indexes_total, t.indexes_done,
        t.indexes_failed, t.error.empty() ? "null" : json_str(t.error));
  }
  j += "],\"indexes\":[";
  for (std::size_t i = 0; i < s.indexes.size(); ++i) {
    const auto& x = s.indexes[i];
    if (i > 0) j += ',';
    j += fmt::format(
        "{{\"schema\":{},\"table\":{},\"name\":{},\"kind\":{},\"status\":{},\"seconds\":{},"
        "\"error\":{}}}",
        json_str(x.schema), json_str(x.table_name), json_str(x.index_name), json_str(x.kind),
        json_str(x.status), json_num(x.seconds), x.error.empty() ? "null" : json_str(x.error));
  }
  j += "],\"failed_chunks\":[";
  for (std::size_t i = 0; i < s.failed_chunks.size(); ++i) {
    const auto& c = s.failed_chunks[i];
    if (i > 0) j += ',';
    j += fmt::format("{{\"schema\":{},\"name\":{},\"chunk_no\":{},\"attempts\":{},\"error\":{}}}",
                     json_str(c.schema), json_str(c.name), c.chunk_no, c.attempts,
                     json_str(c.error));
  }
  j += "]";
  // A shared state: its workers (none for a job run by one process).
  if (!s.location.empty()) j += ",\"workers\":" + workers_json(s);
  j += ",\"marks\":{";
  bool first = true;
  for (const auto& [key, value] : s.kv) {
    if (!shown_mark(key, live)) continue;
    if (!first) j += ',';
    first = false;
    j += json_str(key) + ":" + json_str(value);
  }
  const auto t = sum(s);
  j += fmt::format(
      "}},\"totals\":{{\"tables\":{},\"tables_done\":{},\"tables_failed\":{},\"chunks_total\":{},"
      "\"chunks_done\":{},\"chunks_failed\":{},\"rows\":{},\"bytes\":{},\"bytes_planned\":{},"
      "\"indexes_total\":{},\"indexes_done\":{},\"indexes_failed\":{}}}}}",
      s.tables.size(), t.tables_done, t.tables_failed, t.chunks_total, t.chunks_done,
      t.chunks_failed, t.rows, t.bytes, t.bytes_planned, t.indexes_total, t.indexes_done,
      t.indexes_failed);
  return j;
}

std::string job_state(const job_status& s, bool live) {
  if (!s.location.empty() && s.live_runs > 0) return "running";
  if (!s.last_run) return "none";
  const std::string& st = s.last_run->status;
  if (st != "running") return st;
  return live && s.location.empty() ? "running" : "stopped";
}

std::vector<table_summary> summarize(const job_status& s) {
  std::vector<table_summary> out;
  out.reserve(s.tables.size());
  for (const auto& t : s.tables) {
    out.push_back({t.schema + "." + t.name, t.status, t.rows_copied, t.bytes_copied, t.copy_seconds,
                   t.index_seconds, t.error});
  }
  return out;
}

}  // namespace uringmig::engine
