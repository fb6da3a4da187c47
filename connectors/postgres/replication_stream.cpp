// The streaming half of a replication connection: the owner coroutine, keepalives, standby
// status updates, read-ahead, the clean stop.
#include "connectors/postgres/replication_impl.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>

namespace uringmig::connectors::postgres {

namespace asio = boost::asio;
namespace pgo = codecs::pgoutput;
using namespace boost::asio::experimental::awaitable_operators;
using wait_type = io::foreign_socket::wait_type;
using steady = std::chrono::steady_clock;

// ---------------------------------------------------------------- the stream

replication_connection::impl::pumped replication_connection::impl::pump() {
  while (ready == nullptr) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn, &buf, 1);
    if (n == 0) return pumped::need_input;
    if (n == -1) {
      copy_ended = true;
      notify();
      return pumped::ended;
    }
    if (n < 0) {
      set_broken("reading the replication stream failed");
      return pumped::failed;
    }
    auto decoded = pgo::decode_copy_data(pgo::as_bytes({buf, static_cast<std::size_t>(n)}));
    if (!decoded) {
      PQfreemem(buf);
      diagnostics d;
      d.sqlstate = "08P01";
      d.message = "replication stream: " + decoded.error().to_string();
      d.connection_lost = true;  // still in COPY mode: the connection cannot take commands
      failure = std::move(d);
      notify();
      return pumped::failed;
    }
    if (const auto* k = std::get_if<pgo::primary_keepalive>(&*decoded)) {
      ++counters.keepalives;
      wal_end = std::max(wal_end, k->wal_end);
      // Every message before this keepalive was handed out and applied (pump stops at a
      // message): all WAL up to the server's sent position is done with.
      if (caught_up) confirmed = std::max(confirmed, k->wal_end);
      server_time = k->send_time;
      const bool reply = k->reply_requested;
      PQfreemem(buf);
      if (reply) {
        ++counters.replies_requested;
        if (!send_status()) return pumped::failed;
      }
      continue;
    }
    const auto& w = std::get<pgo::xlog_data>(*decoded);
    wal_end = std::max(wal_end, w.wal_end);
    server_time = w.send_time;
    ready = buf;
    ready_msg = wal_message{w.wal_start, w.wal_end, pgo::from_pg_time(w.send_time), w.payload};
  }
  return pumped::message;
}

bool replication_connection::impl::send_status() {
  pgo::standby_status st;
  st.write = confirmed;
  st.flush = confirmed;
  st.apply = confirmed;
  st.client_time = pgo::to_pg_time(std::chrono::system_clock::now());
  std::array<std::byte, pgo::standby_status_size> msg{};
  pgo::encode_standby_status(st, msg);
  if (PQputCopyData(conn, reinterpret_cast<const char*>(msg.data()),
                    static_cast<int>(msg.size())) != 1) {
    set_broken("sending a standby status update failed");
    return false;
  }
  const int f = PQflush(conn);
  if (f < 0) {
    set_broken("sending a standby status update failed");
    return false;
  }
  last_status = steady::now();
  ++counters.status_updates;
  if (f == 1 && !flush_pending) {
    flush_pending = true;
    if (owner_waiting && !owner_writing) notify();
  }
  return true;
}

wal_message replication_connection::impl::take_ready() {
  current = std::exchange(ready, nullptr);
  caught_up = false;  // until the caller says it applied this one
  wal_message m = ready_msg;
  ++counters.messages;
  // Read ahead from what libpq already holds; the owner waits for the socket only when that
  // runs dry (or sends the keepalive reply flushed here).
  if (streaming && !stop_requested && !copy_ended && !failure && !closing) {
    if (pump() == pumped::need_input && owner_waiting && !owner_reading) notify();
  }
  return m;
}

asio::awaitable<int> replication_connection::impl::wait_events(bool read, bool write) {
  // 0: readable, 1: writable, 2: the timer (status due or notify()).
  if (read && write) {
    auto r = co_await (sock.wait(wait_type::read) || sock.wait(wait_type::write) ||
                       wake.async_wait(asio::as_tuple(asio::use_awaitable)));
    co_return static_cast<int>(r.index());
  }
  if (read) {
    auto r = co_await (sock.wait(wait_type::read) ||
                       wake.async_wait(asio::as_tuple(asio::use_awaitable)));
    co_return r.index() == 0 ? 0 : 2;
  }
  if (write) {
    auto r = co_await (sock.wait(wait_type::write) ||
                       wake.async_wait(asio::as_tuple(asio::use_awaitable)));
    co_return r.index() == 0 ? 1 : 2;
  }
  co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return 2;
}

asio::awaitable<bool> replication_connection::impl::drain_copy() {
  for (;;) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn, &buf, 1);
    if (n > 0) {
      PQfreemem(buf);  // after CopyDone: nobody reads it, the slot resends it next time
      continue;
    }
    if (n == -1) co_return true;
    if (n < -1) {
      set_broken("reading the replication stream failed");
      co_return false;
    }
    const bool more = co_await read_more();
    if (!more) co_return false;
  }
}

asio::awaitable<void> replication_connection::impl::end_stream() {
  if (ready) PQfreemem(std::exchange(ready, nullptr));
  if (!copy_ended) {
    // Ours to end: report what was confirmed, then CopyDone, then read to the server's.
    if (!send_status()) co_return;
    for (;;) {
      const int rc = PQputCopyEnd(conn, nullptr);
      if (rc == 1) break;
      if (rc < 0) {
        set_broken("ending the replication stream failed");
        co_return;
      }
      const bool flushed = co_await flush_all();
      if (!flushed) co_return;
    }
    const bool flushed = co_await flush_all();
    if (!flushed) co_return;
    const bool drained = co_await drain_copy();
    if (!drained) co_return;
  }
  for (;;) {
    PGresult* r = co_await next_result();
    if (r == nullptr) break;
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COPY_IN) {
      // The server ended first (CopyDone from it): answer with ours.
      PQclear(r);
      if (PQputCopyEnd(conn, nullptr) != 1) {
        set_broken("ending the replication stream failed");
        break;
      }
      const bool flushed = co_await flush_all();
      if (!flushed) break;
      continue;
    }
    if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
      PQclear(r);
      const bool drained = co_await drain_copy();
      if (!drained) break;
      continue;
    }
    result x(r);
    if (!x.ok() && !failure) failure = x.error();
  }
  if (!failure && PQstatus(conn) == CONNECTION_BAD) set_broken("connection lost");
}

asio::awaitable<void> replication_connection::impl::run_owner(std::shared_ptr<impl> self) {
  try {
    for (;;) {
      if (closing || failure) break;
      if (stop_requested || copy_ended) {
        co_await end_stream();
        break;
      }
      if (steady::now() - last_status >= status_every() && !send_status()) break;
      if (ready == nullptr && pump() == pumped::failed) break;
      if (copy_ended) continue;
      if (ready) wake_consumer();
      owner_reading = ready == nullptr;
      owner_writing = flush_pending;
      owner_waiting = true;
      wake.expires_at(last_status + status_every());
      const int ev = co_await wait_events(owner_reading, owner_writing);
      owner_waiting = false;
      if (ev == 0 && !PQconsumeInput(conn)) {
        set_broken("reading from the server failed");
        break;
      }
      if (flush_pending) {
        const int f = PQflush(conn);
        if (f < 0) {
          set_broken("sending to the server failed");
          break;
        }
        flush_pending = f == 1;
      }
    }
  } catch (const std::exception& e) {
    if (!failure) failure = connection_failure(std::string("internal error: ") + e.what());
  }
  owner_waiting = false;
  if (ready) PQfreemem(std::exchange(ready, nullptr));
  streaming = false;
  wake_consumer();
  io::wake_all(done_waiters.take_all());
  self.reset();
}

asio::awaitable<std::optional<wal_message>> replication_connection::next() {
  impl& i = *impl_;
  i.check_thread();
  if (i.consumer) throw std::logic_error("next(): another next() is waiting already");
  if (i.current) PQfreemem(std::exchange(i.current, nullptr));
  for (;;) {
    if (i.ready) co_return i.take_ready();
    if (!i.streaming) {
      if (i.failure) throw error(*i.failure);
      co_return std::nullopt;
    }
    co_await io::park([&i](io::wake_handler& h) {
      if (i.ready || !i.streaming) return false;
      i.consumer = std::move(h);
      if (i.owner_waiting && !i.owner_reading) i.notify();
      return true;
    });
  }
}

std::optional<wal_message> replication_connection::try_next() {
  impl& i = *impl_;
  if (i.consumer || !i.ready) return std::nullopt;
  i.check_thread();
  if (i.current) PQfreemem(std::exchange(i.current, nullptr));
  return i.take_ready();
}

asio::awaitable<bool> replication_connection::wait_for_message(std::chrono::milliseconds limit) {
  impl& i = *impl_;
  i.check_thread();
  if (i.consumer) throw std::logic_error("wait_for_message(): next() is waiting already");
  if (i.ready || !i.streaming) co_return true;
  // The timer's handler may run after this returns (a completion already queued when the
  // timer is cancelled): it holds the impl, and at worst wakes a later next() that re-parks.
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  timer.async_wait([keep = impl_](boost::system::error_code ec) {
    if (!ec) keep->wake_consumer();
  });
  co_await io::park([&i](io::wake_handler& h) {
    if (i.ready || !i.streaming) return false;
    i.consumer = std::move(h);
    if (i.owner_waiting && !i.owner_reading) i.notify();
    return true;
  });
  timer.cancel();
  co_return i.ready || !i.streaming;
}

bool replication_connection::has_buffered() const {
  return impl_ && impl_->ready != nullptr;
}

void replication_connection::confirm(lsn flushed, bool caught_up) {
  impl_->confirmed = std::max(impl_->confirmed, flushed);
  // A message read ahead is not applied yet.
  impl_->caught_up = caught_up && impl_->ready == nullptr;
}

asio::awaitable<void> replication_connection::stop() {
  impl& i = *impl_;
  i.check_thread();
  if (i.current) PQfreemem(std::exchange(i.current, nullptr));
  if (i.streaming) {
    i.stop_requested = true;
    i.notify();
    while (i.streaming) {
      co_await io::park([&i](io::wake_handler& h) {
        if (!i.streaming) return false;
        i.done_waiters.push(std::move(h));
        return true;
      });
    }
  }
  if (i.failure) throw error(*i.failure);
}

asio::awaitable<void> replication_connection::close() {
  impl& i = *impl_;
  i.check_thread();
  i.closing = true;
  i.notify();
  while (i.streaming) {
    co_await io::park([&i](io::wake_handler& h) {
      if (!i.streaming) return false;
      i.done_waiters.push(std::move(h));
      return true;
    });
  }
  co_await i.sock.release();
  i.free_messages();
  if (i.conn) PQfinish(std::exchange(i.conn, nullptr));
}

}  // namespace uringmig::connectors::postgres
