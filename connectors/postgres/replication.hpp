#pragma once

// A logical replication connection (`replication=database`): replication commands over the
// simple protocol, then a pgoutput stream read on io_uring. Facts about the protocol:
// shared/reference/pgoutput.md.

#include "codecs/pgoutput.hpp"
#include "connectors/postgres/connection.hpp"
#include "connectors/postgres/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace uringmig::connectors::postgres {

using lsn = codecs::pgoutput::lsn;

/// IDENTIFY_SYSTEM.
struct system_identity {
  std::string system_id;  // decimal, as the server prints it
  std::uint32_t timeline = 0;
  lsn xlogpos = 0;     // the server's current WAL flush position
  std::string dbname;  // the database of the connection
};

struct slot_options {
  bool temporary = false;       // dropped by the server when the connection ends
  bool export_snapshot = true;  // SNAPSHOT 'export' (else 'nothing')
};

/// CREATE_REPLICATION_SLOT's answer.
struct replication_slot {
  std::string name;
  lsn consistent_point = 0;   // the stream holds every transaction committed after this
  std::string snapshot_name;  // the exported snapshot; empty when none was asked for
  std::string output_plugin;
};

struct stream_options {
  std::string slot;
  lsn start = 0;  // 0/0: the slot's confirmed_flush_lsn (the server never goes below it)
  std::vector<std::string> publications;
  /// 0: 2 with streaming 'on' (large transactions arrive in stream blocks before they
  /// commit) when the server is PostgreSQL 14 or later, else 1. 2 always asks for streaming.
  std::uint32_t proto_version = 0;
  bool messages = true;  // pg_logical_emit_message in the stream (PostgreSQL 14+)
  /// Standby status updates are sent this often, and at once when the server asks. While a
  /// read-ahead message waits for next() (so server requests go unread), at least every third
  /// of wal_sender_timeout.
  std::chrono::milliseconds status_interval{std::chrono::seconds(10)};
};

/// One XLogData message. `payload` (one pgoutput message, for codecs::pgoutput::decoder)
/// points into the buffer libpq allocated: valid until the next call of next(), stop() or
/// close(). wal_start/wal_end may be 0: track progress from Commit's end_lsn.
struct wal_message {
  lsn wal_start = 0;
  lsn wal_end = 0;
  std::chrono::system_clock::time_point server_time;  // when the server sent it
  std::span<const std::byte> payload;
};

struct stream_counters {
  std::uint64_t messages = 0;           // XLogData delivered by next()
  std::uint64_t keepalives = 0;         // primary keepalives received
  std::uint64_t replies_requested = 0;  // ... of which asked for an immediate reply
  std::uint64_t status_updates = 0;     // standby status updates sent
};

/// A replication connection bound to one io_context for life; every member must be called from
/// that context's thread, one call at a time (next() may be woken by stop() from another
/// coroutine). Commands (identify_system, create_slot, drop_slot, command) run on the caller's
/// coroutine. While streaming, an owner coroutine reads the socket, answers keepalives and
/// sends standby status updates; it reads one message ahead of next() and no further, so
/// memory stays at libpq's buffer plus two messages, and a slow caller slows the server down.
class replication_connection {
 public:
  /// Non-blocking connect awaited on io_uring; `conninfo` is a libpq URI or key=value string,
  /// `replication=database` is added (it needs a database). Throws postgres::error.
  static boost::asio::awaitable<replication_connection> connect(boost::asio::any_io_executor ex,
                                                                std::string conninfo,
                                                                connect_options opts);
  static boost::asio::awaitable<replication_connection> connect(boost::asio::any_io_executor ex,
                                                                std::string conninfo) {
    // Not a default argument: GCC 12 destroys defaulted coroutine arguments twice.
    return connect(std::move(ex), std::move(conninfo), connect_options{});
  }

  replication_connection() = default;
  replication_connection(replication_connection&&) noexcept;
  replication_connection& operator=(replication_connection&&) noexcept;
  /// Closes in the background (no clean stop: the server sees the connection end).
  ~replication_connection();

  /// A replication command or simple-protocol SQL, not while streaming: the last result, or
  /// the first error as a value.
  boost::asio::awaitable<result> command(std::string sql);

  /// Throws postgres::error.
  boost::asio::awaitable<system_identity> identify_system();

  /// CREATE_REPLICATION_SLOT name [TEMPORARY] LOGICAL pgoutput (SNAPSHOT 'export'). The
  /// exported snapshot stays valid until the next command on THIS connection (start()
  /// included) or its end: have every reader run `BEGIN ISOLATION LEVEL REPEATABLE READ;
  /// SET TRANSACTION SNAPSHOT '<name>'` first. `name`: [a-z0-9_], at most 63 characters
  /// (std::invalid_argument otherwise). Throws postgres::error (42710 when the name is in use).
  boost::asio::awaitable<replication_slot> create_slot(std::string name, slot_options opts);
  /// DROP_REPLICATION_SLOT; `wait`: until a walsender using it lets go. Throws postgres::error.
  boost::asio::awaitable<void> drop_slot(std::string name, bool wait);
  boost::asio::awaitable<void> drop_slot(std::string name) {
    return drop_slot(std::move(name), false);
  }

  /// START_REPLICATION SLOT s LOGICAL start (proto_version, publication_names, messages,
  /// streaming). Returns once the server streams. One stream per connection: PostgreSQL ends a
  /// second logical START_REPLICATION on the same walsender at once (std::logic_error here).
  /// Throws postgres::error (a failed command also drops the session's temporary slots, as
  /// the server cleans up after any error), or std::invalid_argument for a bad slot name or
  /// no publication.
  boost::asio::awaitable<void> start(stream_options opts);

  /// The next XLogData, nullopt once the stream ended cleanly (stop()). Keepalives are handled
  /// inside. Throws postgres::error when the server reported an error or the connection broke
  /// (retryable: class 08, 57P01...). Not cancellable: end a pending next() with stop().
  boost::asio::awaitable<std::optional<wal_message>> next();
  /// As next() when a message is read ahead already (has_buffered()), without a coroutine;
  /// nullopt otherwise (then call next()). Same lifetime of the message.
  std::optional<wal_message> try_next();
  /// Waits at most `limit` for a message to be read ahead (or the stream to end): false when the
  /// time ran out, so a caller can commit what it holds while the stream is quiet without
  /// giving up on a message that is about to come. Same rules as next() (not both at once).
  boost::asio::awaitable<bool> wait_for_message(std::chrono::milliseconds limit);

  /// Records that everything up to `flushed` (a Commit's end_lsn) is durably applied. Standby
  /// status updates report it as write, flush and apply — only what was confirmed, never what
  /// was merely received; lower values than before are ignored. `caught_up`: every message
  /// next() handed out is applied and no transaction is pending, so a keepalive that arrives
  /// before the next message may be confirmed up to its WAL end (the server's position: the
  /// WAL between holds nothing to apply). What a subscriber does; without it the server's
  /// shutdown waits for a confirmation that never reaches its end of WAL.
  void confirm(lsn flushed, bool caught_up = false);

  /// Clean end: a last status update, CopyDone, the rest of the stream read and discarded.
  /// The connection takes commands again afterwards (drop_slot, identify_system), not another
  /// start(). Throws postgres::error when the stream had failed.
  boost::asio::awaitable<void> stop();
  /// Ends the connection at once (no clean stop). Unusable afterwards.
  boost::asio::awaitable<void> close();

  bool is_streaming() const;
  /// A message is read ahead: next() returns without waiting. Appliers commit a group of
  /// transactions when this is false (the stream went quiet) instead of waiting on a timer.
  bool has_buffered() const;
  /// Why the connection or the stream failed, when it did.
  std::optional<diagnostics> failure() const;
  lsn confirmed_lsn() const;
  /// The highest WAL end the server reported (XLogData or keepalive): lag = this - confirmed.
  lsn server_wal_end() const;
  std::chrono::system_clock::time_point server_time() const;
  /// What START_REPLICATION asked for: for codecs::pgoutput::decoder.
  std::uint32_t proto_version() const;
  stream_counters counters() const;
  int backend_pid() const;
  int server_version() const;
  PGconn* native() const;

  struct impl;

 private:
  explicit replication_connection(std::shared_ptr<impl> i) : impl_(std::move(i)) {}
  std::shared_ptr<impl> impl_;
};

/// `name` as CREATE_REPLICATION_SLOT accepts it: 1-63 of [a-z0-9_].
bool valid_slot_name(std::string_view name) noexcept;
/// "'a,\"B\"'": START_REPLICATION's publication_names value (each name an identifier).
std::string publication_names_option(const std::vector<std::string>& names);
/// A SHOW value of a time setting ("60s", "1min", "500ms", "0") in milliseconds; nullopt when
/// it cannot be read.
std::optional<std::chrono::milliseconds> parse_time_setting(std::string_view text) noexcept;

}  // namespace uringmig::connectors::postgres
