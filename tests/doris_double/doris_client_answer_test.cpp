// The Stream Load client's reading of Doris's answers: every shape the double
// produces, 2PC through the FE, and the JSON reader on its own.

#include <gtest/gtest.h>

#include <boost/asio/this_coro.hpp>

#include <string>
#include <vector>

#include "connectors/doris/json_reader.hpp"
#include "connectors/doris/load_answer.hpp"
#include "connectors/doris/stream_load.hpp"
#include "io/buffer_pool.hpp"
#include "io/channel.hpp"
#include "io/runtime.hpp"
#include "tests/doris_double/doris_client_support.hpp"
#include "tests/doris_double/server.hpp"

namespace {

using namespace uringmig::test::doris_client;

asio::awaitable<std::vector<load_outcome>> every_shape(dd::server& srv) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  static const std::string body = "1\ta\n2\tb\n";
  const load_endpoint fe = fe_endpoint(srv);
  const load_endpoint be = endpoint(srv.be_url());
  std::vector<load_outcome> out;
  out.push_back(co_await stream_load(client, load(fe, "A1", body)));  // 0 Success
  out.push_back(co_await stream_load(client, load(fe, "A1", body)));  // 1 exists, FINISHED
  srv.arm(dd::make_fault(dd::fault::label_running));
  out.push_back(co_await stream_load(client, load(fe, "A1", body)));  // 2 exists, RUNNING
  srv.arm(dd::make_fault(dd::fault::publish_timeout));
  out.push_back(co_await stream_load(client, load(fe, "A2", body)));  // 3 Publish Timeout
  srv.arm(dd::make_fault(dd::fault::too_many_versions));
  out.push_back(co_await stream_load(client, load(be, "A3", body)));  // 4 Fail -235
  srv.arm(dd::make_fault(dd::fault::too_many_txns));
  out.push_back(co_await stream_load(client, load(be, "A4", body)));  // 5 Fail, running txns
  srv.arm(dd::make_fault(dd::fault::filtered_rows));
  stream_load_request filtered = load(fe, "A5", body);
  filtered.headers.emplace_back("max_filter_ratio", "0.9");
  out.push_back(co_await stream_load(client, filtered));  // 6 Success, one row filtered
  srv.arm(dd::make_fault(dd::fault::fe_error_body));
  out.push_back(co_await stream_load(client, load(fe, "A6", body)));  // 7 FE FAILED
  srv.arm(dd::make_fault(dd::fault::fe_unauthorized));
  out.push_back(co_await stream_load(client, load(fe, "A7", body)));  // 8 FE 401 entity
  srv.arm(dd::make_fault(dd::fault::http_401));
  out.push_back(co_await stream_load(client, load(fe, "A8", body)));  // 9 bare 401
  load_endpoint wrong = be;
  wrong.password = "nope";
  out.push_back(co_await stream_load(client, load(wrong, "A9", body)));  // 10 access denied
  stream_load_request grouped = load(fe, "", body);
  grouped.headers.emplace_back("group_commit", "async_mode");
  out.push_back(co_await stream_load(client, grouped));  // 11 group commit
  co_return out;
}

TEST(doris_client, reads_every_answer_shape_of_the_double) {
  dd::server srv(double_opts());
  io::runtime rt(1);
  std::vector<load_outcome> o = rt.run(every_shape(srv));
  ASSERT_EQ(o.size(), 12u);
  for (const load_outcome& x : o) {
    EXPECT_FALSE(x.transport.has_value()) << x.describe();
    EXPECT_EQ(x.describe().find("s3cret"), std::string::npos);
  }
  for (std::size_t i : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 10u, 11u}) {
    ASSERT_TRUE(o[i].answer.has_value()) << i << ": " << o[i].describe();
    EXPECT_EQ(o[i].answer->shape, answer_shape::load) << i;
    EXPECT_TRUE(o[i].error.empty()) << i << ": " << o[i].error;
  }
  EXPECT_TRUE(o[0].answer->committed());
  EXPECT_TRUE(o[0].loaded());
  EXPECT_EQ(o[0].answer->message, "OK");
  EXPECT_FALSE(o[0].answer->two_phase_commit);
  EXPECT_EQ(o[0].answer->number_total_rows, 2u);
  EXPECT_GT(o[0].answer->load_bytes, 0u);

  EXPECT_EQ(o[1].answer->status, "Label Already Exists");
  EXPECT_TRUE(o[1].answer->already_loaded());
  EXPECT_TRUE(o[1].loaded());
  EXPECT_FALSE(o[1].answer->committed());
  EXPECT_TRUE(o[2].answer->label_running());
  EXPECT_TRUE(o[2].answer->transient());
  EXPECT_FALSE(o[2].loaded());

  EXPECT_EQ(o[3].answer->status, "Publish Timeout");
  EXPECT_TRUE(o[3].answer->committed());
  EXPECT_NE(o[3].answer->message.find("PUBLISH_TIMEOUT"), std::string::npos);
  for (std::size_t i : {4u, 5u}) {
    EXPECT_EQ(o[i].answer->status, "Fail") << i;
    EXPECT_TRUE(o[i].answer->transient()) << o[i].answer->message;
    EXPECT_FALSE(o[i].loaded()) << i;
  }
  EXPECT_NE(o[4].answer->message.find("-235"), std::string::npos);
  EXPECT_NE(o[5].answer->message.find("larger than limit"), std::string::npos);

  EXPECT_TRUE(o[6].answer->committed());
  EXPECT_EQ(o[6].answer->number_filtered_rows, 1u);
  EXPECT_EQ(o[6].answer->number_loaded_rows, 1u);
  EXPECT_EQ(o[6].answer->error_url.rfind(srv.be_url() + "/api/_load_error_log?file=", 0), 0u)
      << o[6].answer->error_url;

  ASSERT_TRUE(o[7].answer.has_value());
  EXPECT_EQ(o[7].answer->shape, answer_shape::status_msg);
  EXPECT_EQ(o[7].answer->status, "FAILED");
  EXPECT_EQ(o[7].answer->message, "No backend load available.");
  EXPECT_EQ(o[7].redirects, 0);
  EXPECT_FALSE(o[7].loaded());

  ASSERT_TRUE(o[8].answer.has_value());
  EXPECT_EQ(o[8].answer->shape, answer_shape::code_msg);
  EXPECT_EQ(o[8].answer->code, 401);
  EXPECT_TRUE(o[8].answer->unauthorized());
  EXPECT_NE(o[8].answer->data.find("Access denied"), std::string::npos) << o[8].answer->data;

  EXPECT_EQ(o[9].http_status, 401);
  EXPECT_FALSE(o[9].answer.has_value());
  EXPECT_NE(o[9].error.find("HTTP 401"), std::string::npos) << o[9].error;
  EXPECT_FALSE(o[9].loaded());

  EXPECT_EQ(o[10].answer->status, "Fail");
  EXPECT_NE(o[10].answer->message.find("Access denied"), std::string::npos);
  EXPECT_FALSE(o[10].answer->transient());

  EXPECT_TRUE(o[11].answer->group_commit);
  EXPECT_TRUE(o[11].answer->committed());
  EXPECT_EQ(o[11].answer->label.rfind("group_commit_", 0), 0u) << o[11].answer->label;
}

asio::awaitable<std::vector<load_outcome>> two_phase(dd::server& srv) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  static const std::string body = "1\ta\n";
  const load_endpoint fe = fe_endpoint(srv);
  std::vector<load_outcome> out;
  for (const char* label : {"T1", "T2"}) {
    stream_load_request rq = load(fe, label, body);
    rq.headers.emplace_back("two_phase_commit", "true");
    out.push_back(co_await stream_load(client, rq));
  }
  EXPECT_TRUE(srv.rows("db1", "t1").empty());  // precommitted, not visible
  two_phase_request commit;
  commit.endpoint = fe;
  commit.db = "db1";
  commit.txn_id = out[0].answer ? out[0].answer->txn_id : -1;
  out.push_back(co_await stream_load_2pc(client, commit));
  two_phase_request abort = commit;
  abort.txn_id = -1;
  abort.label = "T2";
  abort.commit = false;
  out.push_back(co_await stream_load_2pc(client, abort));
  out.push_back(co_await stream_load_2pc(client, commit));  // again: not PRECOMMITTED any more
  co_return out;
}

TEST(doris_client, two_phase_commit_and_abort_through_the_fe) {
  dd::server srv(double_opts());
  io::runtime rt(1);
  std::vector<load_outcome> o = rt.run(two_phase(srv));
  ASSERT_EQ(o.size(), 5u);
  for (const load_outcome& x : o)
    ASSERT_TRUE(x.answer.has_value()) << x.describe();
  EXPECT_TRUE(o[0].answer->two_phase_commit);
  EXPECT_TRUE(o[0].answer->committed());
  EXPECT_TRUE(o[2].answer->two_phase_ok()) << o[2].describe();
  EXPECT_EQ(o[2].redirects, 1);
  EXPECT_NE(o[2].answer->message.find("commit"), std::string::npos);
  EXPECT_TRUE(o[3].answer->two_phase_ok()) << o[3].describe();
  EXPECT_FALSE(o[4].answer->two_phase_ok());
  EXPECT_EQ(o[4].answer->status, "Fail");
  EXPECT_EQ(srv.rows("db1", "t1"), (std::vector<dd::row>{{"1", "a"}}));
  EXPECT_EQ(srv.label("db1", "T1")->state, dd::txn_state::visible);
  EXPECT_EQ(srv.label("db1", "T2")->state, dd::txn_state::aborted);
  for (const dd::request_record& r : srv.requests()) {
    if (r.target.find("_stream_load_2pc") == std::string::npos || r.where != dd::node::be) continue;
    EXPECT_FALSE(r.expect_continue);
    EXPECT_EQ(header_of(r, "txn_operation").empty(), false);
  }
}

asio::awaitable<std::vector<http_response>> fe_plain_answers(std::string fe) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  static const std::string body = "1\ta\n";
  std::vector<http_response> out;
  http_request no_expect = raw_put(fe, "E1", body);
  no_expect.options.expect_continue = false;
  out.push_back(co_await client.request(no_expect));
  http_request state;
  state.url = fe + "/api/db1/get_load_state?label=E1";
  state.user = "root";
  state.password = "s3cret";
  out.push_back(co_await client.request(state));
  co_return out;
}

TEST(doris_client, reads_the_fe_answers_to_a_missing_expect_and_get_load_state) {
  dd::server srv(double_opts());
  io::runtime rt(1);
  std::vector<http_response> rs = rt.run(fe_plain_answers(srv.fe_url()));
  ASSERT_EQ(rs.size(), 2u);
  auto missing = parse_load_answer(rs[0].body);
  ASSERT_TRUE(missing) << missing.error;
  EXPECT_EQ(missing.value->shape, answer_shape::status_msg);
  EXPECT_EQ(missing.value->status, "FAILED");
  EXPECT_EQ(missing.value->message, "There is no 100-continue header");
  auto state = parse_load_answer(rs[1].body);
  ASSERT_TRUE(state) << state.error;
  EXPECT_EQ(state.value->shape, answer_shape::code_msg);
  EXPECT_EQ(state.value->code, 0);
  EXPECT_EQ(state.value->data, "UNKNOWN");  // E1 never began
  EXPECT_EQ(*rs[1].header("content-type"), "application/json");
}

TEST(doris_client, json_reader_values_and_errors) {
  auto doc = json::read_object(
      R"( {"a":{"b":[1,2,{"c":null}]},"s":"x\u00e9\ud83d\ude00\n\"","n":-1.5e3,"t":true,"z":null} )");
  ASSERT_TRUE(doc) << doc.error;
  EXPECT_EQ(doc.value->find("a")->kind, json::kind::object);
  EXPECT_EQ(doc.value->find("a")->text, R"({"b":[1,2,{"c":null}]})");
  EXPECT_EQ(doc.value->find("s")->text, "x\xC3\xA9\xF0\x9F\x98\x80\n\"");
  EXPECT_EQ(doc.value->find("n")->kind, json::kind::number);
  EXPECT_EQ(doc.value->find("n")->text, "-1.5e3");
  EXPECT_EQ(doc.value->find("t")->text, "true");
  EXPECT_EQ(doc.value->find("z")->kind, json::kind::null);
  EXPECT_EQ(doc.value->find("missing"), nullptr);
  for (std::string_view bad :
       {"", "[]", "{", R"({"a":})", R"({"a":1,})", "{\"a\":\"\x01\"}", R"({"a":1} x)",
        R"({"a":"\ud800"})", R"({"a":01})", R"({"a":tru})", R"({"a":"\q"})", R"({a:1})"}) {
    auto r = json::read_object(bad);
    EXPECT_FALSE(r) << bad;
    EXPECT_FALSE(r.error.empty()) << bad;
  }
  EXPECT_FALSE(json::read_object(std::string(100, '{') + std::string(100, '}')));

  auto lenient = parse_load_answer(R"({"Status":"Success","NumberLoadedRows":"12","TxnId":7})");
  ASSERT_TRUE(lenient) << lenient.error;
  EXPECT_EQ(lenient.value->number_loaded_rows, 12u);
  EXPECT_EQ(lenient.value->txn_id, 7);
  auto typed = parse_load_answer(R"({"Status":"Success","NumberLoadedRows":[1]})");
  EXPECT_FALSE(typed);
  EXPECT_NE(typed.error.find("NumberLoadedRows"), std::string::npos);
  EXPECT_FALSE(parse_load_answer("<html>502 Bad Gateway</html>"));
}

// ---------------------------------------------------------------- whom credentials go to

struct redirect_runs {
  load_outcome refused, refused_stream, trusted;
  label_state state, unknown;
  backend_list backends;
};

asio::awaitable<redirect_runs> through_a_rogue_fe(dd::server& rogue, dd::server& other) {
  auto ex = co_await asio::this_coro::executor;
  http_client client(ex);
  static const std::string body = "1\ta\n";
  redirect_runs r;
  r.refused = co_await stream_load(client, load(fe_endpoint(rogue), "R1", body));
  io::channel<io::buffer> ch(1 << 20);
  stream_load_request streamed = load(fe_endpoint(rogue), "R2", "");
  streamed.stream = &ch;
  r.refused_stream = co_await stream_load(client, std::move(streamed));
  load_endpoint allowed = fe_endpoint(rogue);
  allowed.trusted.push_back(other.be_url());
  r.trusted = co_await stream_load(client, load(allowed, "R3", body));
  r.state = co_await get_load_state(client, endpoint(other.fe_url()), "db1", "R3", {});
  r.unknown = co_await get_load_state(client, endpoint(other.fe_url()), "db1", "R9", {});
  r.backends = co_await list_backends(client, endpoint(rogue.fe_url()), {});
  co_return r;
}

TEST(doris_client, credentials_follow_a_redirect_only_to_the_fe_and_its_trusted_bes) {
  dd::server other(double_opts());
  other.set_table("db1", "t1", {2, {"id", "name"}});
  dd::options o = double_opts();
  o.redirect_port = other.be_port();  // the FE sends loads to a node it does not list
  dd::server rogue(o);
  io::runtime rt(1);
  redirect_runs r = rt.run(through_a_rogue_fe(rogue, other));

  const std::string where = "127.0.0.1:" + std::to_string(other.be_port());
  EXPECT_TRUE(r.refused.refused_redirect);
  EXPECT_FALSE(r.refused.loaded());
  EXPECT_NE(r.refused.error.find(where), std::string::npos) << r.refused.error;
  EXPECT_NE(r.refused.error.find("credentials not sent"), std::string::npos) << r.refused.error;
  EXPECT_TRUE(r.refused_stream.refused_redirect);
  EXPECT_FALSE(r.refused_stream.redirect_to.has_value());
  EXPECT_TRUE(r.trusted.loaded()) << r.trusted.describe();
  // Nothing reached the other node but the one load it was trusted with.
  std::vector<dd::request_record> seen = other.requests();
  ASSERT_EQ(seen.size(), 3u);  // R3's load, then get_load_state of R3 and R9
  EXPECT_EQ(seen[0].label, "R3");
  EXPECT_EQ(seen[0].where, dd::node::be);
  EXPECT_EQ(r.state.state, "VISIBLE");
  EXPECT_EQ(r.unknown.state, "UNKNOWN");
  ASSERT_EQ(r.backends.backends.size(), 1u) << r.backends.error;
  EXPECT_EQ(r.backends.backends[0].host, "127.0.0.1");
  EXPECT_EQ(r.backends.backends[0].port, rogue.be_port());
}

TEST(doris_client, credential_refusal_checks_host_port_and_scheme) {
  load_endpoint e = endpoint("https://fe.example:8050");
  e.trusted = {"https://be1.example:8040"};
  EXPECT_EQ(credential_refusal(e, "https://FE.example:8050/api/x"), "");
  EXPECT_EQ(credential_refusal(e, "https://be1.example:8040/api/db/t/_stream_load?x=1"), "");
  EXPECT_NE(credential_refusal(e, "https://be1.example:8041/api"), "");
  EXPECT_NE(credential_refusal(e, "https://evil.example:8040/api"), "");
  EXPECT_NE(credential_refusal(e, "http://be1.example:8040/api").find("plain http"),
            std::string::npos);
  EXPECT_EQ(credential_refusal(endpoint("http://fe:80"), "http://fe/api"), "");  // default port
  EXPECT_EQ(path_segment("my db/x?#%"), "my%20db%2Fx%3F%23%25");
}

}  // namespace
