// COPY binary -> codecs::doris_binary_transcoder must write exactly the bytes COPY text ->
// codecs::doris_csv_transcoder writes, on a real PostgreSQL 15 table holding random and edge
// values of every type the binary path takes, in the session engine/doris/run.cpp sets up.

#include "codecs/doris_binary_transcode.hpp"
#include "codecs/doris_transcode.hpp"
#include "codecs/doris_types.hpp"
#include "codecs/pg_binary.hpp"
#include "tests/support/shared_cluster.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace uringmig::test {
namespace {

namespace codecs = uringmig::codecs;

struct conn_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;

// The session of engine/doris/run.cpp (its session_sql).
constexpr const char* session_sql =
    "SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
    "SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'";

constexpr const char* create_sql = R"sql(
create table t (id int4 primary key, i2 int2, i8 int8, o oid, r float4, d float8, n numeric,
  m numeric(12,2), tx text, vc varchar(20), bp char(5), nm name, b boolean, dt date,
  ts timestamp, tz timestamptz, u uuid, by bytea, j json, jb jsonb);
select setseed(0.4242);
insert into t select g,
  (random() * 65535 - 32768)::int2,
  case when g % 3 = 0 then (random() * 1e18)::int8 else (random() * 2000 - 1000)::int8 end,
  (random() * 4294967295)::int8::oid,
  ((random() - 0.5) * 10 ^ (random() * 76 - 38))::float4,
  ((random() - 0.5) * 10 ^ (random() * 600 - 300))::float8,
  round(((random() - 0.5) * 10 ^ (random() * 40 - 20))::numeric, (g % 25)),
  round((random() * 1e10 - 5e9)::numeric, 2),
  case when g % 7 = 0 then '' else substr(md5(g::text), 1, g % 20) ||
    (array[E'\x01', E'\n', E'\r', E'\t', '"', '\', 'é€😀', ' ', ',', '\N', ''])[g % 11 + 1] ||
    repeat('x', g % 40) end,
  left(md5(g::text), g % 21),
  left(md5(g::text), g % 6),
  'n' || g,
  case when g % 5 = 0 then null else g % 2 = 0 end,
  date '2000-01-01' + ((random() - 0.5) * 4800000)::int,
  timestamp '2000-01-01' + (random() - 0.5) * interval '2000000 days' +
    (g % 1000000) * interval '1 microsecond',
  timestamptz '2000-01-01 00:00:00+00' + (random() - 0.5) * interval '2000000 days' +
    ((g * 7919) % 1000000) * interval '1 microsecond',
  md5(g::text)::uuid,
  case when g % 9 = 0 then '' else decode(repeat(md5(g::text), g % 3 + 1), 'hex') end,
  json_build_object('g', g, 's', E'a\nb "c"'),
  jsonb_build_object('g', g, 'f', random(), 'a', jsonb_build_array(1, 'x', null))
from generate_series(1, 20000) g;
insert into t (id) values (-1);
insert into t values (-2, 32767, 9223372036854775807, 4294967295, 'NaN', 'NaN', 'NaN', 0,
  '\N', '', '', '', true, '4713-01-01 BC', '4713-01-01 00:00:00 BC',
  '4713-01-01 00:00:00+00 BC', '00000000-0000-0000-0000-000000000000', '\x', '""', '"x"');
insert into t values (-3, -32768, -9223372036854775808, 0, 'Infinity', 'Infinity', 'Infinity',
  -9999999999.99, 'a', 'b', 'c', 'd', false, '5874897-12-31', '294276-12-31 23:59:59.999999',
  '294276-12-31 23:59:59.999999+00', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\x00ff', '[]', '{}');
insert into t values (-4, 0, 0, 1, '-Infinity', '-Infinity', '-Infinity', 0.5, 'x', 'y', 'z',
  'w', null, 'infinity', 'infinity', 'infinity', null, null, 'null', 'null');
insert into t values (-5, 1, 1, 2, '-0', '-0', '0.000', 0.1, 'x', 'y', 'z', 'w', true,
  '-infinity', '-infinity', '-infinity', null, null, '1', '1.50');
insert into t (id, r, d, n) values
  (-6, 1e6, 1e15, 1e-20), (-7, 1234567, 123456789012345, 12345678901234567890.123456789),
  (-8, 3.4028235e38, 1.7976931348623157e308, 1.50000), (-9, 1e-45, 5e-324, -0.0001),
  (-10, 123456, 1e-5, 100000000), (-11, 0.1, 0.1, 0.00012300), (-12, 1e-5, 1e16, 99999.9999),
  (-13, 16777216, 9007199254740993, 1e100);
insert into t (id, dt, ts, tz) values
  (-14, '0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00'),
  (-15, '0001-12-31 BC', '0001-12-31 23:59:59.5 BC', '0001-12-31 23:59:59.5+00 BC'),
  (-16, '9999-12-31', '9999-12-31 23:59:59.000001', '9999-12-31 23:59:59.000001+00'),
  (-17, '10000-01-01', '10000-01-01 00:00:00.1', '10000-01-01 00:00:00.12+00'),
  (-18, '1969-12-31', '1969-12-31 23:59:59.999999', '1970-01-01 00:00:00+00'),
  (-19, '2000-02-29', '1900-02-28 12:00:00', '2100-03-01 00:00:00.000010+00');
)sql";

struct copied {
  std::vector<std::string> pieces;  // as PQgetCopyData returned them
  std::string all;
};

copied copy_out(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_COPY_OUT) << PQerrorMessage(c);
  PQclear(r);
  copied out;
  char* buf = nullptr;
  int n = 0;
  while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
    out.pieces.emplace_back(buf, static_cast<std::size_t>(n));
    out.all.append(buf, static_cast<std::size_t>(n));
    PQfreemem(buf);
  }
  EXPECT_EQ(n, -1) << PQerrorMessage(c);
  r = PQgetResult(c);
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
  PQclear(r);
  return out;
}

// Splits `s` into pieces of random sizes (1 byte to 64 KiB).
std::vector<std::string_view> random_pieces(const std::string& s, std::mt19937& rng) {
  std::vector<std::string_view> out;
  std::uniform_int_distribution<int> log_size(0, 16);
  for (std::size_t at = 0; at < s.size();) {
    const std::size_t n = std::min<std::size_t>(s.size() - at, std::size_t{1} << log_size(rng));
    out.push_back(std::string_view(s).substr(at, n));
    at += n;
  }
  return out;
}

template <class Transcoder, class Pieces>
std::string transcode(Transcoder& tr, const Pieces& pieces) {
  codecs::byte_buffer out;
  for (const auto& p : pieces)
    if (!tr.feed(p, out)) {
      ADD_FAILURE() << tr.error();
      break;
    }
  EXPECT_TRUE(tr.finish());
  return std::string(out.view());
}

// The first line where the two differ, for a readable failure.
std::string first_difference(const std::string& a, const std::string& b) {
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) {
      auto line = [&](const std::string& s) {
        return s.substr(line_start, s.find('\n', line_start) - line_start);
      };
      return "text:   " + line(a) + "\nbinary: " + line(b);
    }
    if (a[i] == '\n') line_start = i + 1;
  }
  return "one is a prefix of the other";
}

// COPY text and COPY binary of `table` through their transcoders; both outputs must be equal.
void expect_identical_csv(const std::string& conninfo, const std::string& table,
                          std::int64_t rows) {
  conn_ptr c(PQconnectdb(conninfo.c_str()));
  ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  PGresult* r = PQexec(c.get(), session_sql);
  ASSERT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  PQclear(r);

  r = PQexec(c.get(),
             ("select attname, format_type(atttypid, atttypmod), attnotnull, atttypid from "
              "pg_attribute where attrelid = '" +
              table + "'::regclass and attnum > 0 and not attisdropped order by attnum")
                 .c_str());
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
  std::vector<codecs::doris_source_column> cols;
  std::vector<codecs::pg_binary_type> types;
  for (int i = 0; i < PQntuples(r); ++i) {
    const auto oid = static_cast<std::uint32_t>(std::stoul(PQgetvalue(r, i, 3)));
    cols.push_back({PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), false, oid});
    const auto t = codecs::pg_binary_type_of(oid);
    ASSERT_TRUE(t) << "no binary type for column " << PQgetvalue(r, i, 0);
    types.push_back(*t);
  }
  PQclear(r);

  const copied text = copy_out(c.get(), "COPY " + table + " TO STDOUT");
  const copied binary = copy_out(c.get(), "COPY " + table + " TO STDOUT (FORMAT binary)");
  codecs::doris_csv_transcoder text_tr(codecs::doris_columns_of(cols));
  const std::string from_text = transcode(text_tr, text.pieces);
  EXPECT_EQ(text_tr.rows(), rows);
  codecs::doris_binary_transcoder binary_tr(types);
  const std::string from_binary = transcode(binary_tr, binary.pieces);
  EXPECT_EQ(binary_tr.rows(), rows);
  ASSERT_EQ(from_text.size(), from_binary.size()) << first_difference(from_text, from_binary);
  ASSERT_TRUE(from_text == from_binary) << first_difference(from_text, from_binary);

  // The same stream cut anywhere: carried tuples render the same.
  std::mt19937 rng(7);
  codecs::doris_binary_transcoder cut_tr(types);
  EXPECT_TRUE(transcode(cut_tr, random_pieces(binary.all, rng)) == from_binary);
}

TEST(doris_binary_copy, binary_and_text_copies_give_identical_csv) {
  const fresh_database_info db = fresh_database("doris_binary_copy");
  exec_sql(db.conninfo, create_sql);
  EXPECT_EQ(query_value(db.conninfo,
                        "select count(distinct format_type(atttypid, null)) from pg_attribute "
                        "where attrelid = 't'::regclass and attnum > 0"),
            "19");
  expect_identical_csv(db.conninfo, "t", 20000 + 19);
}

// Floats where the shortest decimal is often a bound of the value's interval (integers past
// 2^24 / 2^53, tiny and huge magnitudes, thirds): PostgreSQL's Ryu and std::to_chars differ
// there unless pg_binary corrects for it.
TEST(doris_binary_copy, floats_match_float4out_and_float8out) {
  const fresh_database_info db = fresh_database("doris_binary_float");
  exec_sql(db.conninfo, R"sql(
    create table f (r float4, d float8);
    select setseed(0.77);
    insert into f select
      case g % 4 when 0 then (random() * 2147483647)::int8::float4
                 when 1 then ((random() - 0.5) * 10 ^ (random() * 76 - 38))::float4
                 when 2 then (g::float4 / 3::float4)
                 else (2::float8 ^ (g % 250 - 125))::float4 end,
      case g % 4 when 0 then (random() * 9.2e18)::int8::float8
                 when 1 then (random() - 0.5) * 10 ^ (random() * 600 - 300)
                 when 2 then g::float8 / 3
                 else 2::float8 ^ (g % 2000 - 1000) end
    from generate_series(1, 100000) g;
  )sql");
  expect_identical_csv(db.conninfo, "f", 100000);
}

}  // namespace
}  // namespace uringmig::test
