// The bulk clone's large objects: same OIDs, contents, owners and ACLs on the target, read
// under the job's snapshot, many objects per target transaction, each transaction committing
// its objects together with their done marks (uringmig.large_object_done), so a rerun copies
// only what is missing.
//
// Memory: a batch reads the first `first_slice` bytes of up to `batch_objects` objects in one
// result (at most 16 MiB of data); the rest of a longer object follows in `slice`-sized pieces
// (lo_get(oid, offset, len) → lo_put), one piece in memory at a time. So an object of any size
// copies in bounded memory, per worker. A first slice that holds most objects whole spares them
// the second round trip: on 10 000 objects of 1-100 KB, 256 KiB x 64 objects took 7.4 s of our
// CPU (asan build) where 64 KiB x 256 took 12.1 s.
// The bytes travel raw both ways (binary results from the source, binary parameters to the
// target): as bytea's hex text they were twice the size, and both servers formatted and parsed
// every byte.
#include "codecs/sql_text.hpp"
#include "engine/bulk/internal.hpp"
#include "engine/bulk/table_copy.hpp"
#include "engine/core/settings.hpp"
#include "io/wait_all.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>

namespace uringmig::engine::bulk {

namespace asio = boost::asio;

namespace {

constexpr std::size_t batch_objects = 64;
constexpr std::int64_t first_slice = 256 * 1024;
constexpr std::int64_t slice = 1024 * 1024;

/// Source columns (read in binary: the text columns as their text, the slice as raw bytes): oid,
/// the first slice, the owner, the statements that rebuild the ACL after
/// the owner is set (empty: the default ACL), and the comment's (empty: none).
constexpr const char* batch_sql =
    "select m.oid::text, pg_catalog.lo_get(m.oid, 0, $2::int), "
    "  pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(m.lomowner)), "
    "  case when m.lomacl is null then '' else "
    "    pg_catalog.format('REVOKE ALL ON LARGE OBJECT %s FROM PUBLIC, %I; ', m.oid, "
    "      pg_catalog.pg_get_userbyid(m.lomowner)) || coalesce((select pg_catalog.string_agg("
    "      pg_catalog.format('GRANT %s ON LARGE OBJECT %s TO %s%s; ', a.privilege_type, m.oid, "
    "        case when a.grantee = 0 then 'PUBLIC' "
    "        else pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) end, "
    "        case when a.is_grantable then ' WITH GRANT OPTION' else '' end), '') "
    "      from pg_catalog.aclexplode(m.lomacl) a), '') end, "
    "  coalesce(pg_catalog.format('COMMENT ON LARGE OBJECT %s IS %L; ', m.oid, "
    "    pg_catalog.obj_description(m.oid, 'pg_largeobject')), '') "
    "from pg_catalog.pg_largeobject_metadata m where m.oid = any($1::oid[]) order by m.oid";

struct lo_shared {
  std::vector<std::string> batches;  // oid arrays ("{1,2,3}"), guarded by job::m
  std::size_t next = 0;
  bool owners = true;
  bool acls = true;
};

struct batch_stats {
  std::int64_t objects = 0;
  std::int64_t bytes = 0;
};

/// One statement whose result comes back in binary (a bytea's raw bytes).
asio::awaitable<pg::result> query_binary(pg::connection& c, std::string sql, pg::params p) {
  std::vector<pg::statement> b;
  b.push_back({std::move(sql), std::move(p), false, {}, true});
  auto rs = co_await c.pipeline(std::move(b));
  co_return std::move(rs.at(0));
}

/// The rest of one object, after its first slice, piece by piece.
asio::awaitable<std::int64_t> copy_rest(pg::connection& src, pg::connection& dst,
                                        const std::string& oid) {
  std::int64_t offset = first_slice;
  for (;;) {
    pg::result r =
        co_await query_binary(src, "select pg_catalog.lo_get($1::oid, $2::bigint, $3::int)",
                              pg::make_params(oid, std::to_string(offset), std::to_string(slice)));
    r.check("reading large object " + oid);
    const auto n = static_cast<std::int64_t>(r.value(0, 0).size());
    if (n > 0) {
      std::vector<pg::statement> b;
      b.push_back({"select pg_catalog.lo_put($1::oid, $2::bigint, $3::bytea)",
                   pg::make_params(oid, std::to_string(offset), std::string(r.value(0, 0))),
                   false,
                   {false, false, true}});
      for (auto& res : co_await dst.pipeline(std::move(b)))
        res.check("writing large object " + oid);
    }
    offset += n;
    if (n < slice) co_return offset - first_slice;
  }
}

/// One target transaction: the batch's objects (any left over from an earlier run that did not
/// commit its marks are replaced), their owners and ACLs, their done marks.
asio::awaitable<batch_stats> copy_batch(pg::connection& src, pg::connection& dst,
                                        const std::string& oids, const lo_shared& sh) {
  pg::result r =
      co_await query_binary(src, batch_sql, pg::make_params(oids, std::to_string(first_slice)));
  r.check("reading large objects on the source");
  std::vector<pg::statement> b;
  b.push_back({"BEGIN", {}, false});
  b.push_back(
      {"select pg_catalog.lo_unlink(oid) from pg_catalog.pg_largeobject_metadata where "
       "oid = any($1::oid[])",
       pg::make_params(oids), false});
  std::string rights;
  std::vector<std::string> longer;
  batch_stats st;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string oid(r.value(i, 0));
    b.push_back({"select pg_catalog.lo_from_bytea($1::oid, $2::bytea)",
                 pg::make_params(oid, std::string(r.value(i, 1))),
                 false,
                 {false, true}});
    const auto n = static_cast<std::int64_t>(r.value(i, 1).size());
    st.bytes += n;
    if (n == first_slice) longer.push_back(oid);
    if (sh.owners) rights += fmt::format("ALTER LARGE OBJECT {} OWNER TO {}; ", oid, r.value(i, 2));
    if (sh.acls) rights += r.value(i, 3);
    rights += r.value(i, 4);
  }
  st.objects = r.rows();
  b.push_back({"insert into uringmig.large_object_done (loid) select pg_catalog.unnest($1::oid[])",
               pg::make_params(oids), false});
  for (auto& res : co_await dst.pipeline(std::move(b)))
    if (!res.aborted()) res.check("creating large objects on the target");
  if (!rights.empty()) (co_await dst.simple(rights)).check("setting large object owners and ACLs");
  for (const auto& oid : longer)
    st.bytes += co_await copy_rest(src, dst, oid);
  co_await commit_on(dst);
  co_return st;
}

asio::awaitable<void> lo_worker(job& j, lo_shared& sh) {
  auto ex = co_await asio::this_coro::executor;
  auto src = co_await open_source(j, ex);
  auto dst = co_await open_target(j, ex);
  for (;;) {
    std::string oids;
    {
      std::lock_guard lk(j.m);
      if (sh.next == sh.batches.size() || j.rt.stop_token().stop_requested()) break;
      oids = sh.batches[sh.next++];
    }
    const batch_stats st = co_await copy_batch(src, dst, oids, sh);
    std::lock_guard lk(j.m);
    j.objects.large_objects_copied += st.objects;
    j.objects.large_object_bytes += st.bytes;
  }
  (void)co_await src.query("ROLLBACK");
  co_await src.close();
  co_await dst.close();
}

}  // namespace

asio::awaitable<void> check_large_objects(job& j, pg::connection& src, pg::connection& dst) {
  if (j.opts.config.bulk.skip_large_objects) co_return;
  pg::result all = co_await src.query(
      "select coalesce(pg_catalog.array_agg(oid)::text, '{}') from "
      "pg_catalog.pg_largeobject_metadata");
  all.check("listing the source's large objects");
  pg::result clash = co_await dst.query(
      "select count(*), min(oid)::text from pg_catalog.pg_largeobject_metadata where oid = "
      "any($1::oid[])",
      pg::make_params(std::string(all.value(0, 0))));
  clash.check("looking for large objects on the target");
  if (clash.value(0, 0) != "0")
    throw usage_error(fmt::format(
        "the target already has {} large object(s) with the OIDs of the source's (the first: "
        "{}): remove them, use --restart to replace them, or --skip-large-objects",
        clash.value(0, 0), clash.value(0, 1)));
}

asio::awaitable<void> copy_large_objects(job& j, pg::connection& src) {
  pg::result all =
      co_await src.query("select oid::text from pg_catalog.pg_largeobject_metadata order by oid");
  all.check("listing the source's large objects");
  j.objects.large_objects = all.rows();
  if (j.opts.config.bulk.skip_large_objects) {
    j.objects.large_objects_skipped = true;
    if (all.rows() > 0)
      spdlog::warn("{} large object(s) on the source not copied (large objects skipped)",
                   all.rows());
    co_return;
  }
  if (all.rows() == 0) co_return;
  auto ex = co_await asio::this_coro::executor;
  auto dst = co_await connect_endpoint(ex, j.target, "target");
  (co_await dst.simple("CREATE TABLE IF NOT EXISTS uringmig.large_object_done (loid oid PRIMARY "
                       "KEY, done_at timestamptz DEFAULT now())"))
      .check("creating the large object marks on the target");
  pg::result marks = co_await dst.query("select loid::text from uringmig.large_object_done");
  marks.check("reading the large object marks on the target");
  std::set<std::string> done;
  for (int i = 0; i < marks.rows(); ++i)
    done.emplace(marks.value(i, 0));
  co_await dst.close();

  lo_shared sh;
  sh.owners = !j.opts.config.bulk.no_owner;
  sh.acls = !j.opts.config.bulk.no_acl;
  std::string cur;
  std::size_t in_cur = 0;
  for (int i = 0; i < all.rows(); ++i) {
    const std::string oid(all.value(i, 0));
    if (done.count(oid)) continue;
    cur += (cur.empty() ? "{" : ",") + oid;
    if (++in_cur == batch_objects) {
      sh.batches.push_back(cur + "}");
      cur.clear();
      in_cur = 0;
    }
  }
  if (!cur.empty()) sh.batches.push_back(cur + "}");
  spdlog::info("large objects: {} on the source, {} already copied, {} batch(es) to copy",
               all.rows(), done.size(), sh.batches.size());
  const double t0 = j.elapsed();
  const std::size_t workers = std::min<std::size_t>(
      sh.batches.size(), static_cast<std::size_t>(j.opts.jobs > 0 ? j.opts.jobs : 4));
  std::vector<io::spawned> ops;
  for (std::size_t i = 0; i < workers; ++i)
    ops.push_back(asio::co_spawn(j.rt.executor(i % j.rt.size()), lo_worker(j, sh), asio::deferred));
  try {
    co_await io::wait_all(std::move(ops));
  } catch (const pg::error& e) {
    throw job_error("copying large objects failed: " + e.diag().to_string() +
                    "; the ones copied are kept: run the same command to copy the rest (or pass "
                    "--skip-large-objects to leave them out)");
  }
  spdlog::info("large objects: {} copied ({:.1f} MB) in {:.2f}s", j.objects.large_objects_copied,
               j.objects.large_object_bytes / 1e6, j.elapsed() - t0);
}

}  // namespace uringmig::engine::bulk
