// Internal to connectors/postgres: the state behind a connection handle.
#pragma once

#include "connectors/postgres/connection.hpp"
#include "io/foreign_socket.hpp"
#include "io/waiters.hpp"

#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <exception>
#include <thread>

namespace uringmig::connectors::postgres {

/// A caller's request; lives in the caller's coroutine frame until completed.
struct request {
  enum class kind { pipeline, simple, copy_out, copy_in };
  enum class step { query, prepare, execute };

  kind k = kind::pipeline;
  // pipeline: the statements and, once done, one result per statement.
  std::vector<statement> stmts;
  std::vector<step> steps;
  std::vector<result> results;
  std::size_t next = 0;        // statement whose result comes next
  bool awaiting_null = false;  // its result arrived; libpq's NULL terminator is next
  // simple / copy: the SQL, the data ends, the outcome.
  std::string sql;
  io::buffer_pool* pool = nullptr;
  copy_sink* sink = nullptr;
  copy_source* source = nullptr;
  result final;
  std::exception_ptr exception;  // thrown by the sink or source; rethrown to the caller
  std::optional<io::wake_handler> done;
};

struct connection::impl {
  explicit impl(boost::asio::any_io_executor e);
  ~impl();

  // connection.cpp
  boost::asio::awaitable<void> poll_connect(bool reset, std::chrono::milliseconds timeout);
  void after_connect();
  void start_owner(std::shared_ptr<impl> self);
  boost::asio::awaitable<void> run_owner(std::shared_ptr<impl> self);
  boost::asio::awaitable<void> submit(request& rq);
  void notify();
  bool send_pipeline(request& rq);
  void drain_pipeline();
  void set_broken(std::string_view what);
  void fail_all();
  void complete(request& rq);

  // connection_exclusive.cpp: simple protocol and COPY, run by the owner alone.
  boost::asio::awaitable<void> run_exclusive(request& rq);
  boost::asio::awaitable<void> run_simple(request& rq);
  boost::asio::awaitable<void> run_copy_out(request& rq);
  boost::asio::awaitable<void> run_copy_in(request& rq);
  /// Sends rq.sql and waits for the COPY to start; false: rq.final holds why not.
  boost::asio::awaitable<bool> start_copy(request& rq, ExecStatusType expected);
  boost::asio::awaitable<bool> flush_all();
  boost::asio::awaitable<bool> read_more();
  boost::asio::awaitable<PGresult*> next_result();
  boost::asio::awaitable<result> finish_results(result first);

  boost::asio::any_io_executor ex;
  io::foreign_socket sock;
  boost::asio::steady_timer wake;
  PGconn* conn = nullptr;
  connect_options opts;
  std::deque<request*> queue;     // waiting to be sent
  std::deque<request*> inflight;  // pipeline requests sent, results pending
  std::optional<diagnostics> broken;
  bool owner_running = false;
  bool idle_waiting = false;
  bool closing = false;
  io::waiters closed_waiters;
  std::thread::id owner_thread;  // the context's thread: every call must come from it
};

}  // namespace uringmig::connectors::postgres
