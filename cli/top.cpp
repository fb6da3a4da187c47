#include "cli/top.hpp"

#include "cli/terminal.hpp"
#include "cli/top_feed.hpp"
#include "cli/top_screen.hpp"
#include "engine/core/job.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <ctime>
#include <ostream>
#include <stdexcept>

namespace uringmig::cli {

namespace {

using clock = std::chrono::steady_clock;
constexpr std::size_t log_keep = 200;

double seconds_now() {
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

std::string time_of_day() {
  const auto t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::array<char, 16> buf{};
  const auto n = std::strftime(buf.data(), buf.size(), "%H:%M:%S", &tm);
  return {buf.data(), n};
}

/// A job's snapshot as of now, with top's own rate measure; keeps the last one on a failed read.
struct watcher {
  explicit watcher(top_feed& f) : feed(f) {}
  top_feed& feed;
  std::optional<top_snapshot> last;
  std::vector<std::string> log;
  rate_meter rates;
  std::string error;  // the last read's failure, empty when it worked

  void refresh() {
    try {
      auto s = feed.poll(log);
      rates.add(seconds_now(), s.rows, s.bytes);
      last = std::move(s);
      error.clear();
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    if (log.size() > log_keep)
      log.erase(log.begin(), log.end() - static_cast<std::ptrdiff_t>(log_keep));
  }
  bool ended() const {
    if (!last) return false;
    return !last->live || (last->state != "running" && !last->state.empty());
  }
};

top_view view_of(const watcher& w) {
  top_view v;
  v.source = w.feed.label();
  v.log = w.log;
  v.actions = w.feed.has_actions();
  v.rows_per_second = w.rates.rows_per_second();
  v.bytes_per_second = w.rates.bytes_per_second();
  return v;
}

/// Plain lines, one a second, until the job ends or a signal.
int run_plain(watcher& w, std::ostream& out) {
  stop_signals signals;
  bool seen_live = false;
  while (true) {
    w.refresh();
    if (w.last && !w.error.empty() && seen_live) {
      // The API answered before and is gone now: the job ended.
      out << "job ended (" << w.error << ")\n" << std::flush;
      return 0;
    }
    if (w.last) {
      out << time_of_day() << ' ' << plain_top_line(*w.last, view_of(w));
      if (!w.error.empty()) out << " (" << w.error << ')';
      out << '\n' << std::flush;
      seen_live = seen_live || w.last->live;
      if (w.ended()) {
        out << "job " << (w.last->state.empty() ? "not started" : w.last->state) << '\n'
            << std::flush;
        return 0;
      }
    } else if (!w.error.empty()) {
      throw std::runtime_error(w.error);
    }
    if (signals.wait(std::chrono::seconds(1))) return 0;
  }
}

/// Keys of the full-screen mode; `confirm` holds a pending question's action.
struct key_state {
  std::string notice;
  std::string confirm;
  int scroll = 0;
  bool quit = false;
};

void on_keys(const std::string& keys, watcher& w, key_state& k, int max_scroll) {
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const char c = keys[i];
    if (!k.confirm.empty()) {
      if (c == 'y' || c == 'Y') k.notice = w.feed.act(k.confirm);
      if (c != 'y' && c != 'Y') k.notice = k.confirm + ": cancelled";
      k.confirm.clear();
      continue;
    }
    if (c == 'q' || c == 'Q') {
      k.quit = true;
      return;
    }
    if (c == 'p' || c == 'r') {
      k.notice = w.feed.act(c == 'p' ? "pause" : "resume");
      w.refresh();
    } else if (c == 's') {
      if (w.feed.has_actions()) {
        k.confirm = "switchover";
        k.notice = "switch over to the target now? y/n";
      } else {
        k.notice = w.feed.act("switchover");
      }
    } else if (c == 'j' || (c == '\x1b' && keys.compare(i, 3, "\x1b[B") == 0)) {
      k.scroll = std::min(k.scroll + 1, max_scroll);
    } else if (c == 'k' || (c == '\x1b' && keys.compare(i, 3, "\x1b[A") == 0)) {
      k.scroll = std::max(k.scroll - 1, 0);
    }
    if (c == '\x1b' && i + 2 < keys.size() && keys[i + 1] == '[') i += 2;
  }
}

int run_screen(watcher& w) {
  terminal_screen screen;
  key_state k;
  auto next = clock::now();
  while (!k.quit) {
    if (clock::now() >= next) {
      w.refresh();
      next = clock::now() + w.feed.interval();
    }
    auto view = view_of(w);
    view.scroll = k.scroll;
    view.notice = k.notice;
    if (view.notice.empty() && !w.error.empty()) view.notice = w.error;
    const auto s = w.last.value_or(top_snapshot{});
    screen.draw(render_top(s, view, screen.width(), screen.height()));
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock::now());
    const auto e = screen.wait(std::max(left, std::chrono::milliseconds(0)));
    if (e.stop) break;
    on_keys(e.keys, w, k, max_top_scroll(s, view, screen.height()));
  }
  return 0;
}

}  // namespace

CLI::App* add_top_command(CLI::App& app, top_options& o) {
  auto* s = app.add_subcommand(
      "top", "Watch a running job full screen: phase, progress, tables, log; pause/resume keys");
  s->add_option("--state-dir", o.state_dir,
                "The job's state directory, read offline (./uringmig-state)");
  s->add_option("--state-url", o.state_url,
                "A shared state database (the job's --state-url), read offline: its workers too");
  s->add_option("--job", o.job, "With --state-url: the job's name (when it holds several)");
  s->add_option("--http", o.http,
                "The job's API (its --http address, e.g. 127.0.0.1:7654, or https://HOST:PORT "
                "when it serves TLS): live data and actions");
  s->add_option("--tls-ca", o.tls_ca,
                "With --http https://...: the CA certificate (PEM) that signed the job's "
                "certificate (default: the system's CAs)");
  s->add_option("--token", o.token,
                "The job's [http] token, for p/r/s (prefer UM_HTTP_TOKEN: ps shows arguments)");
  return s;
}

int run_top(const top_options& o, const env_lookup& env, std::ostream& out) {
  std::string token = o.token;
  if (token.empty()) token = env("UM_HTTP_TOKEN").value_or("");
  auto feed = !o.http.empty()        ? http_feed(o.http, token, o.tls_ca)
              : !o.state_url.empty() ? state_url_feed(o.state_dir, o.state_url, o.job)
                                     : state_dir_feed(o.state_dir);
  watcher w(*feed);
  if (!is_interactive()) return run_plain(w, out);
  w.refresh();
  if (!w.last && !w.error.empty()) throw std::runtime_error(w.error);
  return run_screen(w);
}

}  // namespace uringmig::cli
