// The double through libcurl easy, the way the Stream Load client will talk to it.

#include <gtest/gtest.h>
#include <zlib.h>

#include "codecs/compress_stream.hpp"
#include "tests/doris_double/server.hpp"
#include "tests/doris_double/test_client.hpp"

namespace {

using namespace uringmig::test::doris_double;
using namespace uringmig::test::doris_double::testing;

options opts() {
  options o;
  o.password = "s3cret";
  return o;
}

std::string strip_userinfo(const std::string& url) {
  std::size_t scheme = url.find("://");
  std::size_t at = url.find('@', scheme);
  std::size_t slash = url.find('/', scheme + 3);
  if (at == std::string::npos || at > slash) return url;
  return url.substr(0, scheme + 3) + url.substr(at + 1);
}

bool has_header(const request_record& r, const std::string& name) {
  for (const header& h : r.headers) {
    if (iequals(h.name, name)) return true;
  }
  return false;
}

std::string gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2_(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                ZLIB_VERSION, static_cast<int>(sizeof(z_stream)));
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

struct curl_global {
  curl_global() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};
const curl_global curl_once;

curl_request be_put(const server& srv, const std::string& label, const std::string& body) {
  curl_request rq;
  rq.url = srv.be_url() + "/api/db1/t1/_stream_load";
  rq.userpwd = "root:s3cret";
  rq.headers = {"Expect: 100-continue", "label: " + label};
  rq.body = body;
  return rq;
}

TEST(doris_double_curl, manual_redirect_resends_authorization_without_userinfo) {
  server srv(opts());
  curl_request to_fe;
  to_fe.url = srv.fe_url() + "/api/db1/t1/_stream_load";
  to_fe.userpwd = "root:s3cret";
  to_fe.headers = {"Expect: 100-continue", "label: M1", "column_separator: |"};
  to_fe.body = "1|a\n2|b\n";
  curl_result first = curl_run(to_fe);
  ASSERT_EQ(first.code, CURLE_OK) << first.error;
  EXPECT_EQ(first.http_status, 307);
  EXPECT_EQ(first.redirect_url.rfind("http://root:s3cret@127.0.0.1:", 0), 0u);

  curl_request to_be = to_fe;
  to_be.url = strip_userinfo(first.redirect_url);
  curl_result second = curl_run(to_be);
  ASSERT_EQ(second.code, CURLE_OK) << second.error;
  EXPECT_EQ(second.http_status, 200);
  EXPECT_EQ(json_field(second.body, "Status"), "Success");
  EXPECT_EQ(srv.rows("db1", "t1"),
            (std::vector<row>{{field("1"), field("a")}, {field("2"), field("b")}}));
  auto be = srv.requests_for_label("M1");
  ASSERT_EQ(be.size(), 1u);
  EXPECT_TRUE(has_header(be[0], "Authorization"));
  EXPECT_TRUE(be[0].sent_continue);
  EXPECT_EQ(be[0].target.find("s3cret"), std::string::npos);
  for (const header& h : be[0].headers) {
    EXPECT_EQ(h.value.find("s3cret"), std::string::npos) << h.name;  // never in clear
  }
}

TEST(doris_double_curl, follow_location_chunked_with_unrestricted_auth) {
  server srv(opts());
  curl_request rq;
  rq.url = srv.fe_url() + "/api/db1/t1/_stream_load";
  rq.userpwd = "root:s3cret";
  rq.follow = true;
  rq.unrestricted_auth = true;
  rq.chunked = true;
  rq.headers = {"Expect: 100-continue", "label: F1", "format: json", "read_json_by_line: true",
                "columns: id, name"};
  rq.body = "{\"name\":\"x\",\"id\":1}\n{\"id\":2,\"name\":null}\n";
  curl_result r = curl_run(rq);
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(json_field(r.body, "NumberLoadedRows"), "2");
  EXPECT_EQ(srv.rows("db1", "t1"),
            (std::vector<row>{{field("1"), field("x")}, {field("2"), std::nullopt}}));
  auto all = srv.requests();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].where, node::fe);
  EXPECT_EQ(all[0].http_status, 307);
  EXPECT_TRUE(all[1].chunked);
  EXPECT_TRUE(has_header(all[1], "Authorization"));
}

TEST(doris_double_curl, gzip_and_lz4_bodies_and_an_unsupported_codec) {
  server srv(opts());
  std::string plain;
  for (int i = 0; i < 500; ++i)
    plain += std::to_string(i) + "\tv" + std::to_string(i) + "\n";
  curl_request rq = be_put(srv, "Z1", gzip(plain));
  rq.headers.push_back("compress_type: gz");
  curl_result r = curl_run(rq);
  EXPECT_EQ(json_field(r.body, "Status"), "Success");
  EXPECT_EQ(json_field(r.body, "NumberLoadedRows"), "500");
  EXPECT_EQ(json_field(r.body, "LoadBytes"), std::to_string(rq.body.size()));
  ASSERT_EQ(srv.rows("db1", "t1").size(), 500u);
  EXPECT_EQ(srv.rows("db1", "t1")[499], (row{field("499"), field("v499")}));

  // LZ4 frames (Doris's compress_type lz4), one whole, then one cut short.
  uringmig::codecs::compress_stream lz(uringmig::codecs::compression::lz4);
  std::string framed;
  lz.write(plain, framed);
  lz.finish(framed);
  curl_request l1 = be_put(srv, "Z3", framed);
  l1.headers.push_back("compress_type: lz4");
  curl_result lr = curl_run(l1);
  EXPECT_EQ(json_field(lr.body, "Status"), "Success");
  EXPECT_EQ(json_field(lr.body, "NumberLoadedRows"), "500");
  ASSERT_EQ(srv.rows("db1", "t1").size(), 1000u);
  curl_request l2 = be_put(srv, "Z4", framed.substr(0, framed.size() - 5));
  l2.headers.push_back("compress_type: lz4");
  curl_result cut = curl_run(l2);
  EXPECT_EQ(json_field(cut.body, "Status"), "Fail");
  EXPECT_NE(json_field(cut.body, "Message").find("not a complete LZ4 frame"), std::string::npos);
  EXPECT_EQ(srv.rows("db1", "t1").size(), 1000u);

  curl_request bz2 = be_put(srv, "Z2", "x");
  bz2.headers.push_back("compress_type: bz2");
  curl_result refused = curl_run(bz2);
  EXPECT_EQ(json_field(refused.body, "Status"), "Fail");
  EXPECT_NE(json_field(refused.body, "Message").find("bz2 is not supported"), std::string::npos);
}

TEST(doris_double_curl, transient_failures_and_publish_timeout) {
  server srv(opts());
  srv.arm(make_fault(fault::too_many_txns));
  curl_result busy = curl_run(be_put(srv, "T1", "1\n"));
  EXPECT_EQ(busy.http_status, 200);
  EXPECT_EQ(json_field(busy.body, "Status"), "Fail");
  EXPECT_NE(json_field(busy.body, "Message").find("larger than limit"), std::string::npos);

  {
    fault_spec f = make_fault(fault::too_many_versions);
    f.message = "[E-235]too many versions";
    srv.arm(f);
  }
  curl_result versions = curl_run(be_put(srv, "T1", "1\n"));
  EXPECT_EQ(json_field(versions.body, "Message"), "[E-235]too many versions");

  srv.arm(make_fault(fault::publish_timeout));
  curl_result late = curl_run(be_put(srv, "T1", "1\n"));
  EXPECT_EQ(json_field(late.body, "Status"), "Publish Timeout");
  EXPECT_EQ(srv.rows("db1", "t1").size(), 1u);  // the data is loaded
  EXPECT_EQ(srv.label("db1", "T1")->state, txn_state::committed);
  curl_result again = curl_run(be_put(srv, "T1", "1\n"));
  EXPECT_EQ(json_field(again.body, "ExistingJobStatus"), "FINISHED");
}

TEST(doris_double_curl, fe_error_body_and_unauthorized_faults) {
  server srv(opts());
  curl_request rq;
  rq.url = srv.fe_url() + "/api/db1/t1/_stream_load";
  rq.userpwd = "root:s3cret";
  rq.headers = {"Expect: 100-continue", "label: E1"};
  rq.body = "1\n";
  {
    fault_spec f = make_fault(fault::fe_error_body);
    f.message = "No backend load available.";
    srv.arm(f);
  }
  curl_result fe = curl_run(rq);
  EXPECT_EQ(fe.http_status, 200);
  EXPECT_EQ(fe.body, R"({"status":"FAILED","msg":"No backend load available."})");
  srv.arm(make_fault(fault::fe_unauthorized));
  curl_result unauthorized = curl_run(rq);
  EXPECT_EQ(unauthorized.http_status, 200);
  EXPECT_EQ(json_field(unauthorized.body, "code"), "401");
  srv.arm(make_fault(fault::http_401));
  EXPECT_EQ(curl_run(rq).http_status, 401);
  EXPECT_EQ(curl_run(rq).http_status, 307);  // every fault has fired its count
}

TEST(doris_double_curl, reset_before_response_then_retry_finds_the_label_finished) {
  server srv(opts());
  srv.arm(make_fault(fault::reset_before_response));
  curl_result lost = curl_run(be_put(srv, "U1", "1\n2\n"));
  EXPECT_NE(lost.code, CURLE_OK);
  EXPECT_EQ(srv.rows("db1", "t1").size(), 2u);  // committed all the same
  curl_result retry = curl_run(be_put(srv, "U1", "1\n2\n"));
  EXPECT_EQ(retry.code, CURLE_OK);
  EXPECT_EQ(json_field(retry.body, "Status"), "Label Already Exists");
  EXPECT_EQ(json_field(retry.body, "ExistingJobStatus"), "FINISHED");
  EXPECT_EQ(srv.rows("db1", "t1").size(), 2u);
  EXPECT_EQ(srv.requests_for_label("U1").size(), 2u);

  {
    fault_spec f = make_fault(fault::reset_mid_body);
    f.bytes = 1000;
    srv.arm(f);
  }
  curl_request big = be_put(srv, "U2", std::string(100000, '\n'));
  big.chunked = true;
  curl_result cut = curl_run(big);
  EXPECT_NE(cut.code, CURLE_OK);
  EXPECT_EQ(srv.label("db1", "U2")->state, txn_state::aborted);
}

TEST(doris_double_curl, control_endpoint_with_curl_post) {
  server srv(opts());
  curl_request arm;
  arm.method = "POST";
  arm.url = srv.fe_url() + "/_double/fault?name=label_running&count=2";
  curl_result armed = curl_run(arm);
  EXPECT_EQ(armed.http_status, 200);
  EXPECT_EQ(armed.body, "{\"ok\":true}");
  curl_run(be_put(srv, "K1", "1\n"));
  EXPECT_EQ(json_field(curl_run(be_put(srv, "K1", "1\n")).body, "ExistingJobStatus"), "RUNNING");
  EXPECT_EQ(json_field(curl_run(be_put(srv, "K1", "1\n")).body, "ExistingJobStatus"), "RUNNING");
  EXPECT_EQ(json_field(curl_run(be_put(srv, "K1", "1\n")).body, "ExistingJobStatus"), "FINISHED");
}

TEST(doris_double_curl, discard_mode_chunked_upload_of_64_mib) {
  options o = opts();
  o.discard = true;
  server srv(o);
  std::string line = "12345\tsome text of a row\t2024-01-01 00:00:00\n";
  std::string body;
  while (body.size() < 64u * 1024 * 1024)
    body += line;
  curl_request rq = be_put(srv, "B1", body);
  rq.chunked = true;
  curl_result r = curl_run(rq);
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_EQ(json_field(r.body, "NumberLoadedRows"), std::to_string(body.size() / line.size()));
  EXPECT_EQ(json_field(r.body, "LoadBytes"), std::to_string(body.size()));
  EXPECT_TRUE(srv.rows("db1", "t1").empty());
}

}  // namespace
