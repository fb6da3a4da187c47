#include "cli/logging.hpp"

#include "codecs/json_text.hpp"
#include "codecs/url.hpp"
#include "engine/core/observe/log_ring.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

namespace uringmig::cli {

namespace {

class redacting_sink final : public spdlog::sinks::sink {
 public:
  explicit redacting_sink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& msg) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const std::string clean = codecs::redact(payload);
    if (clean == payload) {
      inner_->log(msg);
      return;
    }
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(clean.data(), clean.size());
    inner_->log(copy);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override {
    inner_->set_formatter(std::move(f));
  }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

std::string_view level_name(spdlog::level::level_enum level) noexcept {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

/// Feeds the HTTP API's recent lines (GET /api/v1/log); behind the redacting layer like the rest.
class ring_sink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    if (!should_log(msg.level)) return;
    engine::observe::the_log().push(level_name(msg.level),
                                    std::string_view(msg.payload.data(), msg.payload.size()));
  }
  void flush() override {}
  void set_pattern(const std::string& /*pattern*/) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter> /*f*/) override {}
};

class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    const auto t = msg.time;
    const auto secs = system_clock::to_time_t(time_point_cast<system_clock::duration>(t));
    const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::array<char, 40> ts{};
    const auto len = std::strftime(ts.data(), ts.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    const std::array<char, 5> frac{'.', static_cast<char>('0' + ms / 100),
                                   static_cast<char>('0' + ms / 10 % 10),
                                   static_cast<char>('0' + ms % 10), 'Z'};
    dest.append(std::string_view("{\"ts\":\""));
    dest.append(ts.data(), ts.data() + len);
    dest.append(frac.data(), frac.data() + frac.size());
    dest.append(std::string_view("\",\"level\":\""));
    dest.append(level_name(msg.level));
    dest.append(std::string_view("\",\"msg\":"));
    const std::string text =
        codecs::json_string(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(text.data(), text.data() + text.size());
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

std::mutex file_sink_mutex;
std::shared_ptr<spdlog::sinks::sink> file_sink;  // redacting, JSON; null without a log file

}  // namespace

spdlog::level::level_enum to_spdlog_level(std::string_view name) noexcept {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "warn") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  return spdlog::level::info;
}

std::filesystem::path log_file_path(const std::filesystem::path& state_dir) {
  return state_dir / "uringmig.log";
}

std::shared_ptr<spdlog::sinks::sink> make_redacting_sink(
    std::shared_ptr<spdlog::sinks::sink> inner) {
  return std::make_shared<redacting_sink>(std::move(inner));
}

std::unique_ptr<spdlog::formatter> make_json_formatter() {
  return std::make_unique<json_formatter>();
}

void init_logging(std::string_view level, const std::filesystem::path& log_file) {
  auto human = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
  human->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  std::vector<spdlog::sink_ptr> sinks{make_redacting_sink(std::move(human))};
  auto ring = std::make_shared<ring_sink>();
  ring->set_level(spdlog::level::info);  // debug lines would push the useful ones out
  sinks.push_back(make_redacting_sink(std::move(ring)));

  std::shared_ptr<spdlog::sinks::sink> file;
  if (!log_file.empty()) {
    const auto dir = log_file.parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    if (ec) {
      throw std::runtime_error("cannot create directory '" + dir.string() + "': " + ec.message() +
                               " (choose a writable --state-dir)");
    }
    // Open once ourselves first: spdlog's exception text is less precise than errno.
    if (std::FILE* probe = std::fopen(log_file.c_str(), "ab")) {
      std::fclose(probe);
    } else {
      const int err = errno;
      throw std::runtime_error("cannot open log file '" + log_file.string() +
                               "': " + std::strerror(err) + " (choose a writable --state-dir)");
    }
    auto raw = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string(), false);
    raw->set_formatter(make_json_formatter());
    file = make_redacting_sink(std::move(raw));
    sinks.push_back(file);
  }

  auto logger = std::make_shared<spdlog::logger>("uringmig", sinks.begin(), sinks.end());
  logger->set_level(to_spdlog_level(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));

  const std::lock_guard lock(file_sink_mutex);
  file_sink = std::move(file);
}

void log_to_file_only(spdlog::level::level_enum level, std::string_view message) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  {
    const std::lock_guard lock(file_sink_mutex);
    sink = file_sink;
  }
  if (!sink) return;
  const spdlog::details::log_msg msg(spdlog::string_view_t("uringmig"), level,
                                     spdlog::string_view_t(message.data(), message.size()));
  sink->log(msg);
  sink->flush();
}

void flush_logs() noexcept {
  try {
    if (auto logger = spdlog::default_logger()) logger->flush();
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing left to report to
  }
}

}  // namespace uringmig::cli
