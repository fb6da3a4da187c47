// The double's own pieces: its SQL, its body writers, its JWT check.

#include "connectors/snowflake/auth.hpp"
#include "tests/snowflake_double/jwt_check.hpp"
#include "tests/snowflake_double/sql.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include <sstream>

namespace {

namespace sd = uringmig::test::snowflake_double;
namespace sn = uringmig::connectors::snowflake;
namespace sf = uringmig::codecs::snowflake;

}  // namespace

TEST(snowflake_double, sql_select_where_order_limit) {
  sd::catalog cat;
  cat["T"] = sd::generated_table(20);
  auto r = sd::run_select(
      "select ID, \"Updated At\" from db.public.t where ID >= 5 order by ID "
      "desc limit 3;",
      cat);
  ASSERT_FALSE(r.failed()) << r.message;
  ASSERT_EQ(r.rows.size(), 3U);
  EXPECT_EQ(r.rows[0][0], "20");
  EXPECT_EQ(r.rows[2][0], "18");
  EXPECT_EQ(r.columns[1].name, "Updated At");
  r = sd::run_select("SELECT * FROM T WHERE NAME IS NULL", cat);
  EXPECT_EQ(r.rows.size(), 2U);  // rows 0 and 17
  r = sd::run_select("SELECT * FROM \"t\"", cat);
  EXPECT_EQ(r.sql_state, "42S02");
  r = sd::run_select("SELECT nope FROM T", cat);
  EXPECT_EQ(r.sql_state, "42000");
  EXPECT_NE(r.message.find("invalid identifier 'NOPE'"), std::string::npos);
  r = sd::run_select("SELECT * FROM T GROUP BY ID", cat);
  EXPECT_EQ(r.code, "001003");
  EXPECT_EQ(sd::data_json(cat["T"].rows, 0, 0), "[]");
}

TEST(snowflake_double, sql_conditions_casts_and_aggregates) {
  sd::catalog cat;
  cat["T"] = sd::generated_table(20);
  auto count = [&](const std::string& where) {
    const auto r = sd::run_select("SELECT COUNT(*) FROM T WHERE " + where, cat);
    EXPECT_FALSE(r.failed()) << where << ": " << r.message;
    return r.failed() ? std::string("failed") : r.rows.at(0).at(0).value_or("NULL");
  };
  EXPECT_EQ(count("(ID >= 5 AND ID < 8) OR ID = 15"), "4");
  EXPECT_EQ(count("NOT (NAME IS NULL)"), "18");
  EXPECT_EQ(count("NOT (NAME = 'zzz')"), "18");  // NULL = 'zzz' is unknown, so is its NOT
  EXPECT_EQ(count("TRUE"), "20");
  // Nanoseconds and offsets: row 5 is 2023-11-14 22:13:25.000000005 UTC.
  EXPECT_EQ(count("\"Updated At\" >= '2023-11-14 22:13:25.000000005'::TIMESTAMP_NTZ(9)"), "15");
  EXPECT_EQ(count("\"Updated At\" >= '2023-11-14 22:13:25.000000006'::TIMESTAMP_NTZ(9)"), "14");
  EXPECT_EQ(count("\"Updated At\" >= '2023-11-14 23:13:25.000000005 +01:00'::TIMESTAMP_TZ(9)"),
            "15");
  auto r =
      sd::run_select("SELECT COUNT(*), MIN(ID), MAX(\"Updated At\") FROM T WHERE ID > 10", cat);
  ASSERT_FALSE(r.failed()) << r.message;
  ASSERT_EQ(r.rows.size(), 1U);
  EXPECT_EQ(r.rows[0][0], "10");
  EXPECT_EQ(r.rows[0][1], "11");
  EXPECT_EQ(r.columns[2].type, cat["T"].columns[6].type);
  r = sd::run_select("SELECT MIN(SEEN_TZ), MAX(SEEN_TZ) FROM T", cat);  // "S.F offset" values
  ASSERT_FALSE(r.failed()) << r.message;
  EXPECT_EQ(r.rows[0][0], "1700000000.000000000 1500");
  EXPECT_EQ(r.rows[0][1], "1700000019.000000019 1500");
  EXPECT_EQ(sd::run_select("SELECT COUNT(*), ID FROM T", cat).sql_state, "42000");
  EXPECT_EQ(sd::run_select("SELECT 1 FROM T WHERE (ID >> 0 AND", cat).sql_state, "42000");
  EXPECT_EQ(sd::run_select("SELECT 1 FROM T WHERE ID = 1 LIMIT 0", cat).rows.size(), 0U);
}

// The boundary query of a text-keyed chunking (NTILE over the column, MIN per tile) and the
// range predicates over its cuts: every non-NULL row in exactly one range, in byte order
// (UTF-8 code points: Snowflake's order for a column without a collation).
TEST(snowflake_double, ntile_boundaries_and_text_ranges_partition_the_rows) {
  sd::table t;
  sf::column k;
  k.name = "K";
  k.type_name = "text";
  k.type = sf::sf_type::text;
  k.length = 100;
  t.columns = {k};
  const std::vector<std::string> values = {"b", "a\\b", "a'b", "B", "\xc3\xa9t\xc3\xa9",
                                           "a", "a\\b", "Z",   "c", "ab"};
  for (const auto& v : values)
    t.rows.push_back({v});
  t.rows.push_back({std::nullopt});
  sd::catalog cat;
  cat["W"] = t;
  auto r = sd::run_select(
      "SELECT MIN(V) FROM (SELECT \"K\" AS V, NTILE(4) OVER (ORDER BY \"K\") AS G FROM "
      "\"DB\".\"PUBLIC\".\"W\" WHERE (TRUE) AND \"K\" IS NOT NULL) GROUP BY G ORDER BY G",
      cat);
  ASSERT_FALSE(r.failed()) << r.message;
  // Sorted: B Z a a'b a\b a\b ab b c été -> tiles of 3, 3, 2, 2.
  ASSERT_EQ(r.rows.size(), 4U);
  EXPECT_EQ(r.rows[0][0], "B");
  EXPECT_EQ(r.rows[1][0], "a'b");
  EXPECT_EQ(r.rows[2][0], "ab");
  EXPECT_EQ(r.rows[3][0], "c");
  EXPECT_EQ(r.columns.at(0).name, "MIN(V)");
  EXPECT_EQ(r.columns.at(0).type, sf::sf_type::text);
  const auto count = [&](const std::string& where) {
    const auto c = sd::run_select("SELECT COUNT(*) FROM W WHERE " + where, cat);
    EXPECT_FALSE(c.failed()) << where << ": " << c.message;
    return c.rows.at(0).at(0).value_or("");
  };
  EXPECT_EQ(count("K < 'a''b' OR K IS NULL"), "4");
  EXPECT_EQ(count("K >= 'a''b' AND K < 'ab'"), "3");  // a'b a\b a\b
  EXPECT_EQ(count("K = 'a\\\\b'"), "2");              // '\\' is one backslash
  EXPECT_EQ(count("K = 'a\\'b'"), "1");               // \' a quote
  EXPECT_EQ(count("K >= 'c'"), "2");
  EXPECT_EQ(sd::run_select("SELECT K FROM W WHERE K = '\\x41'", cat).sql_state, "42000");
  // NTILE with more buckets than rows: one row each.
  r = sd::run_select(
      "SELECT K, NTILE(20) OVER (ORDER BY K DESC) AS T FROM W WHERE K >= 'c' "
      "ORDER BY K",
      cat);
  ASSERT_FALSE(r.failed()) << r.message;
  ASSERT_EQ(r.rows.size(), 2U);
  EXPECT_EQ(r.rows[0][1], "2");
  EXPECT_EQ(r.columns.at(1).name, "T");
  EXPECT_EQ(sd::run_select("SELECT K FROM W GROUP BY K ORDER BY G", cat).sql_state, "42000");
  EXPECT_EQ(sd::run_select("SELECT MIN(K) FROM (SELECT K FROM NOPE) GROUP BY K", cat).sql_state,
            "42S02");
}

TEST(snowflake_double, jwt_check_claims_signature_and_expiry) {
  EVP_PKEY* k = EVP_RSA_gen(2048);
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PKCS8PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  const sn::private_key key =
      sn::private_key::from_pem(std::string(data, static_cast<std::size_t>(n)));
  BIO_free(b);
  EVP_PKEY_free(k);
  const std::string pub = key.public_key_pem();
  const std::string fp = sd::public_key_fingerprint(pub);
  EXPECT_EQ(fp, key.public_key_fingerprint());
  const auto claims = sn::make_claims("acct", "u", fp, 1000, std::chrono::seconds(600));
  const std::string jwt = sn::sign_jwt(key, claims);
  EXPECT_EQ(sd::check_jwt(jwt, pub, fp, "ACCT", "U", 1100), sd::jwt_verdict::ok);
  EXPECT_EQ(sd::check_jwt(jwt, pub, fp, "ACCT", "U", 1600), sd::jwt_verdict::expired);
  EXPECT_EQ(sd::check_jwt(jwt, pub, fp, "OTHER", "U", 1100), sd::jwt_verdict::bad_claims);
  EXPECT_EQ(sd::check_jwt(jwt, pub, fp, "ACCT", "U", 900), sd::jwt_verdict::bad_claims)
      << "issued in the future";
  std::string forged = jwt;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(sd::check_jwt(forged, pub, fp, "ACCT", "U", 1100), sd::jwt_verdict::bad_signature);
  EXPECT_EQ(sd::check_jwt("not.a-jwt", pub, fp, "ACCT", "U", 1100), sd::jwt_verdict::malformed);
}

TEST(snowflake_double, tables_load_from_a_data_file) {
  std::istringstream in(
      "# a comment\n"
      "ID:fixed(18,0)\t\"Updated At\":timestamp_ntz(9)\tname:text(10)\tamt:fixed(12,2)\n"
      "1\t1700000000.000000001\talice\t1.50\n"
      "2\t\\N\t\\N\t-3.00\n");
  const sd::table t = sd::load_table(in);
  ASSERT_EQ(t.columns.size(), 4U);
  EXPECT_EQ(t.columns[1].name, "Updated At");
  EXPECT_EQ(t.columns[1].scale, 9);
  EXPECT_EQ(t.columns[2].name, "NAME");
  EXPECT_EQ(t.columns[2].length, 10);
  EXPECT_EQ(t.columns[3].precision, 12);
  EXPECT_EQ(t.columns[3].scale, 2);
  ASSERT_EQ(t.rows.size(), 2U);
  EXPECT_EQ(t.rows[1][1], std::nullopt);
  EXPECT_EQ(t.rows[0][2], "alice");
  std::istringstream bad("ID:fixed\n1\t2\n");
  try {
    sd::load_table(bad);
    FAIL() << "accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2: 2 values for 1 columns"), std::string::npos);
  }
}
