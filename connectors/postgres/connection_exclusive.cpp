// Requests that cannot share the pipeline (libpq allows neither COPY nor the
// simple protocol in pipeline mode): the owner runs them alone, after the
// pipeline drained, then re-enters pipeline mode.
#include "connectors/postgres/connection_impl.hpp"
#include "connectors/postgres/socket_io.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <climits>

namespace uringmig::connectors::postgres {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {
constexpr std::size_t put_piece = 32 * 1024;
}
using wait_type = io::foreign_socket::wait_type;

asio::awaitable<bool> connection::impl::flush_all() {
  return detail::flush_all(conn, sock, [this](std::string_view what) { set_broken(what); });
}

asio::awaitable<bool> connection::impl::read_more() {
  return detail::read_more(conn, sock, [this](std::string_view what) { set_broken(what); });
}

asio::awaitable<PGresult*> connection::impl::next_result() {
  return detail::next_result(conn, sock, [this](std::string_view what) { set_broken(what); });
}

asio::awaitable<result> connection::impl::finish_results(result first) {
  // Collect what remains up to libpq's NULL; the first error wins.
  for (;;) {
    PGresult* r = co_await next_result();
    if (r == nullptr) break;
    result x(r);
    if (!x.ok()) {
      if (first.ok()) first = std::move(x);
    } else if (first.ok() && first.native() == nullptr) {
      first = std::move(x);  // the command's own result ("COPY n")
    }
  }
  if (broken && first.ok()) first = result(*broken);
  co_return first;
}

asio::awaitable<void> connection::impl::run_exclusive(request& rq) {
  if (PQexitPipelineMode(conn) != 1) {
    rq.final = result(connection_failure(PQerrorMessage(conn), "XX000"));
    complete(rq);
    co_return;
  }
  switch (rq.k) {
    case request::kind::simple:
      co_await run_simple(rq);
      break;
    case request::kind::copy_out:
      co_await run_copy_out(rq);
      break;
    case request::kind::copy_in:
      co_await run_copy_in(rq);
      break;
    case request::kind::pipeline:
      break;
  }
  if (!broken && PQenterPipelineMode(conn) != 1) set_broken("re-entering pipeline mode failed");
  complete(rq);
}

asio::awaitable<void> connection::impl::run_simple(request& rq) {
  bool sent = PQsendQuery(conn, rq.sql.c_str()) == 1;
  if (sent) sent = co_await flush_all();
  if (!sent) {
    set_broken("sending a query failed");
    rq.final = result(*broken);
    co_return;
  }
  result last;
  std::optional<result> first_error;
  for (;;) {
    PGresult* r = co_await next_result();
    if (r == nullptr) break;
    result x(r);
    if (!x.ok()) {
      if (!first_error) first_error = std::move(x);
    } else {
      last = std::move(x);
    }
  }
  if (first_error) {
    rq.final = std::move(*first_error);
  } else if (broken) {
    rq.final = result(*broken);
  } else {
    rq.final = std::move(last);
  }
}

asio::awaitable<bool> connection::impl::start_copy(request& rq, ExecStatusType expected) {
  bool sent =
      PQsendQueryParams(conn, rq.sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  if (sent) sent = co_await flush_all();
  if (!sent) {
    set_broken("sending COPY failed");
    rq.final = result(*broken);
    co_return false;
  }
  PGresult* head = co_await next_result();
  if (head != nullptr && PQresultStatus(head) == expected) {
    PQclear(head);
    co_return true;
  }
  // No temporaries in a conditional inside co_await (GCC 12 evaluates both
  // arms' destructors), and `broken` may be empty here.
  result first;
  if (head != nullptr) {
    first = result(head);
  } else {
    first = result(broken ? *broken : connection_failure("no result from the server"));
  }
  rq.final = co_await finish_results(std::move(first));
  co_return false;
}

asio::awaitable<void> connection::impl::run_copy_out(request& rq) {
  const bool started = co_await start_copy(rq, PGRES_COPY_OUT);
  if (!started) co_return;

  io::buffer buf = co_await rq.pool->acquire();
  bool stopped = false;  // the sink said stop (or threw): read the rest, keep nothing
  auto hand_over = [&]() -> asio::awaitable<void> {
    if (stopped) co_return;
    try {
      {
        const bool awaited = co_await (*rq.sink)(std::move(buf));
        if (!awaited) stopped = true;
      }
    } catch (...) {
      rq.exception = std::current_exception();
      stopped = true;
    }
    if (!stopped) buf = co_await rq.pool->acquire();
  };
  for (;;) {
    char* row = nullptr;
    const int n = PQgetCopyData(conn, &row, 1);
    if (n > 0) {
      // Rows larger than a slab span several buffers: COPY data is a byte
      // stream, the receiving COPY does not care where buffers split.
      std::size_t off = 0;
      while (!stopped && off < static_cast<std::size_t>(n)) {
        if (buf.room() == 0) co_await hand_over();
        if (!stopped) off += buf.append(row + off, static_cast<std::size_t>(n) - off);
      }
      PQfreemem(row);
      continue;
    }
    if (n == 0) {
      {
        const bool awaited = co_await read_more();
        if (!awaited) break;
      }
      continue;
    }
    break;  // -1: COPY done; -2: error, reported by the result below
  }
  if (!stopped && !buf.empty() && !broken) co_await hand_over();
  buf.reset();
  rq.final = co_await finish_results(result());
}

asio::awaitable<void> connection::impl::run_copy_in(request& rq) {
  const bool started = co_await start_copy(rq, PGRES_COPY_IN);
  if (!started) co_return;

  bool server_gone = false;  // the server ended the COPY (error) or the connection broke
  std::string abort_reason;
  for (;;) {
    copy_piece piece;
    try {
      piece = co_await (*rq.source)();
    } catch (const std::exception& e) {
      piece.abort = std::string("data source failed: ") + e.what();
    } catch (...) {
      piece.abort = "data source failed";
    }
    if (!piece.abort.empty()) {
      abort_reason = "uringmig: " + piece.abort;
      break;
    }
    if (!piece.data) break;
    const std::optional<io::buffer>& b = piece.data;
    const std::byte* p = b->data();
    std::size_t left = b->size();
    while (left > 0) {
      // Small pieces, flushed as they go: after a partial send libpq moves
      // what is left to the front of its buffer, so a big buffer there costs
      // a memmove per send (seen in perf: 15% of the process on 256 KiB puts).
      const int chunk = static_cast<int>(std::min<std::size_t>(left, put_piece));
      const int rc = PQputCopyData(conn, reinterpret_cast<const char*>(p), chunk);
      if (rc == 1) {
        p += chunk;
        left -= static_cast<std::size_t>(chunk);
        const int f = PQflush(conn);
        if (f < 0) {
          set_broken("sending COPY data failed");
          break;
        }
        if (f == 1) {
          const bool awaited = co_await flush_all();
          if (!awaited) break;
        }
      } else if (rc == 0) {
        {
          const bool awaited = co_await flush_all();
          if (!awaited) break;
        }
      } else {
        server_gone = true;
        break;
      }
    }
    if (server_gone || broken) break;
    // Keep libpq's buffer small: what we hold is bounded by the pool.
    {
      const bool awaited = co_await flush_all();
      if (!awaited) break;
    }
  }
  if (!server_gone && !broken) {
    const char* why = abort_reason.empty() ? nullptr : abort_reason.c_str();
    for (;;) {
      const int rc = PQputCopyEnd(conn, why);
      if (rc == 1) break;
      if (rc < 0) break;
      const bool flushed = co_await flush_all();
      if (!flushed) break;
    }
    co_await flush_all();
  }
  rq.final = co_await finish_results(result());
}

}  // namespace uringmig::connectors::postgres
