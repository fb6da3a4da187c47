#include "cli/top_screen.hpp"

#include "engine/core/progress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace uringmig::cli {

namespace {

constexpr int header_lines = 4;      // title, phase line, overall bar, blank
constexpr int max_log_lines = 200;   // tables come first; the log takes what is left
constexpr int max_worker_lines = 8;  // a shared state's workers, above the tables

/// The workers block's lines: its heading and one per worker (none without workers).
int worker_lines(const top_snapshot& s) {
  if (s.workers.empty()) return 0;
  return 1 + std::min<int>(max_worker_lines, static_cast<int>(s.workers.size()));
}

std::string worker_line(const top_worker& w) {
  return fit_columns(w.name, 28) + " " + fit_columns(w.state, 6) +
         fmt::format(" {:>6} {:>9} {:>9}/s  ", w.chunks_done, engine::format_count(w.rows),
                     engine::format_count(static_cast<std::int64_t>(
                         std::llround(std::max(0.0, w.rows_per_second))))) +
         (w.holds.empty() ? "-" : "holds " + w.holds);
}

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0U) == 0x80U;
}

std::string rate_text(std::optional<double> v, bool bytes) {
  if (!v || !std::isfinite(*v)) return "-";
  const auto n = static_cast<std::int64_t>(std::llround(std::max(0.0, *v)));
  return bytes ? engine::format_bytes(n) + "/s" : engine::format_count(n);
}

std::string lag_text(const top_snapshot& s) {
  if (!s.lag_bytes && !s.lag_seconds) return "-";
  std::string t = s.lag_bytes ? engine::format_bytes(*s.lag_bytes) : "-";
  if (s.lag_seconds) t += " / " + engine::format_seconds(*s.lag_seconds);
  return t;
}

double table_fraction(const top_table& t) {
  if (t.fraction) return std::clamp(*t.fraction, 0.0, 1.0);
  if (t.status == "done" || t.status == "copied" || t.status == "indexing") return 1;
  if (t.chunks_total <= 0) return 0;
  return std::min(1.0, double(t.chunks_done) / double(t.chunks_total));
}

struct layout {
  int log_rows = 0;    // log lines shown (their heading not counted)
  int table_rows = 0;  // table lines shown (their heading not counted)
};

layout plan_layout(const top_snapshot& s, const top_view& view, int height) {
  layout l;
  const int body = height - header_lines - worker_lines(s) - 1;  // the last line: the notice
  if (body <= 1) return l;
  const int wanted_log = std::min<int>(max_log_lines, static_cast<int>(view.log.size()));
  l.log_rows = std::clamp((body - 2) / 2, 0, wanted_log);
  const int log_block = l.log_rows > 0 ? l.log_rows + 1 : 0;
  l.table_rows = std::max(0, body - log_block - 1);
  l.table_rows = std::min<int>(l.table_rows, static_cast<int>(s.tables.size()));
  // Tables that fit leave their unused lines to the log.
  if (l.log_rows < wanted_log) {
    const int spare = body - 1 - l.table_rows - log_block - (l.log_rows == 0 ? 1 : 0);
    l.log_rows = std::min(wanted_log, l.log_rows + std::max(0, spare));
  }
  return l;
}

std::string table_line(const top_table& t, int width) {
  const int name_w = std::clamp(width - 48, 8, 40);
  const int bar_w = std::clamp(width - name_w - 38, 0, 30);
  const auto chunks = fmt::format("{}/{}", t.chunks_done, t.chunks_total);
  std::string line = fit_columns(t.name, name_w) + " " + fit_columns(t.status, 9);
  if (bar_w >= 5) line += " " + progress_bar(table_fraction(t), bar_w);
  line += fmt::format(" {:>4.0f}% {:>9} {:>9}", table_fraction(t) * 100,
                      engine::format_count(t.rows), chunks);
  return line;
}

std::string table_heading(int width) {
  const int name_w = std::clamp(width - 48, 8, 40);
  const int bar_w = std::clamp(width - name_w - 38, 0, 30);
  std::string line = fit_columns("table", name_w) + " " + fit_columns("status", 9);
  if (bar_w >= 5) line += " " + fit_columns("progress", bar_w);
  line += fmt::format(" {:>5} {:>9} {:>9}", "", "rows", "chunks");
  return line;
}

std::string keys_line(const top_view& view) {
  if (view.actions) return "q quit  p pause  r resume  s switchover  j/k scroll";
  return "q quit  j/k scroll  (p/r/s need --http URL and a token: --token or UM_HTTP_TOKEN)";
}

}  // namespace

std::string fit_columns(std::string_view text, int width) {
  std::string out;
  int cols = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!is_continuation(text[i])) {
      if (cols == width) break;
      ++cols;
    }
    out += text[i];
  }
  if (cols < width) out.append(static_cast<std::size_t>(width - cols), ' ');
  return out;
}

std::string screen_update(const std::vector<std::string>& shown,
                          const std::vector<std::string>& lines) {
  std::string out;
  const bool full = shown.empty();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i < shown.size() && shown[i] == lines[i]) continue;
    std::string_view text = lines[i];
    while (!text.empty() && text.back() == ' ')
      text.remove_suffix(1);  // the erase blanks the rest: the last column is never written
    out += fmt::format("\x1b[{};1H", i + 1);
    out += text;
    out += "\x1b[K";
  }
  if (full) {
    out += "\x1b[J";  // after the last row: whatever a resize left below it
  } else if (lines.size() < shown.size()) {
    out += fmt::format("\x1b[{};1H\x1b[J", lines.size() + 1);
  }
  return out;
}

std::string progress_bar(double fraction, int width) {
  if (width < 3) return std::string(static_cast<std::size_t>(std::max(0, width)), ' ');
  const int inner = width - 2;
  const double f = std::clamp(std::isfinite(fraction) ? fraction : 0.0, 0.0, 1.0);
  const int full = static_cast<int>(std::floor(f * inner));
  return "[" + std::string(static_cast<std::size_t>(full), '#') +
         std::string(static_cast<std::size_t>(inner - full), '.') + "]";
}

int max_top_scroll(const top_snapshot& s, const top_view& view, int height) {
  const auto l = plan_layout(s, view, height);
  return std::max(0, static_cast<int>(s.tables.size()) - std::max(1, l.table_rows - 1));
}

std::vector<std::string> render_top(const top_snapshot& s, const top_view& view, int width,
                                    int height) {
  std::vector<std::string> lines;
  if (width <= 0 || height <= 0) return lines;
  const auto rows_rate = s.rows_per_second ? s.rows_per_second : view.rows_per_second;
  const auto bytes_rate = s.bytes_per_second ? s.bytes_per_second : view.bytes_per_second;

  lines.push_back(
      fmt::format("uringmig top  {}  {}", s.run.empty() ? "(no run yet)" : s.run, view.source));
  std::string status =
      fmt::format("phase {}  elapsed {}  rows/s {}  {}  lag {}", s.phase,
                  engine::format_seconds(s.elapsed_seconds), rate_text(rows_rate, false),
                  rate_text(bytes_rate, true), lag_text(s));
  if (s.paused) status = "PAUSED  " + status;
  lines.push_back(status);
  const auto counts =
      fmt::format(" {:5.1f}%  chunks {}/{}  tables {}/{}  rows {}  {}", s.progress() * 100,
                  s.chunks_done, s.chunks_total, s.tables_done, s.tables.size(),
                  engine::format_count(s.rows), engine::format_bytes(s.bytes));
  const int bar_w = std::clamp(width - static_cast<int>(counts.size()), 12, 60);
  lines.push_back(progress_bar(s.progress(), bar_w) + counts);
  lines.push_back(s.message.empty() ? "" : "message: " + s.message);

  if (!s.workers.empty()) {
    int alive = 0;
    for (const auto& w : s.workers)
      alive += w.alive ? 1 : 0;
    lines.push_back(fmt::format("workers {} alive of {}{}", alive, s.workers.size(),
                                s.workers.size() > max_worker_lines ? " (the first shown)" : ""));
    for (int i = 0; i < worker_lines(s) - 1; ++i)
      lines.push_back(" " + worker_line(s.workers[static_cast<std::size_t>(i)]));
  }
  const auto l = plan_layout(s, view, height);
  if (height - header_lines - worker_lines(s) - 1 > 0) lines.push_back(table_heading(width));
  const int n = static_cast<int>(s.tables.size());
  const int first = std::clamp(view.scroll, 0, std::max(0, n - 1));
  for (int i = 0; i < l.table_rows; ++i) {
    const int at = first + i;
    const bool last = i == l.table_rows - 1;
    if (last && at < n - 1) {
      lines.push_back(fmt::format("  ... {} more tables (j/k to scroll)", n - at));
      break;
    }
    if (at >= n) break;
    lines.push_back(table_line(s.tables[static_cast<std::size_t>(at)], width));
  }
  if (l.log_rows > 0) {
    lines.push_back("log");
    const auto from = view.log.size() - static_cast<std::size_t>(l.log_rows);
    for (auto i = from; i < view.log.size(); ++i)
      lines.push_back(" " + view.log[i]);
  }
  const auto footer = view.notice.empty() ? keys_line(view) : view.notice;
  if (static_cast<int>(lines.size()) >= height) lines.resize(static_cast<std::size_t>(height - 1));
  while (static_cast<int>(lines.size()) < height - 1)
    lines.emplace_back();
  lines.push_back(footer);
  for (auto& line : lines)
    line = fit_columns(line, width);
  return lines;
}

std::string plain_top_line(const top_snapshot& s, const top_view& view) {
  const auto rows_rate = s.rows_per_second ? s.rows_per_second : view.rows_per_second;
  auto line = fmt::format("phase {} {:.1f}% chunks {}/{} tables {}/{} rows {} rows/s {} lag {}",
                          s.phase, s.progress() * 100, s.chunks_done, s.chunks_total, s.tables_done,
                          s.tables.size(), s.rows, rate_text(rows_rate, false), lag_text(s));
  if (s.paused) line += " paused";
  return line;
}

}  // namespace uringmig::cli
