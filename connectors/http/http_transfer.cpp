// One exchange on the multi handle: the easy handle's options, libcurl's
// callbacks (body in, response out), the streamed body's feeder, completion,
// cancellation; and http_client::request(), which awaits it.

#include "connectors/http/http_transfer.hpp"

#include "codecs/url.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace uringmig::connectors::http {

namespace asio = boost::asio;

namespace {

char lower_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower_ascii);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower_ascii(x) == lower_ascii(y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool has_header(const http_headers& h, std::string_view name) {
  return std::any_of(h.begin(), h.end(), [&](const auto& kv) { return iequals(kv.first, name); });
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == 0; });
}

/// Misuse is an exception; nothing here quotes the URL (it could hold a secret).
void validate(const http_request& rq) {
  const std::string_view url = rq.url;
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos ||
      !(iequals(url.substr(0, scheme), "http") || iequals(url.substr(0, scheme), "https")))
    throw std::invalid_argument("http request: the URL is not http:// or https://");
  const std::string_view rest = url.substr(scheme + 3);
  if (rest.substr(0, rest.find_first_of("/?#")).find('@') != std::string_view::npos)
    throw std::invalid_argument(
        "http request: credentials in the URL; pass them as http_request::user/password");
  if (has_control(url)) throw std::invalid_argument("http request: control characters in the URL");
  for (const auto& [name, value] : rq.headers) {
    if (name.empty() || name.find(':') != std::string::npos || has_control(name) ||
        has_control(value))
      throw std::invalid_argument("http request: malformed header '" + lower(name) + "'");
  }
  if (rq.stream != nullptr && !rq.body.empty())
    throw std::invalid_argument("http request: both a complete body and a stream");
  const bool carries = rq.method == http_method::put || rq.method == http_method::post;
  if (!carries && (rq.stream != nullptr || !rq.body.empty()))
    throw std::invalid_argument("http request: a body needs PUT or POST");
}

void append_header(curl_slist*& list, const std::string& line) {
  curl_slist* next = curl_slist_append(list, line.c_str());
  if (next == nullptr) throw std::bad_alloc();
  list = next;
}

}  // namespace

// ---------------------------------------------------------------- transfer

transfer::transfer(std::shared_ptr<http_client::impl> client, const http_request& rq)
    : client_(std::move(client)), rq_(rq) {
  easy_ = curl_easy_init();
  if (easy_ == nullptr) throw std::runtime_error("libcurl: curl_easy_init failed");
  try {
    configure();
  } catch (...) {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(easy_);
    throw;
  }
}

transfer::~transfer() {
  if (feeder_running_) {
    std::fprintf(stderr, "uringmig: internal error: HTTP transfer destroyed while fed\n");
    std::abort();
  }
  detach();  // request() unwound while libcurl still had it
  curl_easy_cleanup(easy_);
  curl_slist_free_all(headers_);
}

void transfer::configure() {
  const http_options& o = rq_.options;
  const bool streamed = rq_.stream != nullptr;
  const bool has_body = streamed || !rq_.body.empty();
  for (const auto& [name, value] : rq_.headers)
    append_header(headers_, value.empty() ? name + ";" : name + ": " + value);
  if (!has_header(rq_.headers, "expect")) {
    expects_continue_ = has_body && o.expect_continue && o.expect_100_timeout.count() > 0;
    append_header(headers_, has_body && o.expect_continue ? "Expect: 100-continue" : "Expect:");
  }
  if (streamed && !has_header(rq_.headers, "transfer-encoding"))
    append_header(headers_, "Transfer-Encoding: chunked");

  CURL* e = easy_;
  curl_easy_setopt(e, CURLOPT_PRIVATE, this);
  curl_easy_setopt(e, CURLOPT_URL, rq_.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &transfer::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &transfer::on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout.count()));
  curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS,
                   static_cast<long>(o.expect_100_timeout.count()));
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &close_socket_cb);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, client_.get());
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, client_->opts.upload_buffer_size);
  if (o.accept_gzip) curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
  if (!client_->opts.ca_file.empty())
    curl_easy_setopt(e, CURLOPT_CAINFO, client_->opts.ca_file.c_str());
  const long verify = client_->opts.verify_tls ? 1L : 0L;
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, client_->opts.verify_tls ? 2L : 0L);
  if (!rq_.user.empty()) {
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERNAME, rq_.user.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, rq_.password.c_str());
  }
  const curl_off_t size = streamed ? -1 : static_cast<curl_off_t>(rq_.body.size());
  switch (rq_.method) {
    case http_method::get:
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
      break;
    case http_method::head:
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
      break;
    case http_method::put:
      curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, size);
      break;
    case http_method::post:
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, size);
      break;
    case http_method::del:
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
      break;
  }
  if (rq_.method == http_method::put || rq_.method == http_method::post) {
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &transfer::on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, this);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, &transfer::on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, this);
  }
}

void transfer::start() {
  t0_ = std::chrono::steady_clock::now();
  if (client_->closing) {
    abort(CURLE_ABORTED_BY_CALLBACK, "the HTTP client was closed");
    return;
  }
  client_->active[easy_] = this;
  const CURLMcode mc = curl_multi_add_handle(client_->multi, easy_);
  if (mc != CURLM_OK) {
    client_->active.erase(easy_);
    abort(CURLE_FAILED_INIT, std::string("libcurl: ") + curl_multi_strerror(mc));
    return;
  }
  in_multi_ = true;
  if (expects_continue_) watch_expect();
}

namespace {

/// Every `every` while the transfer of `easy` still waits for its 100 past its own deadline, asks
/// libcurl to look at the transfer's socket. The handler holds no pointer to the transfer: it
/// finds it in the client's map, so it may outlive it.
void poke_while_waiting(std::shared_ptr<http_client::impl> c, CURL* easy,
                        std::shared_ptr<asio::steady_timer> timer,
                        std::chrono::milliseconds every) {
  timer->expires_after(every);
  timer->async_wait([c = std::move(c), easy, timer, every](const boost::system::error_code& ec) {
    if (ec || c->closing) return;
    auto it = c->active.find(easy);
    if (it == c->active.end() || !it->second->awaiting_continue()) return;
    // (CURLINFO_ACTIVESOCKET knows no socket before the transfer ends.) Events 0: libcurl polls
    // the socket itself, then looks at its 100 wait.
    if (const curl_socket_t fd = it->second->socket(); fd != CURL_SOCKET_BAD) c->act(fd, 0);
    poke_while_waiting(c, easy, timer, every);
  });
}

}  // namespace

void transfer::watch_expect() {
  // libcurl 7.88 drops a timeout that falls due less than 1 ms after the one it is handling (it
  // compares its timer list in whole milliseconds, but its 100-continue check exactly), and
  // then holds the body back until a 100 that may never come. After the wait has run out,
  // poke the transfer until the body goes: a poke before its time changes nothing.
  const auto wait = rq_.options.expect_100_timeout;
  auto timer = std::make_shared<asio::steady_timer>(client_->ex);
  expect_watch_ = timer;
  timer->expires_after(wait + std::chrono::milliseconds(5));
  timer->async_wait([c = client_, easy = easy_, timer, wait](const boost::system::error_code& ec) {
    if (ec) return;
    poke_while_waiting(
        c, easy, timer,
        std::clamp(wait / 8, std::chrono::milliseconds(5), std::chrono::milliseconds(250)));
  });
}

std::chrono::microseconds transfer::since_start() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               t0_);
}

void transfer::detach() {
  if (expect_watch_) expect_watch_->cancel();  // the io_context must not wait for it
  if (in_multi_) {
    in_multi_ = false;
    curl_multi_remove_handle(client_->multi, easy_);
  }
  client_->active.erase(easy_);
}

void transfer::finish(CURLcode rc) {
  if (finished_) return;
  long status = 0;
  long connects = 0;
  long port = 0;
  curl_off_t connect = 0;
  curl_off_t first_byte = 0;
  curl_off_t total = 0;
  curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(easy_, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo(easy_, CURLINFO_LOCAL_PORT, &port);
  curl_easy_getinfo(easy_, CURLINFO_CONNECT_TIME_T, &connect);
  curl_easy_getinfo(easy_, CURLINFO_STARTTRANSFER_TIME_T, &first_byte);
  curl_easy_getinfo(easy_, CURLINFO_TOTAL_TIME_T, &total);
  resp_.status = static_cast<int>(status);
  resp_.new_connections = connects;
  resp_.local_port = static_cast<int>(port);
  resp_.timing.connect = std::chrono::microseconds(connect);
  resp_.timing.start_transfer = std::chrono::microseconds(first_byte);
  resp_.timing.total = std::chrono::microseconds(total);
  if (rc != CURLE_OK) {
    const char* what = errbuf_[0] != 0 ? errbuf_ : curl_easy_strerror(rc);
    resp_.error = transport_error{static_cast<int>(rc), codecs::redact(what)};
    spdlog::debug("http: {} {} failed: {}", to_string(rq_.method), codecs::redact(rq_.url),
                  resp_.error->message);
  }
  ++client_->completed;
  detach();
  finished_ = true;
  end_feeding();
  notify();
}

void transfer::abort(CURLcode rc, std::string why) {
  if (finished_) return;
  detach();
  finished_ = true;
  resp_.error = transport_error{static_cast<int>(rc), std::move(why)};
  end_feeding();
  notify();
}

void transfer::cancel() {
  if (finished_) return;
  cancelled_ = true;
  abort(CURLE_ABORTED_BY_CALLBACK, "cancelled");
}

void transfer::notify() {
  if (!waiter_) return;
  io::wake_handler h = std::move(*waiter_);
  waiter_.reset();
  io::wake(std::move(h));
}

void transfer::end_feeding() {
  queue_.clear();  // the slabs go back to their pool now
  // Ended before the body did: the producer learns through send() == false
  // that nobody reads any more (and a receive() in progress returns).
  if (rq_.stream != nullptr && !eof_) rq_.stream->cancel();
  if (room_waiter_) {
    io::wake_handler h = std::move(*room_waiter_);
    room_waiter_.reset();
    io::wake(std::move(h));
  }
}

asio::awaitable<void> transfer::wait() {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [this](auto handler) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto ex = asio::prefer(asio::get_associated_executor(handler),
                               asio::execution::outstanding_work.tracked);
        io::wake_handler h{std::move(ex), std::move(handler)};
        if (settled()) {
          io::wake(std::move(h));
          return;
        }
        if (slot.is_connected()) {
          slot.assign([this](asio::cancellation_type type) {
            if (type != asio::cancellation_type::none) cancel();
          });
        }
        waiter_ = std::move(h);
      },
      asio::use_awaitable);
}

// ---------------------------------------------------------------- streamed body

asio::awaitable<void> feed(transfer& t, io::channel<io::buffer>& ch) {
  const std::size_t limit = std::max<std::size_t>(1, t.client_->opts.stream_queue);
  while (!t.finished_ && !t.eof_) {
    if (t.queue_.size() >= limit) {
      co_await io::park([&t, limit](io::wake_handler& h) {
        if (t.finished_ || t.queue_.size() < limit) return false;
        t.room_waiter_ = std::move(h);
        return true;
      });
      continue;
    }
    t.feeder_receiving_ = true;
    std::optional<io::buffer> b = co_await ch.receive();
    t.feeder_receiving_ = false;
    if (t.finished_) break;
    // A cancelled body is not a complete one: ending it cleanly would let the
    // server commit the rows sent so far. Fail the transfer instead.
    if (!b && ch.cancelled()) throw std::runtime_error("the request body was cancelled");
    t.accept(std::move(b));
  }
}

void transfer::start_feeder() {
  feeder_running_ = true;
  asio::co_spawn(client_->ex, feed(*this, *rq_.stream), [this](std::exception_ptr e) {
    feeder_running_ = false;
    feeder_receiving_ = false;
    if (e && !finished_) abort(CURLE_READ_ERROR, "the request body's source failed");
    notify();
  });
}

void transfer::accept(std::optional<io::buffer> b) {
  if (!b) {
    eof_ = true;
  } else if (!b->empty()) {
    queue_.push_back(std::move(*b));
  } else {
    return;
  }
  if (paused_ && in_multi_) {
    // Only ever from the client's thread, outside libcurl's callbacks.
    paused_ = false;
    curl_easy_pause(easy_, CURLPAUSE_CONT);
    client_->collect();
  }
}

// ---------------------------------------------------------------- libcurl callbacks

std::size_t transfer::on_read(char* dst, std::size_t size, std::size_t n, void* self) {
  auto& t = *static_cast<transfer*>(self);
  t.body_asked_ = true;
  const std::size_t cap = size * n;
  std::size_t got = 0;
  if (t.rq_.stream == nullptr) {
    got = std::min(cap, t.rq_.body.size() - t.body_pos_);
    if (got > 0) std::memcpy(dst, t.rq_.body.data() + t.body_pos_, got);
    t.body_pos_ += got;
  } else {
    if (!t.body_wanted_ && t.rq_.on_body_wanted) {
      // Posted, never run inside libcurl's callback.
      t.body_wanted_ = true;
      asio::post(t.client_->ex, t.rq_.on_body_wanted);
    }
    bool popped = false;
    while (got < cap && !t.queue_.empty()) {
      const io::buffer& b = t.queue_.front();
      const std::size_t take = std::min(cap - got, b.size() - t.front_offset_);
      std::memcpy(dst + got, b.data() + t.front_offset_, take);
      got += take;
      t.front_offset_ += take;
      if (t.front_offset_ == b.size()) {
        t.queue_.pop_front();
        t.front_offset_ = 0;
        popped = true;
      }
    }
    if (popped && t.room_waiter_) {
      io::wake_handler h = std::move(*t.room_waiter_);
      t.room_waiter_.reset();
      io::wake(std::move(h));
    }
    if (got == 0 && !t.eof_) {
      // Nothing queued: pause; accept() resumes the transfer when data comes.
      t.paused_ = true;
      ++t.resp_.upload_pauses;
      return CURL_READFUNC_PAUSE;
    }
  }
  if (got > 0 && !t.resp_.timing.body_started) t.resp_.timing.body_started = t.since_start();
  t.resp_.body_bytes_sent += got;
  return got;
}

int transfer::on_seek(void* self, curl_off_t offset, int origin) {
  auto& t = *static_cast<transfer*>(self);
  if (t.rq_.stream != nullptr) {
    // Only "from the start" before anything was taken (a dead kept-alive
    // connection found before the body went out).
    const bool untouched = t.resp_.body_bytes_sent == 0 && t.front_offset_ == 0;
    return offset == 0 && origin == SEEK_SET && untouched ? CURL_SEEKFUNC_OK
                                                          : CURL_SEEKFUNC_CANTSEEK;
  }
  const auto size = static_cast<curl_off_t>(t.rq_.body.size());
  curl_off_t base = 0;
  if (origin == SEEK_CUR) base = static_cast<curl_off_t>(t.body_pos_);
  if (origin == SEEK_END) base = size;
  const curl_off_t to = base + offset;
  if (to < 0 || to > size) return CURL_SEEKFUNC_FAIL;
  t.body_pos_ = static_cast<std::size_t>(to);
  return CURL_SEEKFUNC_OK;
}

std::size_t transfer::on_header(char* p, std::size_t size, std::size_t n, void* self) {
  auto& t = *static_cast<transfer*>(self);
  const std::size_t len = size * n;
  try {
    const std::string_view line = trim(std::string_view(p, len));
    if (line.substr(0, 5) == "HTTP/") {
      // A new response head (an interim 1xx, then the final one).
      t.resp_.headers.clear();
      const std::size_t sp = line.find(' ');
      const bool is_continue = sp != std::string_view::npos && line.substr(sp + 1, 3) == "100";
      if (is_continue && !t.resp_.timing.continue_received)
        t.resp_.timing.continue_received = t.since_start();
      return len;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return len;
    t.resp_.headers.emplace_back(lower(trim(line.substr(0, colon))),
                                 std::string(trim(line.substr(colon + 1))));
    return len;
  } catch (const std::exception&) {
    return 0;  // out of memory: libcurl fails the transfer
  }
}

std::size_t transfer::on_write(char* p, std::size_t size, std::size_t n, void* self) {
  auto& t = *static_cast<transfer*>(self);
  const std::size_t len = size * n;
  std::string& body = t.resp_.body;
  const std::size_t cap = t.rq_.options.max_response_body;
  const std::size_t room = body.size() < cap ? cap - body.size() : 0;
  try {
    body.append(p, std::min(len, room));
  } catch (const std::exception&) {
    return 0;
  }
  if (len > room) t.resp_.body_truncated = true;
  return len;
}

// ---------------------------------------------------------------- request()

asio::awaitable<http_response> http_client::request(http_request rq) {
  std::shared_ptr<impl> self = impl_;
  if (!self) throw std::logic_error("http_client: used after it was moved from");
  self->check_thread("request()");
  validate(rq);
  asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  if (cs.cancelled() != asio::cancellation_type::none)
    throw boost::system::system_error(asio::error::operation_aborted);
  transfer t(self, rq);
  // From here the transfer must settle before this frame unwinds (its feeder
  // refers to it): cancellation is taken as a value while it runs, then
  // rethrown.
  const bool rethrow = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  t.start();
  if (rq.stream != nullptr && !t.settled()) t.start_feeder();
  while (!t.settled()) {
    if (cs.cancelled() != asio::cancellation_type::none) t.cancel();
    co_await t.wait();
  }
  co_await asio::this_coro::throw_if_cancelled(rethrow);
  if (t.cancelled()) throw boost::system::system_error(asio::error::operation_aborted);
  co_return t.take_response();
}

}  // namespace uringmig::connectors::http
