// The multi handle driven from one io_context: libcurl's socket callback
// becomes waits on io_uring, its timer callback an asio timer; readiness and
// timeouts go back through curl_multi_socket_action.
//
// Descriptors. libcurl tells us CURL_POLL_REMOVE just before it closes a
// socket, and may open a new one with the same number in the same call. A
// wait still pending on a removed descriptor is cancelled and its
// stream_descriptor is kept (never closed, released only once the wait
// finished: Asio must not see a descriptor go away under a pending io_uring
// poll). The sockets themselves are closed through CURLOPT_CLOSESOCKETFUNCTION
// (on_close): while a wait on that number is still draining the close is
// deferred, so the number cannot be reused under it. Stale completions are
// recognised by the state object they belong to, never by the number.

#include "connectors/http/http_transfer.hpp"

#include "codecs/url.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <unistd.h>

#include <mutex>
#include <stdexcept>
#include <vector>

namespace uringmig::connectors::http {

namespace asio = boost::asio;

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("libcurl: global initialisation failed");
  });
}

int socket_cb(CURL* easy, curl_socket_t fd, int what, void* userp, void*) {
  return static_cast<http_client::impl*>(userp)->on_socket(easy, fd, what);
}

int timer_cb(CURLM*, long timeout_ms, void* userp) {
  return static_cast<http_client::impl*>(userp)->on_timer(timeout_ms);
}

}  // namespace

int close_socket_cb(void* userp, curl_socket_t fd) {
  return static_cast<http_client::impl*>(userp)->on_close(fd);
}

// ---------------------------------------------------------------- sock_state

sock_state::sock_state(const asio::any_io_executor& ex, int f) : sd(ex), fd(f) {
  sd.assign(f);
}

sock_state::~sock_state() {
  if (sd.is_open()) (void)sd.release();  // libcurl owns the descriptor
}

// ---------------------------------------------------------------- impl

http_client::impl::impl(asio::any_io_executor e, http_client_options o)
    : ex(std::move(e)), opts(o), timer(ex) {
  global_init();
  multi = curl_multi_init();
  if (multi == nullptr) throw std::runtime_error("libcurl: curl_multi_init failed");
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &socket_cb);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &timer_cb);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, opts.max_host_connections);
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, opts.max_total_connections);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, opts.max_cached_connections);
}

http_client::impl::~impl() {
  // Only reached once no handler holds us: no wait is pending, so the cached
  // connections' sockets are closed at once by on_close.
  closing = true;
  live.clear();
  curl_multi_cleanup(multi);
}

bool http_client::impl::on_owner_thread() const {
  using plain = asio::io_context::executor_type;
  using tracked =
      decltype(asio::prefer(std::declval<plain>(), asio::execution::outstanding_work.tracked));
  if (const auto* e = ex.target<plain>()) return e->running_in_this_thread();
  if (const auto* e = ex.target<tracked>()) return e->running_in_this_thread();
  // Another kind of executor: the first caller's thread owns the client.
  if (owner == std::thread::id{}) owner = std::this_thread::get_id();
  return owner == std::this_thread::get_id();
}

void http_client::impl::check_thread(const char* what) const {
  if (!on_owner_thread()) {
    throw std::logic_error(std::string("http_client: ") + what +
                           " called from a thread that does not run the client's io_context");
  }
}

int http_client::impl::on_socket(CURL* easy, curl_socket_t fd, int what) {
  try {
    if (auto t = active.find(easy); t != active.end() && what != CURL_POLL_REMOVE)
      t->second->set_socket(fd);
    if (what == CURL_POLL_REMOVE) {
      forget(fd);
      return 0;
    }
    if (closing) return 0;
    std::shared_ptr<sock_state>& st = live[fd];
    if (!st) st = std::make_shared<sock_state>(ex, fd);
    st->want = what;
    watch(st);
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("http: watching a socket failed: {}", e.what());
    return -1;
  }
}

int http_client::impl::on_timer(long timeout_ms) {
  try {
    ++timer_generation;
    if (timeout_ms < 0 || closing) {
      timer.cancel();
      return 0;
    }
    // libcurl rounds the time left down to whole milliseconds; a timer that fires before the
    // deadline it stands for may see that deadline dropped unhandled (7.88): never fire early.
    timer.expires_after(std::chrono::milliseconds(timeout_ms + 1));
    timer.async_wait(
        [self = shared_from_this(), gen = timer_generation](const boost::system::error_code& ec) {
          if (ec || gen != self->timer_generation || self->closing) return;
          self->act(CURL_SOCKET_TIMEOUT, 0);
        });
    return 0;
  } catch (const std::exception& e) {
    spdlog::error("http: arming the timer failed: {}", e.what());
    return -1;
  }
}

int http_client::impl::on_close(curl_socket_t fd) {
  auto it = draining.find(fd);
  if (it != draining.end()) {
    it->second.close = true;  // closed by drained() once the last wait finished
    ++deferred_closes;
    return 0;
  }
  return ::close(fd);
}

void http_client::impl::watch(const std::shared_ptr<sock_state>& st) {
  if ((st->want & CURL_POLL_IN) && !st->reading) start_wait(st, true);
  if ((st->want & CURL_POLL_OUT) && !st->writing) start_wait(st, false);
}

void http_client::impl::start_wait(const std::shared_ptr<sock_state>& st, bool read) {
  (read ? st->reading : st->writing) = true;
  st->sd.async_wait(
      read ? asio::posix::stream_descriptor::wait_read : asio::posix::stream_descriptor::wait_write,
      [self = shared_from_this(), st, read](const boost::system::error_code& ec) {
        self->on_ready(st, read, ec);
      });
}

void http_client::impl::on_ready(const std::shared_ptr<sock_state>& st, bool read,
                                 boost::system::error_code ec) {
  (read ? st->reading : st->writing) = false;
  if (st->removed) {
    if (!st->pending()) drained(*st);
    return;
  }
  if (closing || ec == asio::error::operation_aborted) return;
  const int bit = read ? CURL_POLL_IN : CURL_POLL_OUT;
  // libcurl no longer asks for this direction; watch() starts a fresh wait
  // when it does again.
  if ((st->want & bit) == 0) return;
  int events = read ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
  if (ec) events |= CURL_CSELECT_ERR;
  act(st->fd, events);
  if (!st->removed && !closing) watch(st);
}

void http_client::impl::forget(curl_socket_t fd) {
  auto it = live.find(fd);
  if (it == live.end()) return;
  std::shared_ptr<sock_state> st = std::move(it->second);
  live.erase(it);
  st->removed = true;
  st->want = 0;
  if (st->pending()) {
    ++draining[fd].states;
    st->sd.cancel();
  } else {
    (void)st->sd.release();
  }
}

void http_client::impl::drained(sock_state& st) {
  (void)st.sd.release();
  auto it = draining.find(st.fd);
  if (it == draining.end()) return;
  if (--it->second.states > 0) return;
  if (it->second.close) ::close(st.fd);
  draining.erase(it);
}

void http_client::impl::act(curl_socket_t fd, int events) {
  try {
    int running = 0;
    curl_multi_socket_action(multi, fd, events, &running);
    collect();
  } catch (const std::exception& e) {
    spdlog::critical("http: driving libcurl failed: {}", e.what());
  }
}

void http_client::impl::collect() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* easy = m->easy_handle;
    const CURLcode rc = m->data.result;  // `m` dies with the removal below
    auto it = active.find(easy);
    if (it != active.end()) it->second->finish(rc);
  }
}

void http_client::impl::shutdown() {
  if (closing) return;
  closing = true;
  std::vector<transfer*> running;
  for (auto& [easy, t] : active)
    running.push_back(t);
  for (transfer* t : running)
    t->abort(CURLE_ABORTED_BY_CALLBACK, "the HTTP client was closed");
  std::vector<curl_socket_t> fds;
  for (auto& [fd, st] : live)
    fds.push_back(fd);
  for (curl_socket_t fd : fds)
    forget(fd);
  ++timer_generation;
  timer.cancel();
}

// ---------------------------------------------------------------- handle

http_client::http_client(asio::any_io_executor ex, http_client_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), opts)) {}

http_client::http_client(http_client&&) noexcept = default;

http_client& http_client::operator=(http_client&& o) noexcept {
  if (this != &o) {
    http_client old(std::move(*this));
    impl_ = std::move(o.impl_);
  }
  return *this;
}

http_client::~http_client() {
  if (!impl_) return;
  try {
    if (impl_->on_owner_thread()) {
      impl_->shutdown();
    } else {
      asio::post(impl_->ex, [i = impl_] { i->shutdown(); });
    }
  } catch (const std::exception& e) {
    spdlog::critical("http: closing the client failed: {}", e.what());
  }
}

http_client::stats http_client::snapshot() const {
  impl_->check_thread("snapshot()");
  stats s;
  s.active = impl_->active.size();
  for (const auto& [easy, t] : impl_->active)
    s.waiting_for_body += t->paused() ? 1 : 0;
  s.watched_sockets = impl_->live.size();
  for (const auto& [fd, d] : impl_->draining)
    s.draining_sockets += static_cast<std::size_t>(d.states);
  s.deferred_closes = impl_->deferred_closes;
  s.completed = impl_->completed;
  return s;
}

const asio::any_io_executor& http_client::executor() const {
  return impl_->ex;
}

const std::string* http_response::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

bool transport_error::retryable() const {
  if (tls()) return false;
  switch (static_cast<CURLcode>(code)) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_FAIL_REWIND:
      return true;
    default:
      return false;
  }
}

bool transport_error::tls() const {
  switch (static_cast<CURLcode>(code)) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
      return true;
    case CURLE_OPERATION_TIMEDOUT:  // connected, but the handshake never completed
      return message.rfind("SSL connection timeout", 0) == 0;
    default:
      return false;
  }
}

std::string_view to_string(http_method m) noexcept {
  switch (m) {
    case http_method::get:
      return "GET";
    case http_method::head:
      return "HEAD";
    case http_method::put:
      return "PUT";
    case http_method::post:
      return "POST";
    case http_method::del:
      return "DELETE";
  }
  return "GET";
}

}  // namespace uringmig::connectors::http
