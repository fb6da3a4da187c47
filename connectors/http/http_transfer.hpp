// Internal to connectors/http: the multi handle's state and one transfer.
#pragma once

#include "connectors/http/http_client.hpp"
#include "io/waiters.hpp"

#include <curl/curl.h>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <exception>
#include <thread>
#include <unordered_map>

namespace uringmig::connectors::http {

class transfer;

/// CURLOPT_CLOSESOCKETFUNCTION: `userp` is the http_client::impl.
int close_socket_cb(void* userp, curl_socket_t fd);

/// A descriptor libcurl asked us to watch. Held by the pending waits' handlers,
/// so it outlives them; its stream_descriptor is released, never closed.
struct sock_state {
  sock_state(const boost::asio::any_io_executor& ex, int f);
  ~sock_state();
  sock_state(const sock_state&) = delete;
  sock_state& operator=(const sock_state&) = delete;

  boost::asio::posix::stream_descriptor sd;
  int fd;
  int want = 0;  // CURL_POLL_IN / CURL_POLL_OUT bits
  bool reading = false;
  bool writing = false;
  bool removed = false;  // libcurl said CURL_POLL_REMOVE
  bool pending() const { return reading || writing; }
};

struct http_client::impl : std::enable_shared_from_this<http_client::impl> {
  impl(boost::asio::any_io_executor e, http_client_options o);
  ~impl();
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  bool on_owner_thread() const;
  void check_thread(const char* what) const;

  // libcurl callbacks (http_client.cpp); never throw into C.
  int on_socket(CURL* easy, curl_socket_t fd, int what);
  int on_timer(long timeout_ms);
  int on_close(curl_socket_t fd);

  void watch(const std::shared_ptr<sock_state>& st);
  void start_wait(const std::shared_ptr<sock_state>& st, bool read);
  void on_ready(const std::shared_ptr<sock_state>& st, bool read, boost::system::error_code ec);
  void forget(curl_socket_t fd);
  void drained(sock_state& st);
  /// curl_multi_socket_action, then completions.
  void act(curl_socket_t fd, int events);
  /// Completed transfers from curl_multi_info_read.
  void collect();
  void shutdown();

  boost::asio::any_io_executor ex;
  http_client_options opts;
  CURLM* multi = nullptr;
  boost::asio::steady_timer timer;
  std::uint64_t timer_generation = 0;
  std::unordered_map<curl_socket_t, std::shared_ptr<sock_state>> live;
  struct drain {
    int states = 0;      // removed sock_states with this fd and a wait pending
    bool close = false;  // libcurl asked to close it meanwhile
  };
  std::unordered_map<curl_socket_t, drain> draining;
  std::unordered_map<CURL*, transfer*> active;
  bool closing = false;
  mutable std::thread::id owner;  // when the executor is not an io_context's
  std::uint64_t deferred_closes = 0;
  std::uint64_t completed = 0;
};

/// One exchange; lives in request()'s coroutine frame. While `in_multi`, the
/// easy handle is in the multi handle and libcurl calls back into it.
class transfer {
 public:
  transfer(std::shared_ptr<http_client::impl> client, const http_request& rq);
  ~transfer();
  transfer(const transfer&) = delete;
  transfer& operator=(const transfer&) = delete;

  void start();
  /// libcurl finished it (CURLMSG_DONE).
  void finish(CURLcode rc);
  /// Ends it without libcurl: cancellation, or the client closing.
  void abort(CURLcode rc, std::string why);
  /// The caller's coroutine was cancelled.
  void cancel();

  /// Done, and no feeder still runs: request() may return.
  bool settled() const { return finished_ && !feeder_running_; }
  bool cancelled() const { return cancelled_; }
  bool paused() const { return paused_; }
  /// The socket libcurl last asked to watch for this transfer.
  curl_socket_t socket() const { return socket_; }
  void set_socket(curl_socket_t fd) { socket_ = fd; }
  /// Sent its head with `Expect: 100-continue`, still holding the body back.
  bool awaiting_continue() const {
    return in_multi_ && !finished_ && !body_asked_ && !resp_.timing.continue_received;
  }

  /// Suspends until something changed (completion, feeder end); honours
  /// the handler's cancellation slot.
  boost::asio::awaitable<void> wait();
  void start_feeder();
  http_response take_response() { return std::move(resp_); }

 private:
  friend boost::asio::awaitable<void> feed(transfer& t, io::channel<io::buffer>& ch);
  static std::size_t on_read(char* dst, std::size_t size, std::size_t n, void* self);
  static int on_seek(void* self, curl_off_t offset, int origin);
  static std::size_t on_header(char* p, std::size_t size, std::size_t n, void* self);
  static std::size_t on_write(char* p, std::size_t size, std::size_t n, void* self);
  void configure();
  void watch_expect();
  void detach();
  void notify();
  void end_feeding();
  void accept(std::optional<io::buffer> b);
  std::chrono::microseconds since_start() const;

  std::shared_ptr<http_client::impl> client_;
  const http_request& rq_;
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  char errbuf_[CURL_ERROR_SIZE] = {};
  bool in_multi_ = false;
  curl_socket_t socket_ = CURL_SOCKET_BAD;
  bool expects_continue_ = false;                            // we sent `Expect: 100-continue`
  std::shared_ptr<boost::asio::steady_timer> expect_watch_;  // see watch_expect()
  bool finished_ = false;
  bool cancelled_ = false;
  std::chrono::steady_clock::time_point t0_;
  http_response resp_;
  std::optional<io::wake_handler> waiter_;
  // A complete body: the read position.
  std::size_t body_pos_ = 0;
  // A streamed body: buffers queued by the feeder, consumed by on_read.
  std::deque<io::buffer> queue_;
  std::size_t front_offset_ = 0;
  bool eof_ = false;
  bool paused_ = false;
  bool body_wanted_ = false;  // on_body_wanted was posted
  bool body_asked_ = false;   // libcurl called on_read: the wait for a 100 is over
  bool feeder_running_ = false;
  bool feeder_receiving_ = false;
  std::optional<io::wake_handler> room_waiter_;
};

}  // namespace uringmig::connectors::http
