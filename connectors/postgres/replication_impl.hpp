// Internal to connectors/postgres: the state behind a replication_connection handle.
#pragma once

#include "connectors/postgres/replication.hpp"
#include "io/foreign_socket.hpp"
#include "io/waiters.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>

namespace uringmig::connectors::postgres {

struct replication_connection::impl {
  explicit impl(boost::asio::any_io_executor e)
      : ex(e), sock(e), wake(e, boost::asio::steady_timer::time_point::max()) {}
  ~impl() {
    free_messages();
    sock.assign(-1);  // forget (never close) the fd before libpq closes it
    if (conn) PQfinish(conn);
  }

  enum class pumped { message, need_input, ended, failed };

  void check_thread() const {
    if (thread != std::this_thread::get_id())
      throw std::logic_error("replication connection used from a thread that does not own it");
  }
  void set_broken(std::string_view what) {
    if (!failure) {
      std::string msg = conn ? PQerrorMessage(conn) : "";
      failure = connection_failure(msg.empty() ? what : msg);
      spdlog::debug("replication connection failed: {}", failure->message);
    }
    notify();
  }
  /// Wakes the owner. Setting the expiry into the past (not cancel()) also catches an owner
  /// whose timer wait is not initiated yet.
  void notify() { wake.expires_at(boost::asio::steady_timer::time_point::min()); }
  void wake_consumer() {
    if (!consumer) return;
    auto h = std::move(*consumer);
    consumer.reset();
    io::wake(std::move(h));
  }
  void free_messages() {
    if (current) PQfreemem(std::exchange(current, nullptr));
    if (ready) PQfreemem(std::exchange(ready, nullptr));
  }
  std::chrono::milliseconds status_every() const { return ready ? heartbeat : interval; }

  boost::asio::awaitable<bool> flush_all();
  boost::asio::awaitable<bool> read_more();
  boost::asio::awaitable<PGresult*> next_result();
  /// A command's last result or first error. `copy_both`: START_REPLICATION, whose
  /// PGRES_COPY_BOTH result is returned at once, leaving the connection streaming.
  boost::asio::awaitable<result> run_command(std::string sql, bool copy_both);
  pumped pump();
  bool send_status();
  wal_message take_ready();
  boost::asio::awaitable<int> wait_events(bool read, bool write);
  boost::asio::awaitable<bool> drain_copy();
  boost::asio::awaitable<void> end_stream();
  boost::asio::awaitable<void> run_owner(std::shared_ptr<impl> self);

  boost::asio::any_io_executor ex;
  io::foreign_socket sock;
  boost::asio::steady_timer wake;  // the owner's sleep: until the next status update or a notify()
  PGconn* conn = nullptr;
  std::thread::id thread;
  bool busy = false;  // a command runs
  std::optional<diagnostics> failure;

  // Streaming.
  bool streaming = false;  // the owner runs
  bool streamed = false;   // START_REPLICATION succeeded once on this connection
  bool stop_requested = false;
  bool closing = false;
  bool copy_ended = false;  // PQgetCopyData said -1: the command's results come next
  char* current = nullptr;  // handed out by next(), freed by the following call
  char* ready = nullptr;    // read ahead, waits for next()
  wal_message ready_msg;
  std::optional<io::wake_handler> consumer;  // a next() waiting for a message
  io::waiters done_waiters;                  // stop() / close() waiting for the owner
  bool owner_waiting = false;
  bool owner_reading = false;
  bool owner_writing = false;
  bool flush_pending = false;
  lsn confirmed = 0;
  bool caught_up = false;  // confirm(_, true) since the last message handed out
  lsn wal_end = 0;
  std::int64_t server_time = 0;
  std::uint32_t proto = 0;
  std::chrono::milliseconds interval{std::chrono::seconds(10)};
  std::chrono::milliseconds heartbeat{std::chrono::seconds(10)};
  std::chrono::steady_clock::time_point last_status;
  stream_counters counters;
};

}  // namespace uringmig::connectors::postgres
