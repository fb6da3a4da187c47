#include "cli/terminal.hpp"

#include "cli/top_screen.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <stdexcept>

namespace uringmig::cli {

namespace {

// Signals reach the waiting poll() through a pipe: a handler may only write(2).
std::array<int, 2> signal_pipe{-1, -1};
termios saved_termios{};
bool termios_saved = false;

extern "C" void on_signal(int sig) {
  const auto b = static_cast<unsigned char>(sig);
  const auto n = ::write(signal_pipe[1], &b, 1);
  static_cast<void>(n);
}

void write_all(const std::string& s) {
  std::size_t at = 0;
  while (at < s.size()) {
    const auto n = ::write(STDOUT_FILENO, s.data() + at, s.size() - at);
    if (n <= 0) return;  // the terminal went away: nothing left to show
    at += static_cast<std::size_t>(n);
  }
}

void install(const std::initializer_list<int>& sigs) {
  if (signal_pipe[0] < 0) {
    if (::pipe2(signal_pipe.data(), O_CLOEXEC | O_NONBLOCK) != 0)
      throw std::runtime_error("cannot create a pipe for signals");
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (const int s : sigs)
    ::sigaction(s, &sa, nullptr);
}

void restore(const std::initializer_list<int>& sigs) {
  for (const int s : sigs)
    ::signal(s, SIG_DFL);
}

/// Drains the signal pipe; returns what came.
std::string drain_signals() {
  std::string out;
  std::array<char, 64> buf{};
  while (true) {
    const auto n = ::read(signal_pipe[0], buf.data(), buf.size());
    if (n <= 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

bool is_stop(char c) {
  return c == SIGINT || c == SIGTERM || c == SIGHUP;
}

}  // namespace

bool is_interactive() noexcept {
  return ::isatty(STDIN_FILENO) == 1 && ::isatty(STDOUT_FILENO) == 1;
}

terminal_screen::terminal_screen() {
  install({SIGINT, SIGTERM, SIGHUP, SIGWINCH});
  if (::tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
    termios_saved = true;
    termios raw = saved_termios;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }
  write_all("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");  // alternate screen, hide cursor, blank it once
  measure();
}

terminal_screen::~terminal_screen() {
  write_all("\x1b[?25h\x1b[?1049l");
  if (termios_saved) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
  restore({SIGINT, SIGTERM, SIGHUP, SIGWINCH});
}

void terminal_screen::measure() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
    width_ = ws.ws_col;
    height_ = ws.ws_row;
  }
}

void terminal_screen::draw(const std::vector<std::string>& lines) {
  const auto out = screen_update(shown_, lines);
  shown_ = lines;
  if (!out.empty()) write_all(out);
}

terminal_screen::event terminal_screen::wait(std::chrono::milliseconds timeout) {
  event e;
  std::array<pollfd, 2> fds{pollfd{STDIN_FILENO, POLLIN, 0}, pollfd{signal_pipe[0], POLLIN, 0}};
  const int n = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (n == 0) return e;
  if (n < 0) fds[1].revents = POLLIN;  // EINTR: a signal; its byte is in the pipe
  if ((fds[1].revents & POLLIN) != 0) {
    for (const char c : drain_signals()) {
      if (c == SIGWINCH) {
        e.resized = true;
      } else if (is_stop(c)) {
        e.stop = true;
      }
    }
    if (e.resized) {
      measure();
      shown_.clear();
    }
  }
  if ((fds[0].revents & (POLLIN | POLLHUP)) != 0) {
    std::array<char, 64> buf{};
    const auto r = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (r <= 0) {
      e.stop = true;
    } else {
      e.keys.assign(buf.data(), static_cast<std::size_t>(r));
    }
  }
  return e;
}

stop_signals::stop_signals() {
  install({SIGINT, SIGTERM, SIGHUP});
}

stop_signals::~stop_signals() {
  restore({SIGINT, SIGTERM, SIGHUP});
}

bool stop_signals::wait(std::chrono::milliseconds timeout) {
  pollfd fd{signal_pipe[0], POLLIN, 0};
  if (::poll(&fd, 1, static_cast<int>(timeout.count())) == 0) return false;
  for (const char c : drain_signals()) {
    if (is_stop(c)) return true;
  }
  return false;
}

}  // namespace uringmig::cli
