#pragma once

// `uringmig top`'s picture: a snapshot in, the lines of one screen out. Pure: the terminal code
// (top.cpp) only writes what this returns.

#include "cli/top_model.hpp"

#include <optional>
#include <string>
#include <vector>

namespace uringmig::cli {

/// What the screen shows besides the job's own snapshot.
struct top_view {
  std::string source;            // "state directory DIR" or "http://HOST:PORT"
  std::vector<std::string> log;  // the job's recent log lines, oldest first
  std::string notice;            // the last line: a question, an answer, a hint; else the keys
  bool actions = false;          // p/r/s work here (an HTTP API and a token)
  int scroll = 0;                // index of the first table shown
  std::optional<double> rows_per_second;  // measured by top when the snapshot has none
  std::optional<double> bytes_per_second;
};

/// Exactly `height` lines, each exactly `width` columns (UTF-8 counted by code point) — the
/// terminal code overwrites a line without clearing it first. Tables that do not fit are cut
/// at `view.scroll` and the last row says how many more there are.
std::vector<std::string> render_top(const top_snapshot& s, const top_view& view, int width,
                                    int height);

/// The largest useful `view.scroll` for a screen of `height` lines.
int max_top_scroll(const top_snapshot& s, const top_view& view, int height);

/// One line for a non-terminal: phase, progress, counts, rates, lag, paused.
std::string plain_top_line(const top_snapshot& s, const top_view& view);

/// The bytes that turn a terminal showing `shown` (empty: unknown, e.g. after a resize) into
/// one showing `lines`: each changed row is overwritten in place (cursor to the row, its text
/// without trailing blanks, erase to the end of the line), never a clear of the whole screen,
/// so nothing flickers; rows below the last are erased after a full repaint.
std::string screen_update(const std::vector<std::string>& shown,
                          const std::vector<std::string>& lines);

/// `[#####.....]` of `width` columns (brackets included) filled to `fraction`.
std::string progress_bar(double fraction, int width);

/// `text` cut or padded to `width` columns.
std::string fit_columns(std::string_view text, int width);

}  // namespace uringmig::cli
