#include "cli/logging.hpp"

#include "codecs/url.hpp"

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

/// Length of the valid UTF-8 sequence at s[i], 0 when invalid.
std::size_t utf8_length(std::string_view s, std::size_t i) noexcept {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF)
    n = 2;
  else if (b >= 0xE0 && b <= 0xEF)
    n = 3;
  else if (b >= 0xF0 && b <= 0xF4)
    n = 4;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n;
}

void append_json_string(std::string_view s, spdlog::memory_buf_t& out) {
  constexpr std::string_view hex = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    switch (c) {
      case '"':
        out.append(std::string_view("\\\""));
        ++i;
        continue;
      case '\\':
        out.append(std::string_view("\\\\"));
        ++i;
        continue;
      case '\n':
        out.append(std::string_view("\\n"));
        ++i;
        continue;
      case '\r':
        out.append(std::string_view("\\r"));
        ++i;
        continue;
      case '\t':
        out.append(std::string_view("\\t"));
        ++i;
        continue;
      default:
        break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20) {
      const std::array<char, 6> esc{'\\', 'u', '0', '0', hex[u >> 4], hex[u & 0xF]};
      out.append(esc.data(), esc.data() + esc.size());
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {  // keep the file valid JSON even for bytes in another encoding
      out.append(std::string_view("\\ufffd"));
      ++i;
      continue;
    }
    out.append(s.data() + i, s.data() + i + n);
    i += n;
  }
  out.push_back('"');
}

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
    append_json_string(std::string_view(msg.payload.data(), msg.payload.size()), dest);
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
