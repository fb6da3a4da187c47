// The double over raw sockets: every byte of the FE/BE exchange is visible.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "tests/doris_double/server.hpp"
#include "tests/doris_double/test_client.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

using namespace uringmig::test::doris_double;
using namespace uringmig::test::doris_double::testing;

const std::string auth = "Authorization: " + basic("root", "s3cret");

options opts() {
  options o;
  o.password = "s3cret";
  return o;
}

std::string load_path(const std::string& db = "db1", const std::string& table = "t1") {
  return "/api/" + db + "/" + table + "/_stream_load";
}

/// A whole Stream Load straight to the BE, the way a careful client does it:
/// Expect: 100-continue, wait for the 100, then the body.
std::string be_load(const server& srv, std::vector<std::string> headers, const std::string& body,
                    const std::string& path = load_path()) {
  raw_client c(srv.be_port());
  headers.push_back(auth);
  headers.push_back("Expect: 100-continue");
  headers.push_back("Content-Length: " + std::to_string(body.size()));
  EXPECT_TRUE(c.send(request("PUT", path, headers)));
  auto first = c.read_response();
  if (!first) return "<no answer>";
  if (first->status != 100) return first->body;  // refused at the header stage
  EXPECT_TRUE(c.send(body));
  auto r = c.read_response();
  EXPECT_TRUE(r && r->status == 200);
  return r ? r->body : "<no answer>";
}

TEST(doris_double_raw, fe_redirects_with_credentials_and_never_sends_continue) {
  server srv(opts());
  raw_client c(srv.fe_port());
  ASSERT_TRUE(c.send(request("PUT", load_path() + "?x=1",
                             {auth, "Expect: 100-continue", "label: r1", "Content-Length: 4"})));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 307);  // the first answer: no 100 Continue before it
  EXPECT_EQ(r->get("Location"), "http://root:s3cret@127.0.0.1:" + std::to_string(srv.be_port()) +
                                    "/api/db1/t1/_stream_load?x=1");
  EXPECT_EQ(r->get("Connection"), "close");
  EXPECT_EQ(c.wait_closed(), "eof");
  auto log = srv.requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].where, node::fe);
  EXPECT_TRUE(log[0].expect_continue);
  EXPECT_FALSE(log[0].sent_continue);
  EXPECT_EQ(log[0].body_bytes, 0u);
}

TEST(doris_double_raw, fe_auth_and_expect_errors_come_as_http_200) {
  server srv(opts());
  auto ask = [&](std::vector<std::string> headers) {
    raw_client c(srv.fe_port());
    headers.push_back("Content-Length: 0");
    EXPECT_TRUE(c.send(request("PUT", load_path(), headers)));
    return c.read_response().value_or(raw_response{});
  };
  raw_response wrong = ask({"Authorization: " + basic("root", "nope"), "Expect: 100-continue"});
  EXPECT_EQ(wrong.status, 200);
  EXPECT_EQ(json_field(wrong.body, "msg"), "Unauthorized");
  EXPECT_EQ(json_field(wrong.body, "code"), "401");
  raw_response none = ask({"Expect: 100-continue"});
  EXPECT_EQ(json_field(none.body, "data"), "Need auth information.");
  raw_response no_expect = ask({auth});
  EXPECT_EQ(no_expect.body, R"({"status":"FAILED","msg":"There is no 100-continue header"})");

  options strict = opts();
  strict.fe_http_401 = true;
  server srv401(strict);
  raw_client c(srv401.fe_port());
  ASSERT_TRUE(c.send(request("PUT", load_path(), {"Expect: 100-continue", "Content-Length: 0"})));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->get("WWW-Authenticate"), "Basic realm=\"doris\"");
}

TEST(doris_double_raw, be_continue_length_and_chunked_bodies_on_one_connection) {
  server srv(opts());
  raw_client c(srv.be_port());
  ASSERT_TRUE(c.send(request(
      "PUT", load_path(),
      {auth, "label: k1", "column_separator: ,", "Expect: 100-continue", "Content-Length: 8"})));
  auto cont = c.read_response();
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->status, 100);
  ASSERT_TRUE(c.send("1,a\n2,b\n"));
  auto first = c.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(json_field(first->body, "Status"), "Success");
  EXPECT_EQ(json_field(first->body, "NumberLoadedRows"), "2");
  EXPECT_EQ(json_field(first->body, "LoadBytes"), "8");
  EXPECT_EQ(json_field(first->body, "TwoPhaseCommit"), "false");
  EXPECT_EQ(first->get("Connection"), "");  // kept alive

  std::string second =
      request("PUT", load_path(),
              {auth, "label: k2", "column_separator: ,", "Transfer-Encoding: chunked"}) +
      chunked("3,c\n4,d\n5,e", 3);
  ASSERT_TRUE(c.send(second));
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(json_field(r2->body, "NumberLoadedRows"), "3");
  auto rows = srv.rows("db1", "t1");
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[4], (row{field("5"), field("e")}));
  auto k1 = srv.requests_for_label("k1");
  auto k2 = srv.requests_for_label("k2");
  ASSERT_EQ(k1.size(), 1u);
  ASSERT_EQ(k2.size(), 1u);
  EXPECT_TRUE(k1[0].sent_continue);
  EXPECT_FALSE(k2[0].expect_continue);
  EXPECT_TRUE(k2[0].chunked);
  EXPECT_EQ(k2[0].body_bytes, 11u);
}

TEST(doris_double_raw, label_table_states) {
  server srv(opts());
  std::string ok = be_load(srv, {"label: L1"}, "a\tb\n");
  EXPECT_EQ(json_field(ok, "Status"), "Success");
  std::string again = be_load(srv, {"label: L1"}, "a\tb\n");
  EXPECT_EQ(json_field(again, "Status"), "Label Already Exists");
  EXPECT_EQ(json_field(again, "ExistingJobStatus"), "FINISHED");
  EXPECT_EQ(json_field(again, "TxnId"), "-1");

  srv.arm(make_fault(fault::label_running));
  EXPECT_EQ(json_field(be_load(srv, {"label: L1"}, "x\n"), "ExistingJobStatus"), "RUNNING");
  EXPECT_EQ(json_field(be_load(srv, {"label: L1"}, "x\n"), "ExistingJobStatus"), "FINISHED");

  srv.arm(make_fault(fault::too_many_versions));
  std::string failed = be_load(srv, {"label: L2"}, "c\td\n");
  EXPECT_EQ(json_field(failed, "Status"), "Fail");
  EXPECT_NE(json_field(failed, "Message").find("[E-235]"), std::string::npos);
  EXPECT_EQ(srv.label("db1", "L2")->state, txn_state::aborted);
  EXPECT_EQ(json_field(be_load(srv, {"label: L2"}, "c\td\n"), "Status"), "Success");  // reused
  EXPECT_EQ(srv.rows("db1", "t1").size(), 2u);
  EXPECT_EQ(srv.label("db1", "L2")->state, txn_state::visible);
  EXPECT_EQ(json_field(be_load(srv, {"label: bad label"}, "x\n"), "Status"), "Fail");
}

TEST(doris_double_raw, two_phase_commit_and_abort) {
  server srv(opts());
  std::string pre = be_load(srv, {"label: P1", "two_phase_commit: true"}, "1\n2\n");
  EXPECT_EQ(json_field(pre, "TwoPhaseCommit"), "true");
  EXPECT_EQ(json_field(pre, "Status"), "Success");
  std::string txn = json_field(pre, "TxnId");
  EXPECT_EQ(srv.label("db1", "P1")->state, txn_state::precommitted);
  EXPECT_TRUE(srv.rows("db1", "t1").empty());
  EXPECT_EQ(json_field(be_load(srv, {"label: P1"}, "1\n"), "ExistingJobStatus"), "RUNNING");

  auto two_pc = [&](std::uint16_t port, const std::string& id_header, const std::string& op) {
    raw_client c(port);
    EXPECT_TRUE(c.send(request("PUT", "/api/db1/_stream_load_2pc",
                               {auth, id_header, "txn_operation: " + op, "Content-Length: 0"})));
    return c.read_response().value_or(raw_response{});
  };
  raw_response via_fe = two_pc(srv.fe_port(), "txn_id: " + txn, "commit");
  EXPECT_EQ(via_fe.status, 307);
  EXPECT_NE(via_fe.get("Location").find("/api/db1/_stream_load_2pc?"), std::string::npos);
  raw_response commit = two_pc(srv.be_port(), "txn_id: " + txn, "commit");
  EXPECT_EQ(json_field(commit.body, "status"), "Success");
  EXPECT_EQ(json_field(commit.body, "msg"), "transaction [" + txn + "] commit successfully.");
  EXPECT_EQ(srv.label("db1", "P1")->state, txn_state::visible);
  EXPECT_EQ(srv.rows("db1", "t1").size(), 2u);
  EXPECT_EQ(json_field(two_pc(srv.be_port(), "txn_id: " + txn, "abort").body, "status"), "Fail");

  be_load(srv, {"label: P2", "two_phase_commit: true"}, "3\n");
  raw_response abort = two_pc(srv.be_port(), "label: P2", "abort");
  EXPECT_EQ(json_field(abort.body, "status"), "Success");
  EXPECT_EQ(srv.label("db1", "P2")->state, txn_state::aborted);
  EXPECT_EQ(srv.rows("db1", "t1").size(), 2u);
}

TEST(doris_double_raw, filtered_rows_error_log_and_max_filter_ratio) {
  server srv(opts());
  srv.set_table("db1", "t1", {2, {}});
  std::string fail = be_load(srv, {"label: F1", "column_separator: ,"}, "1,a\n2\n3,c\n");
  EXPECT_EQ(json_field(fail, "Status"), "Fail");
  EXPECT_EQ(json_field(fail, "Message"), "[DATA_QUALITY_ERROR]too many filtered rows");
  EXPECT_EQ(json_field(fail, "NumberFilteredRows"), "1");
  std::string url = json_field(fail, "ErrorURL");
  std::string prefix = "http://127.0.0.1:" + std::to_string(srv.be_port());
  ASSERT_EQ(url.rfind(prefix + "/api/_load_error_log?file=", 0), 0u) << url;
  raw_client c(srv.be_port());
  ASSERT_TRUE(c.send(request("GET", url.substr(prefix.size()), {})));
  auto log = c.read_response();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->status, 200);
  EXPECT_NE(log->body.find("src line [2]"), std::string::npos);
  EXPECT_TRUE(srv.rows("db1", "t1").empty());

  std::string ok =
      be_load(srv, {"label: F1", "column_separator: ,", "max_filter_ratio: 0.5"}, "1,a\n2\n3,c\n");
  EXPECT_EQ(json_field(ok, "Status"), "Success");
  EXPECT_EQ(json_field(ok, "NumberTotalRows"), "3");
  EXPECT_EQ(json_field(ok, "NumberLoadedRows"), "2");
  EXPECT_NE(json_field(ok, "ErrorURL"), "<absent>");
  EXPECT_EQ(srv.rows("db1", "t1").size(), 2u);

  {
    fault_spec f = make_fault(fault::filtered_rows);
    f.rows = 1;
    srv.arm(f);
  }
  std::string injected = be_load(srv, {"label: F2", "column_separator: ,"}, "7,g\n");
  EXPECT_EQ(json_field(injected, "NumberFilteredRows"), "1");
  EXPECT_EQ(json_field(injected, "Status"), "Fail");
}

TEST(doris_double_raw, reset_mid_body_aborts_and_the_label_is_reusable) {
  server srv(opts());
  {
    fault_spec f = make_fault(fault::reset_mid_body);
    f.bytes = 5;
    srv.arm(f);
  }
  raw_client c(srv.be_port());
  ASSERT_TRUE(c.send(request("PUT", load_path(),
                             {auth, "label: R1", "Expect: 100-continue", "Content-Length: 100"})));
  auto cont = c.read_response();
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->status, 100);
  c.send(std::string(100, 'x'));
  EXPECT_EQ(c.wait_closed(), "reset");
  auto seen = srv.requests_for_label("R1");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].reset);
  EXPECT_EQ(seen[0].body_bytes, 5u);
  EXPECT_EQ(srv.label("db1", "R1")->state, txn_state::aborted);
  EXPECT_EQ(json_field(be_load(srv, {"label: R1"}, "ok\n"), "Status"), "Success");
}

TEST(doris_double_raw, slow_continue_and_header_stage_refusals) {
  server srv(opts());
  {
    fault_spec f = make_fault(fault::slow_continue);
    f.delay_ms = 300;
    srv.arm(f);
  }
  raw_client c(srv.be_port());
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      c.send(request("PUT", load_path(), {auth, "Expect: 100-continue", "Content-Length: 2"})));
  auto cont = c.read_response();
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->status, 100);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));

  // Refused before the transaction: the answer comes at once, no 100 Continue.
  raw_client n(srv.be_port());
  ASSERT_TRUE(n.send(request("PUT", load_path(), {"Expect: 100-continue", "Content-Length: 2"})));
  auto refused = n.read_response();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 200);
  EXPECT_EQ(json_field(refused->body, "Message"), "[INTERNAL_ERROR]no valid Basic authorization");
  EXPECT_EQ(n.wait_closed(), "eof");

  srv.arm(make_fault(fault::too_many_txns));
  std::string busy = be_load(srv, {"label: T1"}, "1\n");
  EXPECT_NE(json_field(busy, "Message").find("current running txns on db"), std::string::npos);
  EXPECT_FALSE(srv.requests_for_label("T1").at(0).sent_continue);
}

TEST(doris_double_raw, expect_417_unknown_route_404_and_group_commit) {
  server srv(opts());
  raw_client c(srv.be_port());
  ASSERT_TRUE(c.send(request("PUT", load_path(), {auth, "Expect: 200-ok", "Content-Length: 0"})));
  EXPECT_EQ(c.read_response().value_or(raw_response{}).status, 417);
  raw_client d(srv.fe_port());
  ASSERT_TRUE(d.send(request("GET", "/api/nothing", {})));
  EXPECT_EQ(d.read_response().value_or(raw_response{}).status, 404);

  std::string group = be_load(srv, {"group_commit: async_mode"}, "1\n2\n");
  EXPECT_EQ(json_field(group, "Status"), "Success");
  EXPECT_EQ(json_field(group, "GroupCommit"), "true");
  EXPECT_EQ(json_field(group, "Label").rfind("group_commit_", 0), 0u);
  EXPECT_EQ(json_field(group, "BeginTxnTimeMs"), "<absent>");
  std::string both = be_load(srv, {"group_commit: sync_mode", "label: G"}, "1\n");
  EXPECT_EQ(json_field(both, "Status"), "Fail");
}

TEST(doris_double_raw, control_endpoint_and_record_dir) {
  uringmig::test::temp_dir dir("doris-double");
  options o = opts();
  o.record_dir = dir.path;
  server srv(o);
  auto control = [&](const std::string& method, const std::string& target) {
    raw_client c(srv.fe_port());
    EXPECT_TRUE(c.send(request(method, target, {})));
    return c.read_response().value_or(raw_response{});
  };
  EXPECT_EQ(control("POST", "/_double/fault?name=publish_timeout&count=1").status, 200);
  EXPECT_EQ(control("POST", "/_double/fault?name=nonsense").status, 400);
  EXPECT_EQ(control("POST", "/_double/table?db=db1&table=t1&columns=3").status, 200);

  std::string timeout = be_load(srv, {"label: C1", "column_separator: ,", "max_filter_ratio: 0.5"},
                                "1,\\N,a\tb\n2,x\n");
  EXPECT_EQ(json_field(timeout, "Status"), "Publish Timeout");
  EXPECT_EQ(json_field(timeout, "NumberFilteredRows"), "1");
  std::string ok =
      be_load(srv, {"label: C2", "column_separator: ,", "max_filter_ratio: 1"}, "3,y,z\n");
  EXPECT_EQ(json_field(ok, "Status"), "Success");

  std::ifstream f(dir.path / "db1.t1.tsv");
  std::stringstream file;
  file << f.rdbuf();
  EXPECT_EQ(file.str(), "1\t\\N\ta\\tb\n3\ty\tz\n");
  EXPECT_EQ(control("GET", "/_double/rows?db=db1&table=t1").body, file.str());
  EXPECT_NE(control("GET", "/_double/stats").body.find("\"C1\":1"), std::string::npos);
}

TEST(doris_double_raw, discard_mode_counts_lines_and_keeps_nothing) {
  options o = opts();
  o.discard = true;
  server srv(o);
  std::string body;
  for (int i = 0; i < 1000; ++i)
    body += std::to_string(i) + "\tvalue\n";
  body += "last line without newline";
  std::string r = be_load(srv, {"label: D1"}, body);
  EXPECT_EQ(json_field(r, "NumberLoadedRows"), "1001");
  EXPECT_EQ(json_field(r, "LoadBytes"), std::to_string(body.size()));
  EXPECT_TRUE(srv.rows("db1", "t1").empty());
  EXPECT_EQ(srv.label("db1", "D1")->state, txn_state::visible);
}

TEST(doris_double_raw, fe_direct_answers_loads_itself) {
  options o = opts();
  o.fe_direct = true;
  server srv(o);
  raw_client c(srv.fe_port());
  ASSERT_TRUE(c.send(
      request("PUT", load_path(),
              {auth, "label: FD", "comment: hi", "Expect: 100-continue", "Content-Length: 2"})));
  auto cont = c.read_response();
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->status, 100);
  ASSERT_TRUE(c.send("1\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(json_field(r->body, "Status"), "Success");
  EXPECT_EQ(json_field(r->body, "Comment"), "hi");
  EXPECT_EQ(srv.requests_for_label("FD", node::fe).size(), 1u);
  EXPECT_TRUE(srv.requests_for_label("FD", node::be).empty());
  EXPECT_EQ(srv.rows("db1", "t1").size(), 1u);
}

TEST(doris_double_raw, client_gone_mid_body_aborts_the_load) {
  server srv(opts());
  {
    raw_client c(srv.be_port());
    ASSERT_TRUE(c.send(request(
        "PUT", load_path(), {auth, "label: G1", "Expect: 100-continue", "Content-Length: 100"})));
    auto cont = c.read_response();
    ASSERT_TRUE(cont);
    EXPECT_EQ(cont->status, 100);
    ASSERT_TRUE(c.send("0123456789"));
  }  // closed with 90 bytes missing
  ASSERT_TRUE(srv.wait_for_requests(1));
  auto seen = srv.requests_for_label("G1");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].http_status, 0);
  EXPECT_EQ(seen[0].body_bytes, 10u);
  EXPECT_EQ(srv.label("db1", "G1")->state, txn_state::aborted);
  EXPECT_TRUE(srv.rows("db1", "t1").empty());
}

// A label in flight, as a real BE shows it: the label is checked before `100 Continue`, and a
// load still being processed answers a second request with RUNNING; the FE says PREPARE.
TEST(doris_double_raw, a_held_load_keeps_its_label_running_until_it_ends) {
  server srv(opts());
  fault_spec hold = make_fault(fault::hold);
  hold.bytes = 4;
  hold.delay_ms = 60000;  // released below
  srv.arm(hold);
  raw_client first(srv.be_port());
  ASSERT_TRUE(first.send(request(
      "PUT", load_path(), {auth, "label: H1", "Expect: 100-continue", "Content-Length: 8"})));
  auto cont = first.read_response();
  ASSERT_TRUE(cont && cont->status == 100);
  ASSERT_TRUE(first.send("a\tb\n"));
  ASSERT_TRUE(srv.data().wait_until_held("H1", std::chrono::seconds(10)));

  raw_client second(srv.be_port());
  ASSERT_TRUE(second.send(request(
      "PUT", load_path(), {auth, "label: H1", "Expect: 100-continue", "Content-Length: 4"})));
  auto refused = second.read_response();  // no 100 Continue first
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 200);
  EXPECT_EQ(json_field(refused->body, "Status"), "Label Already Exists");
  EXPECT_EQ(json_field(refused->body, "ExistingJobStatus"), "RUNNING");
  raw_client fe(srv.fe_port());
  ASSERT_TRUE(fe.send(request("GET", "/api/db1/get_load_state?label=H1", {auth})));
  auto state = fe.read_response();
  ASSERT_TRUE(state);
  EXPECT_EQ(json_field(state->body, "data"), "PREPARE");
  raw_client stats(srv.fe_port());
  ASSERT_TRUE(stats.send(request("GET", "/_double/stats", {})));
  auto st = stats.read_response();
  ASSERT_TRUE(st);
  EXPECT_NE(st->body.find("\"held\":[\"H1\"]"), std::string::npos) << st->body;

  srv.data().release_holds();
  ASSERT_TRUE(first.send("c\td\n"));
  auto done = first.read_response();
  ASSERT_TRUE(done);
  EXPECT_EQ(json_field(done->body, "Status"), "Success");
  EXPECT_EQ(srv.rows("db1", "t1").size(), 2u);
  EXPECT_TRUE(srv.data().held().empty());
}

TEST(doris_double_raw, fe_lists_its_backends_and_can_redirect_elsewhere) {
  options o = opts();
  o.redirect_host = "127.0.0.2";
  o.redirect_port = 4242;
  server srv(o);
  raw_client c(srv.fe_port());
  ASSERT_TRUE(c.send(request("GET", "/api/backends?is_alive=true", {auth})));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body,
            "{\"msg\":\"success\",\"code\":0,\"data\":{\"backends\":[{\"ip\":\"127.0.0.1\","
            "\"http_port\":" +
                std::to_string(srv.be_port()) + ",\"is_alive\":true}]},\"count\":0}");
  raw_client l(srv.fe_port());
  ASSERT_TRUE(l.send(request("PUT", load_path(),
                             {auth, "Expect: 100-continue", "label: r1", "Content-Length: 4"})));
  auto moved = l.read_response();
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->get("Location"), "http://root:s3cret@127.0.0.2:4242/api/db1/t1/_stream_load?");
}

TEST(doris_double_raw, unique_key_tables_upsert_delete_and_describe_themselves) {
  server srv(opts());
  table_schema keyed{3, {"id", "name", "ts"}};
  ASSERT_TRUE(read_model("unique:1", keyed));
  keyed.types = {"BIGINT", "VARCHAR", "DATETIME"};
  srv.set_table("db1", "t1", keyed);
  srv.set_table("db1", "dup", {2, {"a", "b"}});
  EXPECT_EQ(json_field(be_load(srv, {"label: U1"}, "1\ta\tx\n2\tb\ty\n"), "Status"), "Success");
  // Fields named by `columns` land in their columns; the same key replaces the row in place.
  EXPECT_EQ(json_field(be_load(srv, {"label: U2", "columns: ts,id,name"}, "z\t1\tA\nw\t3\tc\n"),
                       "Status"),
            "Success");
  using r = row;
  EXPECT_EQ(srv.rows("db1", "t1"),
            (std::vector<r>{{"1", "A", "z"}, {"2", "b", "y"}, {"3", "c", "w"}}));
  // merge_type DELETE: the rows name keys to remove (the key columns alone will do).
  EXPECT_EQ(json_field(be_load(srv, {"label: U3", "merge_type: DELETE", "columns: id"}, "2\n9\n"),
                       "Status"),
            "Success");
  EXPECT_EQ(srv.rows("db1", "t1"), (std::vector<r>{{"1", "A", "z"}, {"3", "c", "w"}}));
  const std::string dup =
      be_load(srv, {"label: U4", "merge_type: DELETE"}, "1\t2\n", load_path("db1", "dup"));
  EXPECT_EQ(json_field(dup, "Status"), "Fail");
  EXPECT_NE(json_field(dup, "Message").find("only supported in unique tables"), std::string::npos);
  EXPECT_EQ(json_field(be_load(srv, {"label: U5", "merge_type: MERGE"}, "1\tq\tq\n"), "Status"),
            "Fail");

  raw_client c(srv.fe_port());
  ASSERT_TRUE(c.send(request("GET", "/api/db1/t1/_schema", {auth})));
  auto schema = c.read_response();
  ASSERT_TRUE(schema);
  EXPECT_EQ(schema->body,
            "{\"msg\":\"success\",\"code\":0,\"data\":{\"status\":200,\"keysType\":\"UNIQUE_KEYS\","
            "\"properties\":[{\"type\":\"BIGINT\",\"comment\":\"\",\"name\":\"id\","
            "\"aggregation_type\":\"\"},{\"type\":\"VARCHAR\",\"comment\":\"\",\"name\":\"name\","
            "\"aggregation_type\":\"REPLACE\"},{\"type\":\"DATETIME\",\"comment\":\"\",\"name\":"
            "\"ts\",\"aggregation_type\":\"REPLACE\"}]},\"count\":0}");
  raw_client m(srv.fe_port());
  ASSERT_TRUE(m.send(request("GET", "/api/db1/nope/_schema", {auth})));
  auto missing = m.read_response();
  ASSERT_TRUE(missing);
  EXPECT_EQ(json_field(missing->body, "code"), "1");
  // StmtExecutionAction: a SELECT of the key in a range, integers as JSON numbers.
  raw_client q(srv.fe_port());
  const std::string stmt =
      R"({"stmt":"SELECT `id` FROM `t1` WHERE `id` >= 2 AND `id` < 9","limit":10})";
  ASSERT_TRUE(q.send(request("POST", "/api/query/default_cluster/db1",
                             {auth, "Content-Type: application/json",
                              "Content-Length: " + std::to_string(stmt.size())}) +
                     stmt));
  auto rows = q.read_response();
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->body,
            "{\"msg\":\"success\",\"code\":0,\"data\":{\"type\":\"result_set\",\"meta\":[{\"name\":"
            "\"id\",\"type\":\"BIGINT\"}],\"data\":[[3]],\"status\":{},\"time\":1},\"count\":0}");
  table_schema bad{1, {"a"}};
  EXPECT_FALSE(read_model("unique:2", bad));
  EXPECT_FALSE(read_model("sorted:1", bad));
}

}  // namespace
