#pragma once

#include <boost/asio/awaitable.hpp>
#include "connectors/postgres/connection.hpp"
#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"

#include <string>

namespace uringmig::io {
class runtime;
}

namespace uringmig::engine {

class state_store;

namespace bulk {

/// `uringmig run --preset bulk` PostgreSQL -> PostgreSQL: schema pre-data,
/// table data in parallel chunks under one exported snapshot, indexes per
/// table as soon as its data is in, post-data, sequences. Resumable.
int run(const job_spec& opts);

/// The bulk clone as the first phase of a bigger job (the online preset): on `rt`, recording in
/// `state` (already open), reading under `imported_snapshot` (exported by a replication slot;
/// empty: export one). Returns 0 when data, indexes, post-data and sequences are done; throws
/// usage_error / job_error as run does. `workers`: the state is shared (--state-url) and this
/// process is one of the job's workers (chunks under leases; engine/bulk/workers.cpp).
int run_phase(const job_spec& opts, state_store& state, io::runtime& rt,
              const std::string& imported_snapshot, bool workers = false);

/// `uringmig plan` and `run --dry-run`: connect, validate, print the plan; touch nothing.
int plan(const job_spec& opts);

/// Sets every sequence of the target to the source's value; returns how many. (Also the last
/// step of a switchover.)
boost::asio::awaitable<int> copy_sequences(connectors::postgres::connection& src,
                                           connectors::postgres::connection& dst);

}  // namespace bulk

}  // namespace uringmig::engine
