#pragma once

#include <spdlog/common.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/sink.h>

#include <filesystem>
#include <memory>
#include <string_view>

// Logging for the whole program. cli/ calls init_logging() once it knows the level and the state
// directory; every other layer just logs on spdlog's default logger:
//
//   spdlog::info("copied {} rows of {}", rows, table);
//
// Every sink sits behind a redacting layer (codecs::redact), so a password that slips into a
// message is masked on stderr and in the file alike.

namespace uringmig::cli {

/// "trace" | "debug" | "info" | "warn" | "error" -> spdlog level; info for anything else.
spdlog::level::level_enum to_spdlog_level(std::string_view name) noexcept;

/// Replaces spdlog's default logger: human lines on stderr (colour only when stderr is a TTY)
/// and, when `log_file` is not empty, one JSON object per line ({"ts","level","msg"}) appended
/// to it, creating its directory. Throws std::runtime_error (one line) when the directory or the
/// file cannot be created. Call from one thread, before other threads log.
void init_logging(std::string_view level, const std::filesystem::path& log_file = {});

/// `<state_dir>/uringmig.log`.
std::filesystem::path log_file_path(const std::filesystem::path& state_dir);

/// Wraps `inner` so that each message is redacted before `inner` formats it.
std::shared_ptr<spdlog::sinks::sink> make_redacting_sink(
    std::shared_ptr<spdlog::sinks::sink> inner);

/// Formats {"ts":"2024-05-01T12:00:00.123Z","level":"info","msg":"..."} and a newline.
std::unique_ptr<spdlog::formatter> make_json_formatter();

/// Appends `message` to the JSON log file only (not stderr) and flushes; no-op without a file.
/// For the final error line, which the CLI prints on stderr itself.
void log_to_file_only(spdlog::level::level_enum level, std::string_view message);

/// Flushes every sink of the default logger.
void flush_logs() noexcept;

}  // namespace uringmig::cli
