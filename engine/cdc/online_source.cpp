// What the online job creates and removes on the source: the publication (checked tables), the
// slot's cleanup, what a failed copy leaves; and the names cdc/online.cpp and cdc/switchover.cpp
// share (cdc/online_internal.hpp).

#include "codecs/sql_text.hpp"
#include "connectors/postgres/connection.hpp"
#include "engine/cdc/online_internal.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/settings.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <random>

namespace uringmig::engine::cdc {

namespace asio = boost::asio;
namespace pg = connectors::postgres;
namespace po = codecs::pgoutput;

endpoints pg_pair(const job_spec& opts, const char* command) {
  auto [source, target] =
      pg_endpoints(opts, std::string("uringmig ") + command +
                             ": online migration (CDC) is PostgreSQL -> PostgreSQL");
  return {std::move(source), std::move(target)};
}

std::optional<online_names> recorded_names(const state_store& st) {
  auto token = st.get("online.token");
  if (!token) return std::nullopt;
  online_names n;
  n.token = *token;
  n.slot = st.get("online.slot").value_or("");
  n.publication = st.get("online.publication").value_or("");
  n.own_publication = st.get("online.own_publication") == "true";
  n.origin = st.get("online.origin").value_or("");
  n.start_lsn = po::parse_lsn(st.get("online.start_lsn").value_or("0/0")).value_or(0);
  return n;
}

std::string random_token() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

void mark_request(state_store& st, const std::string& id, request_state state) {
  st.put(request_key, format_request(switchover_request{id, state}));
}

bool move_request(state_store& st, const std::string& id, request_state from, request_state to) {
  return st.compare_and_put(request_key, format_request(switchover_request{id, from}),
                            format_request(switchover_request{id, to}));
}

asio::awaitable<void> check_replica_identity(pg::connection& src,
                                             const std::vector<table_info>& tables) {
  std::string bad;
  for (const auto& t : tables) {
    pg::result r = co_await src.query(
        "select c.relreplident, exists (select 1 from pg_index i where i.indrelid = c.oid and "
        "i.indisprimary) from pg_class c where c.oid = $1::oid",
        pg::make_params(std::to_string(t.oid)));
    r.check("reading the replica identity of " + t.display());
    const std::string_view ident = r.value(0, 0);
    const bool has_pk = r.value(0, 1) == "t";
    if ((ident == "d" && !has_pk) || ident == "n") bad += (bad.empty() ? "" : ", ") + t.display();
  }
  if (!bad.empty())
    throw usage_error(
        "tables without a primary key or replica identity cannot be followed (their UPDATEs and "
        "DELETEs would fail on the source once published): " +
        bad +
        "; run ALTER TABLE ... REPLICA IDENTITY FULL on them, or leave them out with "
        "--exclude");
}

asio::awaitable<void> ensure_publication(pg::connection& src, online_names& n,
                                         const std::vector<table_info>& tables) {
  pg::result r = co_await src.query("select 1 from pg_publication where pubname = $1",
                                    pg::make_params(n.publication));
  r.check("looking for the publication");
  if (r.rows() > 0) co_return;
  if (!n.own_publication)
    throw usage_error("publication '" + n.publication +
                      "' does not exist on the source: create it, or leave out --publication "
                      "and one is created for the selected tables");
  // A partitioned table whose partitions are all selected is published through its root, so
  // a partition attached while following is in the publication too; its changes arrive as the
  // root's, and the target's root routes them. Partitions selected one by one stay as they are.
  std::string list;
  std::map<std::string, std::vector<std::string>> partitions;  // root -> its selected leaves
  for (const auto& t : tables) {
    if (t.root_schema == t.schema && t.root_name == t.name)
      list += (list.empty() ? "" : ", ") + t.qualified();
    else
      partitions[codecs::qualified_name(t.root_schema, t.root_name)].push_back(t.qualified());
  }
  for (const auto& [root, leaves] : partitions) {
    pg::result c = co_await src.query(
        "select count(*) from pg_partition_tree($1::regclass) t join pg_class c on c.oid = t.relid "
        "where c.relkind = 'r'",
        pg::make_params(root));
    c.check("counting the partitions of " + root);
    if (c.value(0, 0) == std::to_string(leaves.size())) {
      list += (list.empty() ? "" : ", ") + root;
      continue;
    }
    for (const auto& l : leaves)
      list += (list.empty() ? "" : ", ") + l;
  }
  (co_await src.simple("CREATE PUBLICATION " + codecs::quote_ident(n.publication) + " FOR TABLE " +
                       list + " WITH (publish_via_partition_root = true)"))
      .check("creating publication " + n.publication);
  spdlog::info("created publication {} for {} table(s)", n.publication, tables.size());
}

/// Removes what the job created on the source (slot, our publication) and the target (origin).
/// Whether the slot is gone.
asio::awaitable<bool> drop_leftovers(const endpoints& ep, const online_names& n) {
  auto ex = co_await asio::this_coro::executor;
  pg::connection src = co_await connect_endpoint(ex, ep.source, "source");
  bool dropped = true;
  // The walsender of a connection we just closed may hold the slot a moment longer (55006).
  asio::steady_timer wait(ex);
  for (int attempt = 0; !n.slot.empty(); ++attempt) {
    pg::result r = co_await src.query(
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = "
        "$1",
        pg::make_params(n.slot));
    if (r.ok()) break;
    if (r.error().sqlstate != "55006" || attempt == 50) {
      spdlog::warn("dropping slot {}: {}", n.slot, r.error().message);
      dropped = false;
      break;
    }
    wait.expires_after(std::chrono::milliseconds(100));
    co_await wait.async_wait(asio::use_awaitable);
  }
  if (n.own_publication && !n.publication.empty())
    (void)co_await src.simple("DROP PUBLICATION IF EXISTS " + codecs::quote_ident(n.publication));
  co_await src.close();
  if (!n.origin.empty()) {
    pg::connection dst = co_await connect_endpoint(ex, ep.target, "target");
    // With online.apply_workers > 1 each apply worker has its own origin `<origin>_<k>`.
    (void)co_await dst.query(
        "select pg_replication_origin_drop(roname) from pg_replication_origin where roname = $1 "
        "or (left(roname, length($1) + 1) = $1 || '_' and "
        "substr(roname, length($1) + 2) ~ '^[0-9]+$')",
        pg::make_params(n.origin));
    co_await dst.close();
  }
  co_return dropped;
}

/// A failed copy cannot resume (the slot's snapshot dies with its connection): drops the slot
/// and our publication unless --keep-slot, so no WAL piles up for them. Returns what to tell
/// the user, to append to the error.
std::string abandon_copy(io::runtime& rt, const job_spec& opts, const endpoints& ep,
                         const online_names& n, pg::replication_connection& rc) {
  const std::string pub = n.own_publication ? " and publication " + n.publication : "";
  std::string dropped;
  try {
    rt.run([&]() -> asio::awaitable<void> {
      co_await rc.close();
      if (opts.config.online.keep_slot) co_return;
      online_names ours = n;
      ours.origin.clear();  // nothing was applied yet
      if (!co_await drop_leftovers(ep, ours)) co_return;
      dropped = "; the online copy cannot resume: its slot " + n.slot + pub +
                (pub.empty() ? " was" : " were") +
                " dropped on the source; start over with --restart";
    }());
  } catch (const std::exception& e) {
    spdlog::warn("dropping the slot of the failed copy: {}", e.what());
  }
  if (!dropped.empty()) return dropped;
  std::string how = "SELECT pg_drop_replication_slot('" + n.slot + "');";
  if (n.own_publication) how += " DROP PUBLICATION " + codecs::quote_ident(n.publication) + ";";
  return "; the online copy cannot resume: its slot " + n.slot + pub +
         (pub.empty() ? " is" : " are") + " left on the source, holding WAL until dropped (" + how +
         " on the source, or run again with --restart)";
}

}  // namespace uringmig::engine::cdc
