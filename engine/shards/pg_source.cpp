#include "codecs/copy_text.hpp"
#include "codecs/sql_text.hpp"
#include "codecs/sqlite_types.hpp"
#include "connectors/postgres/connection.hpp"
#include "connectors/sqlite/database.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/planner.hpp"
#include "engine/shards/sources.hpp"
#include "io/buffer_pool.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/this_coro.hpp>

#include <map>
#include <set>

namespace uringmig::engine::shards {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

asio::awaitable<std::vector<pg_sqlite_column>> pg_sqlite_columns(pg::connection& c,
                                                                 std::uint32_t oid) {
  // Every stored column, generated ones included (SQLite keeps their values as data).
  // A domain maps as its base type (a domain over a domain over integer is an INTEGER).
  pg::result cols = co_await c.query(
      "with recursive col(attnum, attname, typid, typmod, depth) as ("
      " select attnum, attname, atttypid, atttypmod, 0 from pg_attribute"
      " where attrelid = $1::oid and attnum > 0 and not attisdropped"
      " union all"
      " select c.attnum, c.attname, t.typbasetype, t.typtypmod, c.depth + 1"
      " from col c join pg_type t on t.oid = c.typid where t.typtype = 'd')"
      "select distinct on (attnum) attname, format_type(typid, typmod) from col"
      " order by attnum, depth desc",
      pg::make_params(std::to_string(oid)));
  cols.check("reading the columns of a source table");
  std::vector<pg_sqlite_column> out;
  for (int r = 0; r < cols.rows(); ++r)
    out.push_back({std::string(cols.value(r, 0)), codecs::sqlite_affinity_of(cols.value(r, 1))});
  co_return out;
}

void check_unique_names(const std::vector<table_info>& tables) {
  std::map<std::string, std::string> seen;
  for (const auto& t : tables) {
    auto [it, fresh] = seen.emplace(t.name, t.display());
    if (!fresh)
      throw usage_error(
          fmt::format("tables {} and {} would both load into SQLite table {}: "
                      "select one of them with --tables/--exclude",
                      it->second, t.display(), t.name));
  }
}

namespace {

struct pg_state {
  codecs::endpoint endpoint;
  std::string snapshot;
  state_store* state = nullptr;        // a follower's: the job's shared state
  coordinator_watch* watch = nullptr;  // a follower's: its sessions join the coordinator's snapshot
  std::optional<pg::connection> holder;
  std::vector<std::optional<pg::connection>> readers;
  std::map<std::string, table_info> infos;  // by target table name
  std::map<std::string, std::vector<codecs::sqlite_affinity>> affinities;
  io::buffer_pool pool{256 * 1024, 64 * 1024 * 1024};
};

asio::awaitable<void> close_reader(pg_state& s, std::size_t i) {
  co_await s.readers[i]->close();
  s.readers[i].reset();
}

}  // namespace

asio::awaitable<source> open_pg_source(const codecs::endpoint& src, const job_options& opts,
                                       const target_spec& target, io::runtime& rt,
                                       std::size_t readers) {
  auto ex = co_await asio::this_coro::executor;
  auto st = std::make_shared<pg_state>();
  st->endpoint = src;
  st->readers.resize(readers);
  st->holder.emplace(co_await connect_endpoint(ex, src, "source"));
  pg::connection& h = *st->holder;
  // Text forms independent of the server's defaults: these reach the SQLite files.
  co_await apply_settings(h, text_profile::portable, "setting up the source session");
  st->snapshot = co_await export_snapshot(h);
  spdlog::info("source snapshot {}", st->snapshot);

  std::vector<table_info> tables = co_await discover_tables(h, make_filter(opts));
  if (tables.empty())
    throw usage_error("no source table matches --tables/--exclude: nothing to copy");
  co_await check_source_tables(h, tables);  // before any target file exists
  check_unique_names(tables);
  // Chunks of 64 MB unless the config says otherwise (the bulk clone's 1 GiB default would
  // let a file's writer hold up to that much of another reader's chunk in memory).
  job_options planning = opts;
  planning.settings.emplace("copy.chunk_size", "64MB");
  std::vector<planned_table> plan = co_await make_plan(h, tables, planning);

  source out;
  out.description = codecs::redacted_url(src);
  for (auto& t : tables) {
    const std::vector<pg_sqlite_column> cols = co_await pg_sqlite_columns(h, t.oid);
    table_load tl;
    tl.schema = t.schema;
    tl.name = t.name;
    std::vector<std::string> quoted;
    std::vector<codecs::sqlite_affinity> aff;
    std::string create = "CREATE TABLE " + connectors::sqlite::quote_ident(t.name) + " (";
    for (const auto& col : cols) {
      create += fmt::format("{}{} {}", tl.columns.empty() ? "" : ", ",
                            connectors::sqlite::quote_ident(col.name),
                            codecs::declared_type(col.affinity));
      tl.columns.push_back(col.name);
      quoted.push_back(codecs::quote_ident(col.name));
      aff.push_back(col.affinity);
    }
    create += ")";
    tl.create_sql = create;
    if (target.sharded) {
      std::optional<std::size_t> k;
      for (std::size_t i = 0; i < tl.columns.size() && !k; ++i)
        if (tl.columns[i] == target.shard_key) k = i;
      if (!k) {
        std::string list;
        for (const auto& c : tl.columns)
          list += (list.empty() ? "" : ", ") + c;
        throw usage_error(
            fmt::format("shard key column '{}' does not exist in table {} (its "
                        "columns: {}); fix shard_key in the target URL",
                        target.shard_key, t.display(), list));
      }
      tl.key_column = *k;
      tl.index_sql.push_back(
          fmt::format("create index if not exists {} on {}({})",
                      connectors::sqlite::quote_ident(t.name + "_" + target.shard_key + "_idx"),
                      connectors::sqlite::quote_ident(t.name),
                      connectors::sqlite::quote_ident(target.shard_key)));
    }
    for (const auto& p : plan)
      if (p.schema == t.schema && p.name == t.name) tl.plan = p;
    tl.resume = connectors::sqlite::shard_writer_options::resume_by::sequential;
    table_info copy = t;
    copy.columns = quoted;
    st->infos[t.name] = copy;
    st->affinities[t.name] = aff;
    out.rows.push_back(std::max<std::int64_t>(t.rows_estimate, 0));
    out.bytes.push_back(t.bytes);
    out.tables.push_back(std::move(tl));
  }

  out.reader = [st, &rt](std::size_t r, const planned_chunk& c,
                         chunk_sink& sink) -> asio::awaitable<void> {
    if (!st->readers[r]) {
      auto rex = co_await asio::this_coro::executor;
      st->readers[r].emplace(co_await connect_endpoint(rex, st->endpoint, "source"));
      pg::connection& rc = *st->readers[r];
      co_await apply_settings(rc, text_profile::portable, "setting up a source reader");
      if (!st->watch)
        co_await join_snapshot(rc, st->snapshot);
      else if (!co_await join_coordinator_snapshot(*st->state, rt, *st->watch, rc))
        throw job_error("the job's other workers finished it while this worker held a chunk");
    }
    pg::connection& conn = *st->readers[r];
    const table_load& t = sink.table();
    const table_info& info = st->infos.at(t.name);
    const auto& aff = st->affinities.at(t.name);
    const std::size_t key = t.key_column ? *t.key_column : SIZE_MAX;
    codecs::copy_text_parser parser;
    parser.expect_fields(aff.size());
    bool full = false;
    auto on_row = [&](const std::vector<std::optional<std::string_view>>& fields) {
      codecs::row_batch_writer w =
          sink.begin_row(key < fields.size() ? fields[key] : std::optional<std::string_view>());
      w.begin_row(0);
      codecs::append_pg_row(w, aff, fields);
      full = sink.end_row() || full;
    };
    std::string parse_error;
    const std::string sql = "COPY (" + chunk_select(info, c) + ") TO STDOUT";
    pg::result res =
        co_await conn.copy_out(sql, st->pool, [&](io::buffer b) -> asio::awaitable<bool> {
          const std::string_view piece(reinterpret_cast<const char*>(b.data()), b.size());
          if (!parser.feed(piece, on_row)) {
            parse_error = parser.error();
            co_return false;
          }
          if (full) {
            full = false;
            co_await sink.flush();
          }
          co_return true;
        });
    if (!parse_error.empty()) throw job_error("reading " + info.display() + ": " + parse_error);
    res.check("reading " + info.display());
    if (!parser.finish())
      throw job_error("reading " + info.display() + ": the COPY data ended mid-row");
  };
  out.snapshot = st->snapshot;
  out.follow_coordinator = [st, &rt](state_store& state,
                                     coordinator_watch& watch) -> asio::awaitable<void> {
    (void)co_await st->holder->query("ROLLBACK");
    st->state = &state;
    st->watch = &watch;
    if (!co_await join_coordinator_snapshot(state, rt, watch, *st->holder))
      throw job_error("the job's other workers finished it already");
    st->snapshot = watch.snapshot();
  };
  out.close = [st, &rt, readers]() -> asio::awaitable<void> {
    for (std::size_t r = 0; r < readers; ++r) {
      if (!st->readers[r]) continue;
      co_await io::run_on(rt.executor(1 + r), close_reader(*st, r));
    }
    if (st->holder) {
      (void)co_await st->holder->query("COMMIT");
      co_await st->holder->close();
      st->holder.reset();
    }
  };
  co_return out;
}

}  // namespace uringmig::engine::shards
