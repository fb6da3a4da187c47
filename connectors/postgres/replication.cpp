#include "connectors/postgres/replication.hpp"

#include "codecs/sql_text.hpp"
#include "codecs/url.hpp"
#include "connectors/postgres/replication_impl.hpp"
#include "connectors/postgres/socket_io.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>
#include <thread>

namespace uringmig::connectors::postgres {

namespace asio = boost::asio;
namespace pgo = codecs::pgoutput;
using namespace boost::asio::experimental::awaitable_operators;
using wait_type = io::foreign_socket::wait_type;
using steady = std::chrono::steady_clock;

namespace {

void log_notice(void*, const char* message) {
  std::string m(message);
  while (!m.empty() && m.back() == '\n')
    m.pop_back();
  spdlog::debug("postgres replication notice: {}", codecs::redact(m));
}

lsn lsn_value(const result& r, int col, const char* what) {
  if (r.rows() < 1 || r.columns() <= col || r.is_null(0, col)) return 0;
  if (auto v = pgo::parse_lsn(r.value(0, col))) return *v;
  diagnostics d;
  d.sqlstate = "08P01";
  d.message = std::string("unreadable LSN in ") + what + ": " + std::string(r.value(0, col));
  throw error(std::move(d));
}

std::string text_value(const result& r, int col) {
  if (r.rows() < 1 || r.columns() <= col || r.is_null(0, col)) return {};
  return std::string(r.value(0, col));
}

}  // namespace

// ---------------------------------------------------------------- impl: commands

asio::awaitable<bool> replication_connection::impl::flush_all() {
  return detail::flush_all(conn, sock, [this](std::string_view what) { set_broken(what); });
}

asio::awaitable<bool> replication_connection::impl::read_more() {
  return detail::read_more(conn, sock, [this](std::string_view what) { set_broken(what); });
}

asio::awaitable<PGresult*> replication_connection::impl::next_result() {
  return detail::next_result(conn, sock, [this](std::string_view what) { set_broken(what); });
}

asio::awaitable<result> replication_connection::impl::run_command(std::string sql, bool copy_both) {
  check_thread();
  if (streaming) throw std::logic_error("replication command while streaming: stop() first");
  if (busy) throw std::logic_error("replication connection: one call at a time");
  if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) {
    // No temporaries in a conditional inside a coroutine (GCC 12).
    diagnostics d;
    if (failure) {
      d = *failure;
    } else {
      d = connection_failure("the connection is closed");
    }
    co_return result(std::move(d));
  }
  failure.reset();  // a failed stream's error was reported; the connection itself is fine
  busy = true;
  struct guard {
    bool& b;
    ~guard() { b = false; }
  } g{busy};
  sock.assign(PQsocket(conn));
  bool sent = PQsendQuery(conn, sql.c_str()) == 1;
  if (sent) sent = co_await flush_all();
  if (!sent) {
    set_broken("sending a command failed");
    co_return result(*failure);
  }
  result last;
  std::optional<result> first_error;
  for (;;) {
    PGresult* r = co_await next_result();
    if (r == nullptr) break;
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COPY_BOTH || st == PGRES_COPY_OUT || st == PGRES_COPY_IN) {
      if (copy_both && st == PGRES_COPY_BOTH) co_return result(r);
      // libpq would hand this result out forever; the connection cannot go on.
      PQclear(r);
      diagnostics d;
      d.sqlstate = "0A000";
      d.message = "a COPY or START_REPLICATION cannot run through command(); use start()";
      d.connection_lost = true;
      failure = d;
      first_error = result(std::move(d));
      sock.assign(-1);
      PQfinish(std::exchange(conn, nullptr));
      break;
    }
    result x(r);
    if (!x.ok()) {
      if (!first_error) first_error = std::move(x);
    } else {
      last = std::move(x);
    }
  }
  if (first_error) co_return std::move(*first_error);
  if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD || failure) {
    set_broken("connection lost");
    co_return result(*failure);
  }
  if (copy_both) {
    diagnostics d;
    d.sqlstate = "08P01";
    d.message = "the server did not start streaming";
    co_return result(std::move(d));
  }
  co_return last;
}

// ---------------------------------------------------------------- handle

asio::awaitable<replication_connection> replication_connection::connect(asio::any_io_executor ex,
                                                                        std::string conninfo,
                                                                        connect_options opts) {
  auto self = std::make_shared<impl>(ex);
  self->thread = std::this_thread::get_id();
  // Later keywords override what `dbname` expands to: replication=database always wins.
  const char* keys[] = {"dbname", "replication", "fallback_application_name", nullptr};
  const char* vals[] = {conninfo.c_str(), "database", opts.application_name.c_str(), nullptr};
  self->conn = PQconnectStartParams(keys, vals, 1);
  PGconn* c = self->conn;
  if (c == nullptr) throw error(connection_failure("out of memory allocating a connection"));
  if (PQstatus(c) == CONNECTION_BAD) throw error(connection_failure(PQerrorMessage(c), "08001"));
  asio::steady_timer deadline(ex);
  deadline.expires_after(opts.timeout);
  // As libpq documents it: start as if PGRES_POLLING_WRITING was returned.
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) {
      self->sock.assign(-1);
      throw error(connection_failure(PQerrorMessage(c), "08001"));
    }
    self->sock.assign(PQsocket(c));  // libpq may have opened another socket
    const wait_type w = st == PGRES_POLLING_READING ? wait_type::read : wait_type::write;
    auto r =
        co_await (self->sock.wait(w) || deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (r.index() == 1) {
      self->sock.assign(-1);
      throw error(connection_failure("timed out after " +
                                         std::to_string(opts.timeout.count() / 1000) +
                                         "s connecting to the server",
                                     "08001"));
    }
    st = PQconnectPoll(c);
  }
  PQsetNoticeProcessor(c, &log_notice, nullptr);
  if (PQsetnonblocking(c, 1) != 0) throw error(connection_failure(PQerrorMessage(c)));
  co_return replication_connection(std::move(self));
}

replication_connection::replication_connection(replication_connection&&) noexcept = default;

replication_connection& replication_connection::operator=(replication_connection&& o) noexcept {
  if (this != &o) {
    replication_connection old(std::move(*this));
    impl_ = std::move(o.impl_);
  }
  return *this;
}

replication_connection::~replication_connection() {
  if (!impl_) return;
  // The owner learns it on its own executor; the last reference closes the connection.
  auto ex = impl_->ex;
  asio::post(ex, [i = std::move(impl_)] {
    i->closing = true;
    i->notify();
  });
}

asio::awaitable<result> replication_connection::command(std::string sql) {
  co_return co_await impl_->run_command(std::move(sql), false);
}

asio::awaitable<system_identity> replication_connection::identify_system() {
  result r = co_await impl_->run_command("IDENTIFY_SYSTEM", false);
  r.check("IDENTIFY_SYSTEM");
  system_identity id;
  id.system_id = text_value(r, 0);
  const std::string tli = text_value(r, 1);
  std::from_chars(tli.data(), tli.data() + tli.size(), id.timeline);
  id.xlogpos = lsn_value(r, 2, "IDENTIFY_SYSTEM");
  id.dbname = text_value(r, 3);
  co_return id;
}

asio::awaitable<replication_slot> replication_connection::create_slot(std::string name,
                                                                      slot_options opts) {
  if (!valid_slot_name(name))
    throw std::invalid_argument("invalid replication slot name \"" + name +
                                "\": use 1-63 lower-case letters, digits and underscores");
  std::string sql = "CREATE_REPLICATION_SLOT " + name;
  if (opts.temporary) sql += " TEMPORARY";
  sql += " LOGICAL pgoutput";
  if (server_version() >= 150000) {
    sql += opts.export_snapshot ? " (SNAPSHOT 'export')" : " (SNAPSHOT 'nothing')";
  } else {
    sql += opts.export_snapshot ? " EXPORT_SNAPSHOT" : " NOEXPORT_SNAPSHOT";
  }
  result r = co_await impl_->run_command(std::move(sql), false);
  r.check("CREATE_REPLICATION_SLOT " + name);
  replication_slot slot;
  slot.name = text_value(r, 0);
  slot.consistent_point = lsn_value(r, 1, "CREATE_REPLICATION_SLOT");
  slot.snapshot_name = text_value(r, 2);
  slot.output_plugin = text_value(r, 3);
  co_return slot;
}

asio::awaitable<void> replication_connection::drop_slot(std::string name, bool wait) {
  if (!valid_slot_name(name))
    throw std::invalid_argument("invalid replication slot name \"" + name + "\"");
  std::string sql = "DROP_REPLICATION_SLOT " + name;
  if (wait) sql += " WAIT";
  result r = co_await impl_->run_command(std::move(sql), false);
  r.check("DROP_REPLICATION_SLOT " + name);
}

asio::awaitable<void> replication_connection::start(stream_options opts) {
  impl& i = *impl_;
  i.check_thread();
  if (i.streaming) throw std::logic_error("start(): the connection is streaming already");
  // PostgreSQL (15, later sources alike) does not reset the walsender's end-of-stream flags
  // for a second logical START_REPLICATION: it would end at once. Connect again instead.
  if (i.streamed) throw std::logic_error("start(): one stream per connection; connect again");
  if (!valid_slot_name(opts.slot))
    throw std::invalid_argument("invalid replication slot name \"" + opts.slot + "\"");
  if (opts.publications.empty())
    throw std::invalid_argument("START_REPLICATION with pgoutput needs a publication");
  const int version = server_version();
  std::uint32_t proto = opts.proto_version;
  if (proto == 0) proto = version >= 140000 ? 2 : 1;

  // The heartbeat while read-ahead is blocked must beat the server's timeout.
  std::chrono::milliseconds timeout{0};
  {
    result show = co_await i.run_command("SHOW wal_sender_timeout", false);
    if (show.ok() && show.rows() == 1) {
      if (auto t = parse_time_setting(show.value(0, 0))) timeout = *t;
    }
  }

  std::string sql = "START_REPLICATION SLOT " + opts.slot + " LOGICAL " +
                    pgo::format_lsn(opts.start) + " (proto_version '" + std::to_string(proto) +
                    "', publication_names " + publication_names_option(opts.publications);
  if (opts.messages && version >= 140000) sql += ", messages 'true'";
  if (proto >= 2) sql += ", streaming 'on'";
  sql += ")";
  result r = co_await i.run_command(std::move(sql), true);
  r.check("START_REPLICATION SLOT " + opts.slot);
  i.streamed = true;

  i.free_messages();
  i.failure.reset();
  i.stop_requested = false;
  i.closing = false;
  i.copy_ended = false;
  i.flush_pending = false;
  i.proto = proto;
  i.interval = std::max(opts.status_interval, std::chrono::milliseconds(1));
  i.heartbeat = i.interval;
  if (timeout.count() > 0) i.heartbeat = std::min(i.interval, timeout / 3);
  i.last_status = steady::now();
  i.wake.expires_at(asio::steady_timer::time_point::max());
  i.streaming = true;
  asio::co_spawn(i.ex, i.run_owner(impl_), [](std::exception_ptr e) {
    // The owner catches what its work throws; reaching here is a bug.
    if (e) spdlog::critical("replication connection owner ended with an exception");
  });
}

bool replication_connection::is_streaming() const {
  return impl_ && impl_->streaming;
}
std::optional<diagnostics> replication_connection::failure() const {
  return impl_->failure;
}
lsn replication_connection::confirmed_lsn() const {
  return impl_->confirmed;
}
lsn replication_connection::server_wal_end() const {
  return impl_->wal_end;
}
std::chrono::system_clock::time_point replication_connection::server_time() const {
  return pgo::from_pg_time(impl_->server_time);
}
std::uint32_t replication_connection::proto_version() const {
  return impl_->proto;
}
stream_counters replication_connection::counters() const {
  return impl_->counters;
}
int replication_connection::backend_pid() const {
  return impl_->conn ? PQbackendPID(impl_->conn) : 0;
}
int replication_connection::server_version() const {
  return impl_->conn ? PQserverVersion(impl_->conn) : 0;
}
PGconn* replication_connection::native() const {
  return impl_->conn;
}

// ---------------------------------------------------------------- helpers

bool valid_slot_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string publication_names_option(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names) {
    if (!list.empty()) list += ',';
    list += codecs::quote_ident(n);
  }
  return codecs::quote_literal(list);
}

std::optional<std::chrono::milliseconds> parse_time_setting(std::string_view text) noexcept {
  std::int64_t n = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [p, ec] = std::from_chars(first, last, n);
  if (ec != std::errc() || n < 0) return std::nullopt;
  const std::string_view unit(p, static_cast<std::size_t>(last - p));
  using std::chrono::milliseconds;
  if (unit.empty() || unit == "ms") return milliseconds(n);
  if (unit == "us") return milliseconds(n / 1000);
  if (unit == "s") return milliseconds(n * 1000);
  if (unit == "min") return milliseconds(n * 60'000);
  if (unit == "h") return milliseconds(n * 3'600'000);
  if (unit == "d") return milliseconds(n * 86'400'000);
  return std::nullopt;
}

}  // namespace uringmig::connectors::postgres
