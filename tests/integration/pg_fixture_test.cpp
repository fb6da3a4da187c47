// The shared PostgreSQL fixture is what every integration test stands on:
// check it is reachable both ways, configured for logical replication, and
// that wrong passwords and parallel tests behave.

#include "tests/support/shared_cluster.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <string>

namespace uringmig::test {
namespace {

using ::testing::HasSubstr;

struct conn_deleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;

TEST(pg_fixture, socket_connection_is_trusted_superuser) {
  const pg_cluster_info& cluster = shared_cluster();
  EXPECT_EQ(query_value(cluster.conninfo(), "SELECT current_user"), cluster.superuser);
  EXPECT_EQ(query_value(cluster.socket_url(), "SELECT current_user"), cluster.superuser);
}

TEST(pg_fixture, tcp_connection_with_password) {
  const pg_cluster_info& cluster = shared_cluster();
  EXPECT_EQ(query_value(cluster.tcp_url(), "SELECT current_user"), "uringmig");
  EXPECT_EQ(query_value(cluster.tcp_url(), "SELECT inet_server_addr()::text"), "127.0.0.1/32");
  EXPECT_EQ(query_value(cluster.tcp_url(),
                        "SELECT rolsuper AND rolreplication FROM pg_roles "
                        "WHERE rolname = current_user"),
            "t");
}

TEST(pg_fixture, server_is_postgres_15_with_logical_wal) {
  const pg_cluster_info& cluster = shared_cluster();
  EXPECT_EQ(query_value(cluster.conninfo(), "SHOW wal_level"), "logical");
  EXPECT_GE(std::stoi(query_value(cluster.conninfo(), "SHOW server_version_num")), 150000);
  EXPECT_EQ(query_value(cluster.conninfo(), "SHOW server_encoding"), "UTF8");
  EXPECT_GE(std::stoi(query_value(cluster.conninfo(), "SHOW max_replication_slots")), 10);
}

TEST(pg_fixture, wrong_password_over_tcp_is_rejected) {
  const pg_cluster_info& cluster = shared_cluster();
  conn_ptr conn(PQconnectdb(cluster.tcp_url("postgres", "not-the-password").c_str()));
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_BAD);
  EXPECT_THAT(PQerrorMessage(conn.get()), HasSubstr("password authentication failed"));
  EXPECT_THROW(query_value(cluster.tcp_url("postgres", "hunter2"), "SELECT 1"), sql_error);
}

TEST(pg_fixture, replication_connection_over_tcp) {
  const pg_cluster_info& cluster = shared_cluster();
  conn_ptr conn(PQconnectdb((cluster.tcp_url() + "?replication=database").c_str()));
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  PGresult* res = PQexec(conn.get(), "IDENTIFY_SYSTEM");
  EXPECT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQresultErrorMessage(res);
  PQclear(res);
}

TEST(pg_fixture, fresh_databases_are_distinct) {
  const fresh_database_info a = fresh_database("pg_fixture_test");
  const fresh_database_info b = fresh_database("pg_fixture_test");
  EXPECT_NE(a.name, b.name);
  EXPECT_EQ(query_value(a.conninfo, "SELECT current_database()"), a.name);
  EXPECT_EQ(query_value(b.tcp_url, "SELECT current_database()"), b.name);
  EXPECT_EQ(query_value(a.socket_url, "SELECT current_database()"), a.name);

  exec_sql(a.conninfo, "CREATE TABLE only_in_a (id int); INSERT INTO only_in_a VALUES (1)");
  EXPECT_EQ(query_value(a.tcp_url, "SELECT count(*) FROM only_in_a"), "1");
  EXPECT_EQ(query_value(b.conninfo, "SELECT to_regclass('only_in_a') IS NULL"), "t");
}

TEST(pg_fixture, fresh_database_names_are_valid_identifiers) {
  const fresh_database_info db = fresh_database("Weird Prefix-With/Symbols and a very long tail");
  EXPECT_THAT(db.name, ::testing::MatchesRegex("[a-z0-9_]+"));
  EXPECT_LE(db.name.size(), 63U);
  EXPECT_EQ(query_value(db.conninfo, "SELECT current_database()"), db.name);
}

}  // namespace
}  // namespace uringmig::test
