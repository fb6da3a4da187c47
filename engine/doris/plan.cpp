#include "engine/doris/doris.hpp"

#include "codecs/doris_types.hpp"
#include "codecs/url.hpp"
#include "engine/core/catalog.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/pg_session.hpp"
#include "engine/core/planner.hpp"
#include "engine/doris/load.hpp"
#include "io/runtime.hpp"

#include <fmt/format.h>
#include <boost/asio/this_coro.hpp>

#include <cstdio>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace {

/// The columns (format_type text, NOT NULL) and primary key of one source table.
asio::awaitable<codecs::doris_table_spec> describe(pg::connection& c, const table_info& t,
                                                   const std::string& database) {
  codecs::doris_table_spec spec;
  spec.database = database;
  spec.table = t.name;
  spec.columns = co_await doris::columns_of(c, t);
  pg::result pk = co_await c.query(
      "select a.attname from pg_index i join lateral unnest(i.indkey) with ordinality k(attnum, "
      "n) on true join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum where "
      "i.indrelid = $1::oid and i.indisprimary order by k.n",
      pg::make_params(std::to_string(t.oid)));
  pk.check("reading the primary key of " + t.display());
  for (int r = 0; r < pk.rows(); ++r)
    spec.primary_key.emplace_back(pk.value(r, 0));
  co_return spec;
}

}  // namespace

int doris::plan(const job_spec& opts) {
  const codecs::endpoint& source = opts.source_endpoint();
  if (source.kind() != codecs::endpoint_kind::postgres)
    throw usage_error("--source: Doris targets load from PostgreSQL");
  const auto& doris = std::get<codecs::doris_endpoint>(opts.target_endpoint().spec);
  io::runtime rt(1);
  rt.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    pg::connection src = co_await connect_endpoint(ex, source, "source");
    (co_await src.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        .check("source snapshot");
    auto tables = co_await discover_tables(src, make_filter(opts));
    if (tables.empty())
      throw usage_error("no source table matches --tables/--exclude: nothing to load");
    std::vector<planned_table> plan = co_await make_plan(src, tables, opts);
    std::printf("source: %s\n", codecs::redacted_url(source).c_str());
    std::printf("target: %s (database %s, %s)\n",
                codecs::redacted_url(opts.target_endpoint()).c_str(), doris.database.c_str(),
                std::string(codecs::to_string(doris.format)).c_str());
    std::printf("%s", settings_summary(opts.settings).c_str());
    std::printf("%-5s %-44s %10s %12s  %s\n", "order", "table", "MB", "rows (est.)", "chunks");
    int order = 0;
    for (const auto& p : plan)
      std::printf("%-5d %-44s %10.1f %12lld  %zu\n", ++order, (p.schema + "." + p.name).c_str(),
                  p.bytes / 1e6, static_cast<long long>(p.rows_estimate), p.chunks.size());
    std::printf(
        "\n-- Suggested Doris tables (printed, not run: create them, or your own, before "
        "`uringmig run`):\n");
    for (const auto& tab : tables) {
      codecs::doris_table_spec spec = co_await describe(src, tab, doris.database);
      std::printf("\n-- from %s\n%s", tab.display().c_str(),
                  codecs::render_create_table(spec).c_str());
    }
    (void)co_await src.query("COMMIT");
    co_await src.close();
  }());
  std::fflush(stdout);
  return 0;
}

}  // namespace uringmig::engine
