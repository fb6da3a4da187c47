#pragma once

// The terminal under `uringmig top`: raw keys, the alternate screen, resizes, signals.

#include <chrono>
#include <string>
#include <vector>

namespace uringmig::cli {

/// Full-screen mode for its lifetime: the alternate screen, no cursor, keys unbuffered and
/// unechoed; all restored by the destructor (also after an exception). One at a time.
class terminal_screen {
 public:
  terminal_screen();
  ~terminal_screen();
  terminal_screen(const terminal_screen&) = delete;
  terminal_screen& operator=(const terminal_screen&) = delete;

  int width() const noexcept { return width_; }
  int height() const noexcept { return height_; }

  /// Shows `lines` (one per row, from the top): rows that changed since the last call are
  /// overwritten in place (cursor to the row, text, erase to end of line), so nothing flickers.
  void draw(const std::vector<std::string>& lines);

  /// What happened while waiting.
  struct event {
    std::string keys;      // bytes typed, in order (escape sequences included)
    bool resized = false;  // SIGWINCH: width()/height() are new, the next draw repaints all
    bool stop = false;     // SIGINT, SIGTERM or SIGHUP, or the keyboard closed
  };
  /// Waits until a key, a signal or `timeout`.
  event wait(std::chrono::milliseconds timeout);

 private:
  void measure();
  int width_ = 80;
  int height_ = 24;
  std::vector<std::string> shown_;
};

/// For plain-line mode: SIGINT, SIGTERM and SIGHUP end the wait instead of the process.
class stop_signals {
 public:
  stop_signals();
  ~stop_signals();
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;
  /// Sleeps up to `timeout`; true when a stop signal came.
  bool wait(std::chrono::milliseconds timeout);
};

/// stdin and stdout are both terminals.
bool is_interactive() noexcept;

}  // namespace uringmig::cli
