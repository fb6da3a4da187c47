#include "connectors/postgres/connection.hpp"

#include "codecs/url.hpp"
#include "connectors/postgres/connection_impl.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <thread>

namespace uringmig::connectors::postgres {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using wait_type = io::foreign_socket::wait_type;

namespace {

void log_notice(void*, const char* message) {
  std::string m(message);
  while (!m.empty() && m.back() == '\n')
    m.pop_back();
  spdlog::debug("postgres notice: {}", codecs::redact(m));
}

}  // namespace

// ---------------------------------------------------------------- impl

connection::impl::impl(asio::any_io_executor e)
    : ex(e), sock(e), wake(e, asio::steady_timer::time_point::max()) {}

connection::impl::~impl() {
  sock.assign(-1);  // forget (never close) the fd before libpq closes it
  if (conn) PQfinish(conn);
}

asio::awaitable<void> connection::impl::poll_connect(bool reset,
                                                     std::chrono::milliseconds timeout) {
  if (conn == nullptr) throw error(connection_failure("out of memory allocating a connection"));
  if (PQstatus(conn) == CONNECTION_BAD)
    throw error(connection_failure(PQerrorMessage(conn), "08001"));
  asio::steady_timer deadline(ex);
  deadline.expires_after(timeout);
  // As libpq documents it: start as if PGRES_POLLING_WRITING was returned.
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  for (;;) {
    if (st == PGRES_POLLING_OK) co_return;
    if (st == PGRES_POLLING_FAILED) {
      sock.assign(-1);
      throw error(connection_failure(PQerrorMessage(conn), "08001"));
    }
    // libpq may have opened a new socket (next host, SSL fallback, reset).
    sock.assign(PQsocket(conn));
    auto r =
        co_await (sock.wait(st == PGRES_POLLING_READING ? wait_type::read : wait_type::write) ||
                  deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (r.index() == 1) {
      sock.assign(-1);
      diagnostics d =
          connection_failure("timed out after " + std::to_string(timeout.count() / 1000) +
                                 "s connecting to the server",
                             "08001");
      throw error(std::move(d));
    }
    st = reset ? PQresetPoll(conn) : PQconnectPoll(conn);
  }
}

void connection::impl::after_connect() {
  PQsetNoticeProcessor(conn, &log_notice, nullptr);
  if (PQsetnonblocking(conn, 1) != 0 || PQenterPipelineMode(conn) != 1)
    throw error(connection_failure(PQerrorMessage(conn)));
  broken.reset();
  closing = false;
}

void connection::impl::start_owner(std::shared_ptr<impl> self) {
  owner_running = true;
  owner_thread = std::this_thread::get_id();
  asio::co_spawn(ex, run_owner(std::move(self)), [](std::exception_ptr e) {
    // The owner catches what its work throws; reaching here is a bug.
    if (e) spdlog::critical("postgres connection owner ended with an exception");
  });
}

void connection::impl::notify() {
  if (idle_waiting) wake.cancel();
}

asio::awaitable<void> connection::impl::submit(request& rq) {
  // Connections are single-threaded by design: a call from another context's
  // thread would race with the owner. Fail loudly instead (use io::run_on).
  if (owner_running && owner_thread != std::this_thread::get_id())
    throw std::logic_error("postgres connection used from a thread that does not own it");
  co_await io::park([this, &rq](io::wake_handler& h) {
    if (!owner_running || broken) {
      diagnostics d = broken ? *broken : connection_failure("the connection is closed");
      if (rq.k == request::kind::pipeline) {
        while (rq.results.size() < rq.stmts.size())
          rq.results.emplace_back(d);
      } else {
        rq.final = result(d);
      }
      return false;
    }
    rq.done = std::move(h);
    queue.push_back(&rq);
    notify();
    return true;
  });
  if (rq.exception) std::rethrow_exception(rq.exception);
}

void connection::impl::complete(request& rq) {
  if (rq.done) {
    auto h = std::move(*rq.done);
    rq.done.reset();
    io::wake(std::move(h));
  }
}

void connection::impl::set_broken(std::string_view what) {
  if (broken) return;
  std::string msg = PQerrorMessage(conn);
  if (msg.empty()) msg = std::string(what);
  broken = connection_failure(msg);
  spdlog::debug("postgres connection lost: {}", broken->message);
}

void connection::impl::fail_all() {
  const diagnostics& d = *broken;
  auto fail = [&](request* rq) {
    if (rq->k == request::kind::pipeline) {
      while (rq->results.size() < rq->stmts.size())
        rq->results.emplace_back(d);
    } else if (rq->final.ok()) {
      rq->final = result(d);
    }
    complete(*rq);
  };
  for (request* rq : inflight)
    fail(rq);
  for (request* rq : queue)
    fail(rq);
  inflight.clear();
  queue.clear();
}

bool connection::impl::send_pipeline(request& rq) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (std::size_t i = 0; i < rq.stmts.size(); ++i) {
    const statement& s = rq.stmts[i];
    values.clear();
    lengths.clear();
    formats.clear();
    for (const std::int64_t at : s.packed_at)
      values.push_back(at < 0 ? nullptr : s.packed.data() + at);
    for (std::size_t k = 0; k < s.params.size(); ++k) {
      const auto& p = s.params[k];
      values.push_back(p ? p->data() : nullptr);
      lengths.push_back(p ? static_cast<int>(p->size()) : 0);
      formats.push_back(k < s.binary_params.size() && s.binary_params[k] ? 1 : 0);
    }
    const int n = static_cast<int>(values.size());
    // Lengths and formats matter only for binary parameters (text ones end at their NUL).
    const bool binary = !s.binary_params.empty();
    const int* lens = binary ? lengths.data() : nullptr;
    const int* fmts = binary ? formats.data() : nullptr;
    const int result_format = s.binary_result ? 1 : 0;
    int ok = 0;
    switch (rq.steps[i]) {
      case request::step::query:
        ok = PQsendQueryParams(conn, s.sql.c_str(), n, nullptr, values.data(), lens, fmts,
                               result_format);
        break;
      case request::step::prepare:
        // stmts[i].sql holds "name", params[0] the SQL text.
        ok = PQsendPrepare(conn, s.sql.c_str(), s.params.at(0)->c_str(), 0, nullptr);
        break;
      case request::step::execute:
        ok = PQsendQueryPrepared(conn, s.sql.c_str(), n, values.data(), lens, fmts, result_format);
        break;
    }
    if (!ok) return false;
  }
  return PQpipelineSync(conn) == 1;
}

void connection::impl::drain_pipeline() {
  int idle_nulls = 0;  // NULLs with nothing due: libpq has nothing more for now
  while (!inflight.empty() && !PQisBusy(conn)) {
    request& rq = *inflight.front();
    PGresult* r = PQgetResult(conn);
    if (rq.awaiting_null) {
      // Each statement's result is followed by a NULL.
      if (r != nullptr) {
        PQclear(r);  // extended protocol: one result per statement; ignore extras
        continue;
      }
      rq.awaiting_null = false;
      ++rq.next;
      continue;
    }
    if (r == nullptr) {
      if (PQstatus(conn) == CONNECTION_BAD) return set_broken("connection lost");
      if (++idle_nulls > 1) break;
      continue;
    }
    idle_nulls = 0;
    if (rq.next < rq.stmts.size()) {
      rq.results.emplace_back(r);
      rq.awaiting_null = true;
      continue;
    }
    if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      inflight.pop_front();
      complete(rq);
      continue;
    }
    // Not a sync where one was due: an error reported outside a statement
    // (e.g. FATAL before the connection drops). Keep it as the last result's cause.
    result extra(r);
    if (!extra.ok() && !rq.results.empty() && rq.results.back().ok())
      rq.results.back() = std::move(extra);
  }
  // Free notifications nobody listens to.
  while (PGnotify* n = PQnotifies(conn))
    PQfreemem(n);
}

asio::awaitable<void> connection::impl::run_owner(std::shared_ptr<impl> self) {
  try {
    while (!broken) {
      if (closing && queue.empty() && inflight.empty()) break;
      if (inflight.empty() && !queue.empty() && queue.front()->k != request::kind::pipeline) {
        request* rq = queue.front();
        queue.pop_front();
        co_await run_exclusive(*rq);
        continue;
      }
      while (!queue.empty() && queue.front()->k == request::kind::pipeline) {
        request* rq = queue.front();
        queue.pop_front();
        inflight.push_back(rq);
        if (!send_pipeline(*rq)) {
          set_broken("sending a query failed");
          break;
        }
      }
      if (broken) break;
      const int f = PQflush(conn);
      if (f < 0) {
        set_broken("sending to the server failed");
        break;
      }
      bool readable = false;
      if (f == 1) {
        // Output is backed up: read while we wait to write, or the server,
        // blocked writing results we do not read, never drains our queries.
        auto r = co_await (sock.wait(wait_type::read) || sock.wait(wait_type::write));
        readable = r.index() == 0;
      } else {
        if (!queue.empty()) continue;
        if (closing && inflight.empty()) break;
        idle_waiting = true;
        wake.expires_at(asio::steady_timer::time_point::max());
        auto r = co_await (sock.wait(wait_type::read) ||
                           wake.async_wait(asio::as_tuple(asio::use_awaitable)));
        idle_waiting = false;
        readable = r.index() == 0;
      }
      if (readable) {
        if (!PQconsumeInput(conn)) {
          set_broken("reading from the server failed");
          break;
        }
        drain_pipeline();
      }
    }
  } catch (const std::exception& e) {
    if (!broken) broken = connection_failure(std::string("internal error: ") + e.what());
  }
  if (broken) fail_all();
  co_await sock.release();
  if (closing && !broken && conn) {
    PQfinish(conn);
    conn = nullptr;
  }
  owner_running = false;
  io::wake_all(closed_waiters.take_all());
  self.reset();
}

// ---------------------------------------------------------------- handle

asio::awaitable<connection> connection::connect(asio::any_io_executor ex, std::string conninfo,
                                                connect_options opts) {
  auto self = std::make_shared<impl>(ex);
  self->opts = opts;
  const char* keys[] = {"dbname", "fallback_application_name", nullptr};
  const char* vals[] = {conninfo.c_str(), opts.application_name.c_str(), nullptr};
  self->conn = PQconnectStartParams(keys, vals, 1);
  co_await self->poll_connect(false, opts.timeout);
  self->after_connect();
  self->start_owner(self);
  co_return connection(std::move(self));
}

connection::connection(connection&&) noexcept = default;

connection& connection::operator=(connection&& o) noexcept {
  if (this != &o) {
    connection old(std::move(*this));
    impl_ = std::move(o.impl_);
  }
  return *this;
}

connection::~connection() {
  if (!impl_) return;
  // Safe from any thread: the owner learns it on its own executor.
  auto ex = impl_->ex;
  asio::post(ex, [i = std::move(impl_)] {
    i->closing = true;
    i->notify();
  });
}

asio::awaitable<result> connection::query(std::string sql, params p) {
  request rq;
  rq.stmts.push_back({std::move(sql), std::move(p), false});
  rq.steps.push_back(request::step::query);
  co_await impl_->submit(rq);
  co_return std::move(rq.results.at(0));
}

asio::awaitable<std::vector<result>> connection::pipeline(std::vector<statement> batch) {
  request rq;
  rq.stmts = std::move(batch);
  for (const auto& s : rq.stmts)
    rq.steps.push_back(s.prepared ? request::step::execute : request::step::query);
  co_await impl_->submit(rq);
  co_return std::move(rq.results);
}

asio::awaitable<result> connection::prepare(std::string name, std::string sql) {
  request rq;
  rq.stmts.push_back({std::move(name), params{std::move(sql)}, false});
  rq.steps.push_back(request::step::prepare);
  co_await impl_->submit(rq);
  co_return std::move(rq.results.at(0));
}

asio::awaitable<result> connection::execute(std::string name, params p) {
  request rq;
  rq.stmts.push_back({std::move(name), std::move(p), true});
  rq.steps.push_back(request::step::execute);
  co_await impl_->submit(rq);
  co_return std::move(rq.results.at(0));
}

asio::awaitable<result> connection::simple(std::string sql) {
  request rq;
  rq.k = request::kind::simple;
  rq.sql = std::move(sql);
  co_await impl_->submit(rq);
  co_return std::move(rq.final);
}

asio::awaitable<result> connection::copy_out(std::string sql, io::buffer_pool& pool,
                                             copy_sink sink) {
  request rq;
  rq.k = request::kind::copy_out;
  rq.sql = std::move(sql);
  rq.pool = &pool;
  rq.sink = &sink;
  co_await impl_->submit(rq);
  co_return std::move(rq.final);
}

asio::awaitable<result> connection::copy_in(std::string sql, copy_source source) {
  request rq;
  rq.k = request::kind::copy_in;
  rq.sql = std::move(sql);
  rq.source = &source;
  co_await impl_->submit(rq);
  co_return std::move(rq.final);
}

asio::awaitable<void> connection::reconnect() {
  impl& i = *impl_;
  if (i.owner_running && !i.broken) co_return;
  while (i.owner_running) {  // a broken owner is still winding down
    co_await io::park([&i](io::wake_handler& h) {
      if (!i.owner_running) return false;
      i.closed_waiters.push(std::move(h));
      return true;
    });
  }
  if (PQresetStart(i.conn) != 1) throw error(connection_failure(PQerrorMessage(i.conn), "08001"));
  co_await i.poll_connect(true, i.opts.timeout);
  i.after_connect();
  i.start_owner(impl_);
}

asio::awaitable<void> connection::close() {
  impl& i = *impl_;
  i.closing = true;
  i.notify();
  while (i.owner_running) {
    co_await io::park([&i](io::wake_handler& h) {
      if (!i.owner_running) return false;
      i.closed_waiters.push(std::move(h));
      return true;
    });
  }
  i.sock.assign(-1);
  if (i.conn) {
    PQfinish(i.conn);
    i.conn = nullptr;
  }
}

bool connection::is_open() const {
  return impl_ && impl_->owner_running && !impl_->broken;
}
std::optional<diagnostics> connection::failure() const {
  return impl_->broken;
}
int connection::backend_pid() const {
  return impl_->conn ? PQbackendPID(impl_->conn) : 0;
}
int connection::server_version() const {
  return impl_->conn ? PQserverVersion(impl_->conn) : 0;
}
std::size_t connection::in_flight() const {
  return impl_->inflight.size() + impl_->queue.size();
}
PGconn* connection::native() const {
  return impl_->conn;
}
const asio::any_io_executor& connection::executor() const {
  return impl_->ex;
}

}  // namespace uringmig::connectors::postgres
