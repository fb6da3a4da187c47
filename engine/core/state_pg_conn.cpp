// The PostgreSQL state store's connection: its calls, and what happens when it is lost (the
// state's server restarted, the network dropped): connect again, take back the session's
// advisory locks, send the statement again.
#include "engine/core/job.hpp"
#include "engine/core/state_pg.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>
#include <thread>
#include <utility>

namespace uringmig::engine::detail {

namespace asio = boost::asio;

asio::awaitable<pg::connection> connect_on(asio::any_io_executor ex, std::string conninfo) {
  pg::connect_options o;
  o.application_name = "uringmig-state";
  co_return co_await pg::connection::connect(std::move(ex), std::move(conninfo), o);
}

asio::awaitable<pg::result> query_on(pg::connection& c, std::string sql, pg::params p) {
  co_return co_await c.query(std::move(sql), std::move(p));
}

asio::awaitable<std::vector<pg::result>> batch_on(pg::connection& c, std::vector<pg::statement> b) {
  co_return co_await c.pipeline(std::move(b));
}

asio::awaitable<void> close_on(pg::connection c) {
  if (c.is_open()) co_await c.close();
}

pg::statement make_stmt(std::string sql, pg::params p) {
  pg::statement s;
  s.sql = std::move(sql);
  s.params = std::move(p);
  return s;
}

std::string named_lock_sql(const char* fn) {
  return fmt::format("SELECT {}({}, hashtext($1 || '/' || $2))", fn, named_lock_class);
}

namespace {

/// Whether the state's connection is gone (the statement may be sent again on a new one).
bool connection_gone(const pg::diagnostics& d) {
  return d.connection_lost || d.sqlstate.rfind("08", 0) == 0 || d.sqlstate == "57P01" ||
         d.sqlstate == "57P02" || d.sqlstate == "57P03";
}

}  // namespace

void pg_state::ensure_connection() const {
  if (!given_up_.empty()) throw job_error(given_up_);
  if (!conn_.is_open())
    recover(conn_.failure().value_or(pg::connection_failure("the connection is closed")));
}

pg::result pg_state::query(std::string sql, pg::params p) const {
  std::lock_guard lk(mu_);
  for (;;) {
    pg::diagnostics gone;
    ensure_connection();
    try {
      pg::result r = ctx_.call(query_on(conn_, sql, p));
      if (r.ok()) return r;
      if (!connection_gone(r.error())) fail(r.error());
      gone = r.error();
    } catch (const pg::error& e) {
      if (!connection_gone(e.diag())) fail(e.diag());
      gone = e.diag();
    }
    recover(gone);
  }
}

std::vector<pg::result> pg_state::batch(std::vector<pg::statement> b) const {
  std::lock_guard lk(mu_);
  for (;;) {
    pg::diagnostics gone;
    ensure_connection();
    try {
      auto out = ctx_.call(batch_on(conn_, b));
      const pg::result* lost = nullptr;
      for (const auto& r : out)
        if (!r.ok() && connection_gone(r.error())) lost = &r;
      if (lost == nullptr) {
        for (const auto& r : out)
          if (!r.ok() && !r.aborted()) fail(r.error());
        for (const auto& r : out)
          if (!r.ok()) fail(r.error());
        return out;
      }
      gone = lost->error();
    } catch (const pg::error& e) {
      if (!connection_gone(e.diag())) fail(e.diag());
      gone = e.diag();
    }
    recover(gone);
  }
}

void pg_state::recover(const pg::diagnostics& why) const {
  using clock = std::chrono::steady_clock;
  spdlog::warn("state database {}: connection lost ({}); connecting again for up to {} s", shown_,
               why.to_string(), reconnect_s_);
  const auto start = clock::now();
  const auto until = start + std::chrono::seconds(reconnect_s_);
  auto pause = std::chrono::milliseconds(200);
  std::string last = why.to_string();
  for (;;) {
    try {
      ctx_.call(close_on(std::move(conn_)));
    } catch (...) {  // NOLINT(bugprone-empty-catch): closing what is already broken
    }
    try {
      const session lost = session_;
      conn_ = ctx_.call(connect_on(ctx_.executor(), conninfo_));
      note_session();
      const std::string taken = relock(lost);
      if (!taken.empty())
        throw job_error("state database " + shown_ + ": back after a lost connection, but " +
                        taken +
                        " was taken by another process meanwhile; this one stops so that no "
                        "work is done twice: run the same command again to resume");
      spdlog::info("state database {}: connected again after {:.1f} s", shown_,
                   std::chrono::duration<double>(clock::now() - start).count());
      return;
    } catch (const pg::error& e) {
      last = e.diag().to_string();
    }
    if (clock::now() + pause > until) {
      given_up_ = fmt::format(
          "state database {}: the connection was lost and could not be made again in {} s "
          "({}); the work done so far is kept: run the same command again once the database "
          "is back (or raise state.reconnect_s)",
          shown_, reconnect_s_, last);
      throw job_error(given_up_);  // and every later call: the job is over
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
}

void pg_state::note_session() const {
  const auto r = ctx_.call(query_on(
      conn_, "SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()",
      {}));
  if (!r.ok()) throw pg::error(r.error());
  session_ = r.rows() == 1
                 ? session{std::stoi(std::string(r.value(0, 0))), std::string(r.value(0, 1))}
                 : session{};
}

std::string pg_state::relock(const session& lost) const {
  // On the new connection directly: mu_ is held, and these must not recover again.
  std::vector<std::pair<std::string, pg::statement>> want;
  auto add = [&want](std::string what, std::string sql, pg::params p) {
    want.emplace_back(std::move(what), make_stmt(std::move(sql), std::move(p)));
  };
  if (job_locked_)
    add("the job's lock",
        fmt::format("SELECT pg_try_advisory_lock{}({}, hashtext($1))", worker_run_ ? "_shared" : "",
                    job_lock_class),
        pg::make_params(job_));
  if (run_locked_)
    add("the lock of run " + std::to_string(run_id_),
        fmt::format("SELECT pg_try_advisory_lock({}, ($1::bigint % 2147483648)::int)",
                    run_lock_class),
        pg::make_params(std::to_string(run_id_)));
  for (const auto& [what, n] : named_locks_)
    for (int i = 0; i < n; ++i)
      add("the lock '" + what + "'", named_lock_sql("pg_try_advisory_lock"),
          pg::make_params(job_, what));
  if (want.empty()) return {};
  auto run = [this](std::vector<pg::statement> b) {
    auto out = ctx_.call(batch_on(conn_, std::move(b)));
    for (const auto& r : out)
      if (!r.ok()) throw pg::error(r.error());
    return out;
  };
  std::vector<pg::statement> b;
  for (const auto& w : want)
    b.push_back(w.second);
  auto out = run(b);
  auto first_taken = [&]() -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < out.size(); ++i)
      if (out[i].value(0, 0) != "t") return i;
    return std::nullopt;
  };
  if (!first_taken()) return {};
  // The server may not have noticed yet that the lost session is gone (a cut network, not a
  // restart): it still holds the locks. End it, wait until it is gone, and try again.
  // Only that session: its pid and start (after a restart the pid may be another's).
  if (lost.pid != 0 &&
      run({make_stmt("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND "
                     "backend_start = $2::timestamptz",
                     pg::make_params(std::to_string(lost.pid), lost.started))})[0]
              .rows() == 1) {
    for (int i = 0; i < 50; ++i) {
      const auto left = run({make_stmt("SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                                       pg::make_params(std::to_string(lost.pid)))});
      if (left[0].value(0, 0) == "0") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // Again the ones the first try did not get.
    std::vector<pg::statement> retry;
    for (std::size_t i = 0; i < want.size(); ++i)
      if (out[i].value(0, 0) != "t") retry.push_back(want[i].second);
    const auto again = run(retry);
    std::size_t k = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
      if (out[i].value(0, 0) != "t" && again[k++].value(0, 0) != "t") return want[i].first;
    return {};
  }
  return want[*first_taken()].first;
}

}  // namespace uringmig::engine::detail
