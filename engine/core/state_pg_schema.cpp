// The PostgreSQL state store's schema `uringmig_state`: its tables, and the migrations that bring
// an older version up to this one.
#include "engine/core/state_pg.hpp"

#include <iterator>

namespace uringmig::engine::detail {

namespace {

// Every table of the schema; `job` leads each key. Timestamps are timestamptz; the reader
// prints them as the SQLite store does (ISO 8601 UTC text).
constexpr const char* schema_sql[] = {
    "CREATE SCHEMA uringmig_state",
    "CREATE TABLE uringmig_state.version (version integer NOT NULL)",
    R"sql(CREATE TABLE uringmig_state.run (
  job text NOT NULL,
  id bigserial PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,
  command text NOT NULL,
  preset text NOT NULL DEFAULT '',
  source_redacted text NOT NULL DEFAULT '',
  target_redacted text NOT NULL DEFAULT '',
  snapshot text,
  status text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
  message text NOT NULL DEFAULT '',
  backend_pid integer NOT NULL DEFAULT pg_backend_pid()))sql",
    "CREATE INDEX ON uringmig_state.run (job, id)",
    R"sql(CREATE TABLE uringmig_state.job_table (
  job text NOT NULL,
  schema text NOT NULL,
  name text NOT NULL,
  plan_order bigint NOT NULL,
  bytes bigint NOT NULL DEFAULT 0,
  rows_estimate bigint NOT NULL DEFAULT 0,
  chunk_count integer NOT NULL DEFAULT 0,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'copying', 'copied', 'indexing', 'done', 'failed')),
  rows_copied bigint NOT NULL DEFAULT 0,
  bytes_copied bigint NOT NULL DEFAULT 0,
  copy_seconds double precision NOT NULL DEFAULT 0,
  index_seconds double precision NOT NULL DEFAULT 0,
  error text,
  PRIMARY KEY (job, schema, name)))sql",
    R"sql(CREATE TABLE uringmig_state.chunk (
  job text NOT NULL,
  schema text NOT NULL,
  name text NOT NULL,
  chunk_no integer NOT NULL,
  kind text NOT NULL CHECK (kind IN ('whole', 'int_range', 'ctid_range', 'explicit')),
  lower text,
  upper text,
  where_sql text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
  rows bigint NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  seconds double precision NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  error text,
  claim_order bigint NOT NULL DEFAULT 0,
  leased_by text,
  lease_until timestamptz,
  done_by text,
  PRIMARY KEY (job, schema, name, chunk_no)))sql",
    // What claims scan: the pending chunks of a job, in plan order.
    R"sql(CREATE INDEX chunk_claims ON uringmig_state.chunk (job, claim_order)
  WHERE status = 'pending')sql",
    R"sql(CREATE TABLE uringmig_state.job_index (
  job text NOT NULL,
  schema text NOT NULL,
  table_name text NOT NULL,
  index_name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('index', 'primary_key', 'unique_constraint')),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
  seconds double precision NOT NULL DEFAULT 0,
  error text,
  PRIMARY KEY (job, schema, table_name, index_name)))sql",
    R"sql(CREATE TABLE uringmig_state.kv (
  job text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (job, key)))sql",
};

// What brings the schema up to version `to`, in order: a new schema is made by schema_sql and
// all of them. Each is idempotent: workers that arrive together run them in turn.
struct migration {
  int to;
  const char* sql;
};
constexpr migration migrations[] = {
    // 2: who a worker is (its host, pid and name), its last sign of life, when a chunk was
    // done: what `status` shows per worker.
    {2,
     "ALTER TABLE uringmig_state.run ADD COLUMN IF NOT EXISTS host text NOT NULL DEFAULT '', "
     "ADD COLUMN IF NOT EXISTS pid integer NOT NULL DEFAULT 0, "
     "ADD COLUMN IF NOT EXISTS worker boolean NOT NULL DEFAULT false, "
     "ADD COLUMN IF NOT EXISTS worker_name text, "
     "ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz"},
    {2, "ALTER TABLE uringmig_state.chunk ADD COLUMN IF NOT EXISTS done_at timestamptz"},
    // 3: a chunk's leaseholder and finisher by run id too (status groups by them, a new round
    // reopens the chunks of dead runs), not only by worker name; the rows of a version 2 take
    // it from the names ("r<run id>@host:pid").
    {3,
     "ALTER TABLE uringmig_state.chunk ADD COLUMN IF NOT EXISTS leased_run bigint, "
     "ADD COLUMN IF NOT EXISTS done_run bigint"},
    {3,
     "UPDATE uringmig_state.chunk SET leased_run = coalesce(leased_run, substring(leased_by from "
     "'^r([0-9]+)@')::bigint), done_run = coalesce(done_run, substring(done_by from "
     "'^r([0-9]+)@')::bigint) WHERE (leased_run IS NULL AND leased_by IS NOT NULL) OR (done_run "
     "IS NULL AND done_by IS NOT NULL)"},
};
static_assert(std::size(migrations) > 0 &&
              migrations[std::size(migrations) - 1].to == pg_state_version);

}  // namespace

std::vector<const char*> pg_state_ddl(int from) {
  std::vector<const char*> out;
  if (from == 0) out.assign(std::begin(schema_sql), std::end(schema_sql));
  for (const auto& m : migrations)
    if (m.to > from) out.push_back(m.sql);
  return out;
}

}  // namespace uringmig::engine::detail
