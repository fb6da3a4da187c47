#include "codecs/url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace uringmig::codecs;

endpoint parse_ok(std::string_view url) {
  auto r = parse_endpoint(url);
  EXPECT_TRUE(r) << "URL rejected: " << r.error;
  return r ? *r.value : endpoint{};
}

std::string parse_error(std::string_view url) {
  auto r = parse_endpoint(url);
  EXPECT_FALSE(r) << "URL accepted";
  EXPECT_TRUE(r.error.find('\n') == std::string::npos) << "more than one line: " << r.error;
  return r.error;
}

// ---- postgresql ---------------------------------------------------------------------------

TEST(url_parse, postgres_socket_dir_and_percent_encoding) {
  const std::string url = "postgresql://u:p%40ss@/db?host=/tmp/sock&port=5433";
  const auto e = parse_ok(url);
  ASSERT_EQ(e.kind(), endpoint_kind::postgres);
  const auto& pg = std::get<postgres_endpoint>(e.spec);
  EXPECT_EQ(pg.conninfo, url);  // verbatim for libpq
  EXPECT_EQ(e.url, url);
  EXPECT_EQ(pg.user, "u");
  EXPECT_TRUE(pg.has_password);
  EXPECT_EQ(pg.host, "/tmp/sock");
  EXPECT_EQ(pg.port, "5433");
  EXPECT_EQ(pg.dbname, "db");
}

TEST(url_parse, postgres_short_scheme_without_password) {
  const auto e = parse_ok("postgres://app@db.example.com:6432/sales%20eu?sslmode=require");
  const auto& pg = std::get<postgres_endpoint>(e.spec);
  EXPECT_EQ(pg.user, "app");
  EXPECT_FALSE(pg.has_password);
  EXPECT_EQ(pg.host, "db.example.com");
  EXPECT_EQ(pg.port, "6432");
  EXPECT_EQ(pg.dbname, "sales eu");
}

TEST(url_parse, postgres_several_hosts_and_ipv6) {
  const auto e = parse_ok("postgresql://[::1]:5432,replica:5433/app");
  const auto& pg = std::get<postgres_endpoint>(e.spec);
  EXPECT_EQ(pg.host, "::1,replica");
  EXPECT_EQ(pg.port, "5432,5433");
  EXPECT_EQ(pg.dbname, "app");
}

TEST(url_parse, postgres_query_parameters_override_uri_parts) {
  const auto e =
      parse_ok("postgresql://old@h/olddb?user=new&dbname=newdb&password=x&host=%2Fvar%2Frun");
  const auto& pg = std::get<postgres_endpoint>(e.spec);
  EXPECT_EQ(pg.user, "new");
  EXPECT_EQ(pg.dbname, "newdb");
  EXPECT_EQ(pg.host, "/var/run");
  EXPECT_TRUE(pg.has_password);
}

TEST(url_parse, postgres_minimal) {
  const auto e = parse_ok("postgresql://");
  const auto& pg = std::get<postgres_endpoint>(e.spec);
  EXPECT_TRUE(pg.host.empty());
  EXPECT_TRUE(pg.dbname.empty());
  EXPECT_FALSE(pg.has_password);
}

TEST(url_parse, postgres_scheme_is_case_insensitive) {
  EXPECT_EQ(parse_ok("PostgreSQL://h/db").kind(), endpoint_kind::postgres);
}

TEST(url_parse, postgres_bad_port) {
  // The authority's port is not quoted: with an unencoded '/' in a password it is half of it.
  const auto err = parse_error("postgresql://u:hunter2@h:54x2/db");
  EXPECT_EQ(err.find("54x2"), std::string::npos) << err;
  EXPECT_NE(err.find("port"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
}

TEST(url_parse, postgres_port_out_of_range_in_query) {
  const auto err = parse_error("postgresql://h/db?port=70000");
  EXPECT_NE(err.find("70000"), std::string::npos) << err;
}

TEST(url_parse, postgres_bad_percent_encoding_in_password_is_not_quoted) {
  const auto err = parse_error("postgresql://u:hun%zzter2@h/db");
  EXPECT_NE(err.find("password"), std::string::npos) << err;
  EXPECT_EQ(err.find("hun"), std::string::npos) << err;
  EXPECT_EQ(err.find("zz"), std::string::npos) << err;
}

TEST(url_parse, postgres_unencoded_at_in_password) {
  const auto err = parse_error("postgresql://u:hun@ter2@h/db");
  EXPECT_NE(err.find("%40"), std::string::npos) << err;
  EXPECT_EQ(err.find("ter2"), std::string::npos) << err;
  EXPECT_EQ(err.find("hun"), std::string::npos) << err;
}

TEST(url_parse, postgres_parameter_without_value) {
  const auto err = parse_error("postgresql://h/db?sslmode");
  EXPECT_NE(err.find("sslmode"), std::string::npos) << err;
}

TEST(url_parse, postgres_password_parameter_value_never_in_error) {
  const auto err = parse_error("postgresql://h/db?password=hunter2%G1");
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
}

// ---- sqlite -------------------------------------------------------------------------------

TEST(url_parse, sqlite_file) {
  const auto e = parse_ok("sqlite:///var/lib/app/data%20v2.db");
  ASSERT_EQ(e.kind(), endpoint_kind::sqlite);
  EXPECT_EQ(std::get<sqlite_endpoint>(e.spec).path, "/var/lib/app/data v2.db");
}

TEST(url_parse, sqlite_relative_path) {
  const auto e = parse_ok("sqlite://out/x.db");
  EXPECT_EQ(std::get<sqlite_endpoint>(e.spec).path, "out/x.db");
}

TEST(url_parse, sqlite_shards_default_reserved_shard_is_the_count) {
  const auto e = parse_ok("sqlite:///data/shards?shards=8&shard_key=customer_id");
  ASSERT_EQ(e.kind(), endpoint_kind::sqlite_shards);
  const auto& s = std::get<sqlite_shards_endpoint>(e.spec);
  EXPECT_EQ(s.dir, "/data/shards");
  EXPECT_EQ(s.shards, 8);
  EXPECT_EQ(s.shard_key, "customer_id");
  EXPECT_EQ(s.reserved_shard, 8);
}

TEST(url_parse, sqlite_shards_explicit_reserved_shard) {
  const auto e = parse_ok("sqlite:///d?shard_key=k&reserved_shard=0&shards=1");
  const auto& s = std::get<sqlite_shards_endpoint>(e.spec);
  EXPECT_EQ(s.shards, 1);
  EXPECT_EQ(s.reserved_shard, 0);
}

TEST(url_parse, sqlite_errors) {
  EXPECT_NE(parse_error("sqlite:///d?shards=0&shard_key=k").find("shards='0'"), std::string::npos);
  EXPECT_NE(parse_error("sqlite:///d?shards=abc&shard_key=k").find("abc"), std::string::npos);
  EXPECT_NE(parse_error("sqlite:///d?shards=-2&shard_key=k").find("-2"), std::string::npos);
  EXPECT_NE(parse_error("sqlite:///d?shards=4").find("shard_key"), std::string::npos);
  EXPECT_NE(parse_error("sqlite:///d?shard_key=k").find("shards=N"), std::string::npos);
  EXPECT_NE(
      parse_error("sqlite:///d?shards=4&shard_key=k&reserved_shard=-1").find("reserved_shard"),
      std::string::npos);
  EXPECT_NE(parse_error("sqlite:///d?shards=4&shard_key=").find("shard_key"), std::string::npos);
  EXPECT_NE(parse_error("sqlite:///d?shard=4").find("'shard'"), std::string::npos);
  EXPECT_NE(parse_error("sqlite://").find("no path"), std::string::npos);
}

// ---- doris --------------------------------------------------------------------------------

TEST(url_parse, doris_defaults) {
  const auto e = parse_ok("doris://loader:s3cret@fe1/analytics");
  ASSERT_EQ(e.kind(), endpoint_kind::doris);
  const auto& d = std::get<doris_endpoint>(e.spec);
  EXPECT_EQ(d.user, "loader");
  EXPECT_EQ(d.password, "s3cret");
  EXPECT_EQ(d.fe.host, "fe1");
  EXPECT_EQ(d.fe.port, 8030);
  EXPECT_EQ(d.database, "analytics");
  EXPECT_TRUE(d.be.empty());
  EXPECT_EQ(d.format, doris_format::csv);
}

TEST(url_parse, doris_backends_and_json) {
  const auto e = parse_ok("doris://root@fe:9030/db?be=be1:8041,be2&format=json");
  const auto& d = std::get<doris_endpoint>(e.spec);
  EXPECT_EQ(d.fe.port, 9030);
  EXPECT_TRUE(d.password.empty());
  ASSERT_EQ(d.be.size(), 2U);
  EXPECT_EQ(d.be[0].host, "be1");
  EXPECT_EQ(d.be[0].port, 8041);
  EXPECT_EQ(d.be[1].host, "be2");
  EXPECT_EQ(d.be[1].port, 8040);
  EXPECT_EQ(d.format, doris_format::json);
  EXPECT_EQ(to_string(d.format), "json");
}

TEST(url_parse, doris_user_defaults_to_root_and_password_is_decoded) {
  const auto e = parse_ok("doris://:p%3Aw@fe/db");
  const auto& d = std::get<doris_endpoint>(e.spec);
  EXPECT_EQ(d.user, "root");
  EXPECT_EQ(d.password, "p:w");
}

TEST(url_parse, doris_errors_never_show_the_password) {
  for (const char* url : {"doris://u:hunter2@fe/db?format=xml", "doris://u:hunter2@fe",
                          "doris://u:hunter2@fe:0/db", "doris://u:hunter2@fe/db?label=x",
                          "doris://u:hunter2@/db", "doris://u:hunter2@fe/db?be=be1:x"}) {
    const auto err = parse_error(url);
    EXPECT_FALSE(err.empty()) << url;
    EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
  }
  EXPECT_NE(parse_error("doris://u:p@fe/db?format=xml").find("xml"), std::string::npos);
  EXPECT_NE(parse_error("doris://u:p@fe").find("database"), std::string::npos);
  EXPECT_NE(parse_error("doris://u:p@fe/db?label=x").find("'label'"), std::string::npos);
}

TEST(url_parse, doris_tls) {
  const auto plain = std::get<doris_endpoint>(parse_ok("doris://u@fe/db").spec);
  EXPECT_FALSE(plain.tls);
  EXPECT_TRUE(plain.tls_verify);
  const auto https = std::get<doris_endpoint>(parse_ok("doris+https://u@fe:8050/db").spec);
  EXPECT_TRUE(https.tls);
  EXPECT_EQ(https.fe.port, 8050);
  const auto flag = std::get<doris_endpoint>(
      parse_ok("doris://u@fe/db?tls=true&tls_ca=%2Fetc%2Fca.pem&be=be1:8040").spec);
  EXPECT_TRUE(flag.tls);
  EXPECT_EQ(flag.tls_ca_file, "/etc/ca.pem");
  EXPECT_TRUE(flag.tls_verify);
  const auto off =
      std::get<doris_endpoint>(parse_ok("DORIS+HTTPS://u@fe/db?tls_verify=false").spec);
  EXPECT_TRUE(off.tls);
  EXPECT_FALSE(off.tls_verify);
  EXPECT_NE(parse_error("doris://u@fe/db?tls=maybe").find("tls='maybe'"), std::string::npos);
  EXPECT_NE(parse_error("doris://u@fe/db?tls_ca=%2Fca.pem").find("without TLS"), std::string::npos);
  EXPECT_NE(parse_error("doris://u@fe/db?tls_verify=false").find("without TLS"), std::string::npos);
  EXPECT_NE(parse_error("doris+https://u@fe/db?tls=false").find("contradicts"), std::string::npos);
  EXPECT_EQ(redacted_url(parse_ok("doris+https://u:hunter2@fe/db")), "doris+https://u:****@fe/db");
}

// ---- generic ------------------------------------------------------------------------------

TEST(url_parse, unknown_scheme_names_the_scheme_only) {
  const auto err = parse_error("mysql://root:hunter2@h/db");
  EXPECT_NE(err.find("'mysql://'"), std::string::npos) << err;
  EXPECT_NE(err.find("postgresql://"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
}

TEST(url_parse, conninfo_is_not_a_url_and_is_not_quoted) {
  const auto err = parse_error("host=h password=hunter2 dbname=x");
  EXPECT_NE(err.find("not a URL"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
}

TEST(url_parse, empty_url) {
  EXPECT_NE(parse_error("").find("empty"), std::string::npos);
}

TEST(url_parse, redacted_url_masks_the_password) {
  const auto e = parse_ok("postgresql://u:hunter2@h/db?sslpassword=k3y");
  EXPECT_EQ(redacted_url(e), "postgresql://u:****@h/db?sslpassword=****");
}

TEST(url_parse, percent_decode) {
  EXPECT_EQ(percent_decode("a%20b%2fc%2F"), "a b/c/");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_FALSE(percent_decode("50%"));
  EXPECT_FALSE(percent_decode("%4"));
  EXPECT_FALSE(percent_decode("%g0"));
}

}  // namespace

namespace {

TEST(url_parse, unencoded_delimiters_in_a_password_are_never_quoted) {
  for (const char* scheme : {"postgresql", "doris"}) {
    for (const char* pw : {"ab/S3cretX", "ab?S3cretX", "9876/S3cretX", "ab:cd/S3cretX",
                           "9876?S3cretX", "u:99/S3cretX"}) {
      const std::string url = std::string(scheme) + "://u:" + pw + "@fe:8030/db";
      const auto err = parse_error(url);
      EXPECT_FALSE(err.empty()) << url;
      for (const char* piece : {"S3cret", ":ab", "9876", "ab:", "cd"}) {
        EXPECT_EQ(err.find(piece), std::string::npos) << url << " -> " << err;
      }
    }
  }
  // Parameters that are not in the authority may still be quoted.
  EXPECT_NE(parse_error("doris://fe:8030/db?be=b:70000").find("70000"), std::string::npos);
}

TEST(url_parse, at_signs_in_the_query_are_not_a_password) {
  EXPECT_TRUE(parse_endpoint("postgresql://h/db?application_name=a@b"));
  EXPECT_TRUE(parse_endpoint("postgresql://u@h/db?user=a@b"));
}

TEST(url_codec, percent_encode_round_trips) {
  const std::string all = "a-Z_0.9~ /?#@%:&=+\x01\xff";
  EXPECT_EQ(percent_encode("a-Z_0.9~"), "a-Z_0.9~");
  EXPECT_EQ(percent_encode("/?#@%"), "%2F%3F%23%40%25");
  EXPECT_EQ(percent_decode(percent_encode(all)), all);
}

TEST(url_codec, with_password) {
  EXPECT_EQ(with_password("postgresql://u@h:5432/db", "p/w"), "postgresql://u:p%2Fw@h:5432/db");
  EXPECT_EQ(with_password("postgresql://u:old@h/db", "new"), "postgresql://u:new@h/db");
  EXPECT_EQ(with_password("postgresql://h/db", "x"), "postgresql://:x@h/db");
  EXPECT_EQ(with_password("doris://root@fe:8030/db?be=b:1", "x"),
            "doris://root:x@fe:8030/db?be=b:1");
  EXPECT_EQ(with_password("sqlite:///x.db", "x"), std::nullopt);
}

}  // namespace

// ---- snowflake ----------------------------------------------------------------------------

TEST(url_parse, snowflake_account_database_schema_warehouse_role) {
  const auto e = parse_ok("snowflake://Loader@myorg-acct1/ANALYTICS/Bi%20Raw?warehouse=WH&role=R1");
  ASSERT_EQ(e.kind(), endpoint_kind::snowflake);
  EXPECT_EQ(to_string(e.kind()), "snowflake");
  const auto& s = std::get<snowflake_endpoint>(e.spec);
  EXPECT_EQ(s.user, "Loader");
  EXPECT_EQ(s.account, "myorg-acct1");
  EXPECT_EQ(s.database, "ANALYTICS");
  EXPECT_EQ(s.schema, "Bi Raw");
  EXPECT_EQ(s.warehouse, "WH");
  EXPECT_EQ(s.role, "R1");
  const auto m = std::get<snowflake_endpoint>(parse_ok("snowflake://u@xy12345.eu-west-1/db").spec);
  EXPECT_EQ(m.account, "xy12345.eu-west-1");
  EXPECT_TRUE(m.schema.empty());
  EXPECT_TRUE(m.warehouse.empty());
}

TEST(url_parse, snowflake_errors) {
  const auto pw = parse_error("snowflake://u:hunter2@acct/db");
  EXPECT_NE(pw.find("private_key_file"), std::string::npos) << pw;
  EXPECT_EQ(pw.find("hunter2"), std::string::npos) << pw;
  EXPECT_NE(parse_error("snowflake://acct/db").find("no user"), std::string::npos);
  EXPECT_NE(parse_error("snowflake://u@/db").find("no account"), std::string::npos);
  EXPECT_NE(parse_error("snowflake://u@acct").find("no database"), std::string::npos);
  EXPECT_NE(parse_error("snowflake://u@acct/db/s/x").find("DATABASE/SCHEMA"), std::string::npos);
  EXPECT_NE(parse_error("snowflake://u@acct/db?wh=x").find("'wh'"), std::string::npos);
}
