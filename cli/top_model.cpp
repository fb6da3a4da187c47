#include "cli/top_model.hpp"

#include "codecs/json_reader.hpp"
#include "codecs/sql_text.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace uringmig::cli {

namespace {

namespace json = codecs::json;

std::optional<double> number(const json::object& o, std::string_view key) {
  const auto* v = o.find(key);
  if (v == nullptr || v->kind != json::kind::number) return std::nullopt;
  return std::strtod(v->text.c_str(), nullptr);
}

std::int64_t integer(const json::object& o, std::string_view key) {
  const auto* v = o.find(key);
  if (v == nullptr) return 0;
  std::int64_t n = 0;
  // A number, or a mark's text ("12345"): the state store keeps marks as strings.
  std::from_chars(v->text.data(), v->text.data() + v->text.size(), n);
  return n;
}

std::string text(const json::object& o, std::string_view key) {
  const auto* v = o.find(key);
  return v != nullptr && v->kind == json::kind::string ? v->text : std::string();
}

bool flag(const json::object& o, std::string_view key) {
  const auto* v = o.find(key);
  return v != nullptr && v->kind == json::kind::boolean && v->text == "true";
}

std::optional<json::object> child(const json::object& o, std::string_view key) {
  const auto* v = o.find(key);
  if (v == nullptr || v->kind != json::kind::object) return std::nullopt;
  auto r = json::read_object(v->text);
  if (!r) return std::nullopt;
  return std::move(*r.value);
}

std::optional<double> mark_number(const std::optional<json::object>& marks, std::string_view key) {
  if (!marks) return std::nullopt;
  const auto* v = marks->find(key);
  if (v == nullptr || v->text.empty() || v->text == "-") return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(v->text.c_str(), &end);
  if (end == v->text.c_str()) return std::nullopt;
  return d;
}

/// A bulk job records no phase: it follows from its tables.
std::string derived_phase(const top_snapshot& s) {
  if (s.state != "running") return s.state.empty() ? "none" : s.state;
  if (s.tables.empty()) return "starting";
  bool copying = false;
  bool indexing = false;
  for (const auto& t : s.tables) {
    if (t.status == "pending" || t.status == "copying") copying = true;
    if (t.status == "copied" || t.status == "indexing") indexing = true;
  }
  if (copying) return "copy";
  if (indexing) return "indexes";
  return "finishing";
}

void read_run(const json::object& doc, top_snapshot& s) {
  auto run = child(doc, "last_run");
  if (!run) return;
  s.run = "#" + std::to_string(integer(*run, "id")) + " " + text(*run, "command");
  if (const auto preset = text(*run, "preset"); !preset.empty()) s.run += " --preset " + preset;
  s.state = text(*run, "status");
  if (s.state == "running" && !s.live) s.state = "stopped";
  s.elapsed_seconds = number(*run, "seconds").value_or(0);
  s.message = codecs::printable(text(*run, "message"));
}

/// Calls `fn` with each object of the array `key` of `doc` (what is not an object is skipped).
template <class Fn>
void for_each_object(const json::object& doc, std::string_view key, Fn fn) {
  const auto* v = doc.find(key);
  if (v == nullptr || v->kind != json::kind::array) return;
  const auto items = json::read_array(v->text);
  if (!items) return;
  for (const auto& item : *items) {
    if (item.kind != json::kind::object) continue;
    const auto o = json::read_object(item.text);
    if (o) fn(*o.value);
  }
}

/// `key`: the stored tables ("tables") or the API's live ones ("table_progress", whose status
/// is called "state" and which carry a live fraction).
void read_tables(const json::object& doc, std::string_view key, top_snapshot& s) {
  for_each_object(doc, key, [&](const json::object& o) {
    top_table t;
    t.name = codecs::printable(text(o, "schema") + "." + text(o, "name"));
    t.status = text(o, "status");
    if (t.status.empty()) t.status = text(o, "state");
    t.fraction = number(o, "fraction");
    t.rows = integer(o, "rows");
    t.bytes = integer(o, "bytes");
    t.chunks_done = static_cast<int>(integer(o, "chunks_done"));
    t.chunks_total = static_cast<int>(integer(o, "chunks_total"));
    t.failed = t.status == "failed";
    s.tables.push_back(std::move(t));
  });
}

/// A shared state's workers ("workers"), with the chunks each holds.
void read_workers(const json::object& doc, top_snapshot& s) {
  for_each_object(doc, "workers", [&](const json::object& o) {
    top_worker w;
    w.name = codecs::printable(text(o, "name"));
    w.state = text(o, "state");
    w.alive = flag(o, "alive");
    w.chunks_done = static_cast<int>(integer(o, "chunks_done"));
    w.rows = integer(o, "rows");
    w.rows_per_second = number(o, "rows_per_second").value_or(0);
    for_each_object(o, "leases", [&](const json::object& lo) {
      if (!w.holds.empty()) w.holds += ", ";
      w.holds += codecs::printable(text(lo, "schema") + "." + text(lo, "name")) + " #" +
                 std::to_string(integer(lo, "chunk_no"));
      if (flag(lo, "expired")) w.holds += " (lease ran out)";
    });
    s.workers.push_back(std::move(w));
  });
}

}  // namespace

double top_snapshot::progress() const noexcept {
  if (fraction) return std::clamp(*fraction, 0.0, 1.0);
  if (chunks_total <= 0) return 0;
  return std::min(1.0, double(chunks_done) / double(chunks_total));
}

std::optional<top_snapshot> parse_status_document(std::string_view json_text, std::string& error) {
  auto r = json::read_object(json_text);
  if (!r) {
    error = "the status document is not JSON: " + r.error;
    return std::nullopt;
  }
  const auto& doc = *r.value;
  if (doc.find("tables") == nullptr || doc.find("last_run") == nullptr) {
    error = "the answer is not a uringmig status document (no \"tables\" / \"last_run\")";
    return std::nullopt;
  }
  top_snapshot s;
  s.live = flag(doc, "live");
  read_run(doc, s);
  // The job's, not its newest run's: a shared state's job runs while any worker lives.
  if (const std::string job = text(doc, "job_state"); !job.empty() && job != "none") s.state = job;
  if (doc.find("table_progress") != nullptr) {
    read_tables(doc, "table_progress", s);
  } else {
    read_tables(doc, "tables", s);
  }
  if (const auto totals = child(doc, "totals")) {
    s.rows = integer(*totals, "rows");
    s.bytes = integer(*totals, "bytes");
    s.chunks_done = static_cast<int>(integer(*totals, "chunks_done"));
    s.chunks_total = static_cast<int>(integer(*totals, "chunks_total"));
    s.tables_done = static_cast<int>(integer(*totals, "tables_done"));
  }
  read_workers(doc, s);
  const auto marks = child(doc, "marks");
  if (const auto lag = mark_number(marks, "online.lag_bytes"))
    s.lag_bytes = static_cast<std::int64_t>(*lag);
  s.lag_seconds = mark_number(marks, "online.lag_seconds");

  // Live fields of the HTTP API's document, when present. Offline, a pause over HTTP shows as
  // the job's `http.paused` mark — believed only while the job's process lives (a process
  // killed while paused leaves the mark behind).
  const auto* paused_mark = marks ? marks->find("http.paused") : nullptr;
  s.paused =
      flag(doc, "paused") || (s.live && paused_mark != nullptr && paused_mark->text == "true");
  if (const auto e = number(doc, "elapsed_seconds")) s.elapsed_seconds = *e;
  if (const auto p = child(doc, "progress")) {
    s.rows = integer(*p, "rows");
    s.bytes = integer(*p, "bytes");
    s.chunks_done = static_cast<int>(integer(*p, "chunks_done"));
    s.chunks_total = static_cast<int>(integer(*p, "chunks_total"));
    s.tables_done = static_cast<int>(integer(*p, "tables_done"));
    s.fraction = number(*p, "fraction");
    s.rows_per_second = number(*p, "rows_per_second");
    s.bytes_per_second = number(*p, "bytes_per_second");
  }
  // The API always carries "cdc"; its lag means something only while the job follows.
  if (const auto cdc = child(doc, "cdc"); cdc && flag(*cdc, "active")) {
    if (const auto b = number(*cdc, "lag_bytes")) s.lag_bytes = static_cast<std::int64_t>(*b);
    if (const auto t = number(*cdc, "lag_seconds")) s.lag_seconds = *t;
  }
  s.phase = text(doc, "phase");
  if (s.phase.empty() && marks) s.phase = text(*marks, "online.phase");
  if (s.phase.empty() || s.state != "running") s.phase = derived_phase(s);
  return s;
}

std::optional<std::string> format_log_json(std::string_view json_line) {
  const auto r = json::read_object(json_line);
  if (!r) return std::nullopt;
  const auto ts = text(*r.value, "ts");
  const auto* msg = r.value->find("msg");
  if (msg == nullptr || msg->kind != json::kind::string) return std::nullopt;
  // "2026-12-07T13:41:32.123Z" -> "13:41:32"
  const std::string clock = ts.size() >= 19 ? ts.substr(11, 8) : ts;
  std::string level = text(*r.value, "level");
  level.resize(5, ' ');
  return clock + " " + level + " " + codecs::printable(msg->text);
}

void rate_meter::add(double now, std::int64_t rows, std::int64_t bytes) {
  if (!samples_.empty() && (rows < samples_.back().rows || now <= samples_.back().t)) {
    samples_.clear();  // a new run started over, or the clock did not move
  }
  samples_.push_back({now, rows, bytes});
  while (samples_.size() > 2 && samples_.back().t - samples_[1].t >= window_)
    samples_.pop_front();
}

std::optional<double> rate_meter::rate(std::int64_t sample::*field) const {
  if (samples_.size() < 2) return std::nullopt;
  const auto& a = samples_.front();
  const auto& b = samples_.back();
  return double(b.*field - a.*field) / (b.t - a.t);
}

std::optional<double> rate_meter::rows_per_second() const {
  return rate(&sample::rows);
}

std::optional<double> rate_meter::bytes_per_second() const {
  return rate(&sample::bytes);
}

}  // namespace uringmig::cli
