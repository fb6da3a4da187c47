#pragma once

// What cdc/online.cpp (run, follow) and cdc/switchover.cpp share.

#include "codecs/pgoutput.hpp"
#include "codecs/url.hpp"
#include "connectors/postgres/connection.hpp"
#include "connectors/postgres/replication.hpp"
#include "engine/cdc/handshake.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/job.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/object_names.hpp"
#include "engine/core/state_store.hpp"
#include "io/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace uringmig::engine::cdc {

/// The prefix of the logical messages `switchover` writes into the source's WAL.
inline constexpr const char* sentinel_prefix = "uringmig.switchover";

struct endpoints {
  codecs::endpoint source;
  codecs::endpoint target;
};

/// Both URLs parsed; usage_error unless both are PostgreSQL.
endpoints pg_pair(const job_spec& opts, const char* command);

/// What the state store remembers about the online job.
struct online_names {
  std::string token;
  std::string slot;
  std::string publication;
  bool own_publication = false;
  std::string origin;  // on the target
  codecs::pgoutput::lsn start_lsn = 0;
};

std::optional<online_names> recorded_names(const state_store& st);

/// 8 random hex digits.
std::string random_token();

/// Sets the job's switchover request to `id` in `state`.
void mark_request(state_store& st, const std::string& id, request_state state);
/// Moves request `id` from `from` to `to` only if it is there now (also against the other
/// process); whether it did.
bool move_request(state_store& st, const std::string& id, request_state from, request_state to);

// cdc/online_source.cpp: on the source.

/// usage_error naming the tables whose UPDATEs and DELETEs could not be published.
boost::asio::awaitable<void> check_replica_identity(connectors::postgres::connection& src,
                                                    const std::vector<table_info>& tables);
/// Creates the job's own publication for `tables` unless it exists; a --publication given by
/// the user must exist.
boost::asio::awaitable<void> ensure_publication(connectors::postgres::connection& src,
                                                online_names& n,
                                                const std::vector<table_info>& tables);
/// Removes what the job created on the source (slot, our publication) and the target
/// (origin). Whether the slot is gone.
boost::asio::awaitable<bool> drop_leftovers(const endpoints& ep, const online_names& n);
/// After a failed copy: what to append to the error (what was dropped, or what is left).
std::string abandon_copy(io::runtime& rt, const job_spec& opts, const endpoints& ep,
                         const online_names& n, connectors::postgres::replication_connection& rc);

}  // namespace uringmig::engine::cdc
