// Chunk leases in the PostgreSQL state store: many workers of one job take chunks from one plan.
// A claim skips the rows other claimers have locked (FOR UPDATE SKIP LOCKED) and the chunks
// under a live lease; a lease that ran out (its worker died or stalled) is taken again.
#include "engine/core/state_pg.hpp"

#include <fmt/format.h>

#include <string>

namespace uringmig::engine::detail {

namespace {

/// Parameters $n and $n+1: the table `only` names, or NULL (any table).
void add_table(pg::params& p, const std::optional<table_key>& only) {
  p.emplace_back(only ? std::optional<std::string>(only->schema) : std::nullopt);
  p.emplace_back(only ? std::optional<std::string>(only->name) : std::nullopt);
}

// Claims and renewals are a worker's signs of life: they record its name and the time on its
// run ($4: the run's id), in the same statement (no extra round trip).
constexpr const char* heartbeat_cte =
    "beat AS (UPDATE uringmig_state.run SET worker_name = $2, heartbeat_at = clock_timestamp() "
    "WHERE job = $1 AND id = $4::bigint)";

}  // namespace

std::optional<chunk_claim> pg_state::claim_chunk(std::string_view worker,
                                                 std::chrono::milliseconds lease,
                                                 const std::optional<table_key>& only) {
  auto params = pg::make_params(job_, std::string(worker), std::to_string(lease.count()),
                                std::to_string(run_id_));
  add_table(params, only);
  const auto r = query(
      fmt::format(
          "WITH c AS (SELECT schema, name, chunk_no, leased_by IS NOT NULL AS reclaimed "
          "FROM uringmig_state.chunk WHERE job = $1 AND status = 'pending' AND (lease_until IS "
          "NULL OR lease_until < clock_timestamp()) AND ($5::text IS NULL OR (schema = $5 AND "
          "name = $6)) ORDER BY claim_order LIMIT 1 FOR UPDATE SKIP LOCKED), {} "
          "UPDATE uringmig_state.chunk u SET leased_by = $2, leased_run = nullif($4::bigint, 0), "
          "lease_until = clock_timestamp() + $3 * interval '1 millisecond' FROM c "
          "WHERE u.job = $1 AND u.schema = c.schema AND u.name = c.name AND u.chunk_no = "
          "c.chunk_no "
          "RETURNING u.schema, u.name, u.chunk_no, c.reclaimed",
          heartbeat_cte),
      params);
  if (r.rows() == 0) return std::nullopt;
  chunk_claim c;
  c.schema = std::string(r.value(0, 0));
  c.name = std::string(r.value(0, 1));
  c.chunk_no = std::stoi(std::string(r.value(0, 2)));
  c.reclaimed = r.value(0, 3) == "t";
  return c;
}

int pg_state::renew_leases(std::string_view worker, std::chrono::milliseconds lease) {
  return static_cast<int>(
      query(fmt::format("WITH {} UPDATE uringmig_state.chunk SET lease_until = "
                        "clock_timestamp() + $3 * interval '1 millisecond' WHERE job = $1 AND "
                        "leased_by = $2 AND status = 'pending'",
                        heartbeat_cte),
            pg::make_params(job_, std::string(worker), std::to_string(lease.count()),
                            std::to_string(run_id_)))
          .affected_rows());
}

void pg_state::release_chunk(const chunk_claim& c, std::string_view worker) {
  query(
      "UPDATE uringmig_state.chunk SET leased_by = NULL, leased_run = NULL, lease_until = NULL "
      "WHERE job = $1 AND schema = $2 AND name = $3 AND chunk_no = $4 AND leased_by = $5",
      pg::make_params(job_, c.schema, c.name, std::to_string(c.chunk_no), std::string(worker)));
}

bool pg_state::try_lock(std::string_view what) {
  const bool got =
      query(named_lock_sql("pg_try_advisory_lock"), pg::make_params(job_, std::string(what)))
          .value(0, 0) == "t";
  if (got) ++named_locks_[std::string(what)];
  return got;
}

void pg_state::unlock(std::string_view what) {
  if (auto it = named_locks_.find(std::string(what)); it != named_locks_.end() && --it->second == 0)
    named_locks_.erase(it);
  query(named_lock_sql("pg_advisory_unlock"), pg::make_params(job_, std::string(what)));
}

bool pg_state::run_alive(std::int64_t run_id, bool through_restart) const {
  return query("SELECT " + run_alive_sql("$1::bigint", through_restart ? reconnect_s_ : 0),
               pg::make_params(std::to_string(run_id)))
             .value(0, 0) == "t";
}

std::int64_t pg_state::chunks_pending(const std::optional<table_key>& only) const {
  auto params = pg::make_params(job_);
  add_table(params, only);
  return std::stoll(std::string(
      query("SELECT count(*) FROM uringmig_state.chunk WHERE job = $1 AND status = 'pending' "
            "AND ($2::text IS NULL OR (schema = $2 AND name = $3))",
            params)
          .value(0, 0)));
}

int pg_state::reopen_chunks() {
  // A lease whose worker's run is gone need not run out. Failed tables are tried again, as a resume
  // on one host does.
  std::vector<pg::statement> b;
  b.push_back(
      {"UPDATE uringmig_state.chunk SET status = 'pending', leased_by = NULL, leased_run = NULL, "
       "lease_until = NULL WHERE job = $1 AND (status = 'failed' OR (status = 'pending' "
       "AND leased_by IS NOT NULL AND NOT " +
           run_alive_sql("coalesce(leased_run, 0)") + "))",
       pg::make_params(job_), false});
  b.push_back(
      {"UPDATE uringmig_state.job_table SET status = 'pending', error = NULL WHERE job = "
       "$1 AND status = 'failed'",
       pg::make_params(job_), false});
  return static_cast<int>(batch(std::move(b))[0].affected_rows());
}

}  // namespace uringmig::engine::detail
