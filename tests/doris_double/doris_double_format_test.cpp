// The double's I/O-free pieces, fed with bytes: HTTP heads, chunked bodies,
// CSV/JSON reading, header verdicts and the answer's JSON shape.

#include <gtest/gtest.h>

#include <string>

#include "codecs/doris_format.hpp"
#include "tests/doris_double/http.hpp"
#include "tests/doris_double/load_format.hpp"
#include "tests/doris_double/stream_load.hpp"

namespace {

using namespace uringmig::test::doris_double;

std::vector<row> csv(std::string_view body, const csv_options& o) {
  std::vector<row> out;
  parse_csv(body, o, [&](std::string_view, row&& r) { out.push_back(std::move(r)); });
  return out;
}

row fields(std::initializer_list<const char*> values) {
  row r;
  for (const char* v : values)
    r.push_back(v == nullptr ? field() : field(v));
  return r;
}

request_head head(std::string text) {
  auto h = parse_request_head(text);
  EXPECT_TRUE(h.has_value()) << text;
  return h.value_or(request_head{});
}

TEST(doris_double_http, parses_a_request_head) {
  auto h = parse_request_head(
      "PUT /api/db%31/t/_stream_load?a=b+c HTTP/1.1\r\nHost: x\r\nlabel:  l1 \r\n"
      "EXPECT: 100-continue");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->method, "PUT");
  EXPECT_EQ(h->path, "/api/db1/t/_stream_load");
  EXPECT_EQ(h->query, "a=b+c");
  EXPECT_EQ(h->get("Label"), "l1");
  EXPECT_EQ(h->get("expect"), "100-continue");
  EXPECT_EQ(parse_query(h->query)["a"], "b c");
  EXPECT_FALSE(parse_request_head("PUT nopath HTTP/1.1"));
  EXPECT_FALSE(parse_request_head("PUT / HTTP/2.0"));
  EXPECT_FALSE(parse_request_head("PUT / HTTP/1.1\r\nbad header"));
}

TEST(doris_double_http, basic_auth_round_trip) {
  auto c = parse_basic_auth("Basic " + base64_encode("root:p:w"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "root");
  EXPECT_EQ(c->password, "p:w");
  EXPECT_EQ(base64_encode("ab"), "YWI=");
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_FALSE(base64_decode("Y!I="));
  EXPECT_FALSE(parse_basic_auth("Bearer abc"));
}

TEST(doris_double_http, chunked_decoder_byte_by_byte) {
  std::string wire = "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  chunked_decoder dec;
  std::string body;
  std::size_t used = 0;
  for (std::size_t i = 0; i < wire.size() && !dec.done(); ++i) {
    auto st = dec.next(std::string_view(wire).substr(i, 1));
    body.append(st.data);
    used += st.consumed;
  }
  EXPECT_TRUE(dec.done());
  EXPECT_EQ(body, "hello0123456789");
  EXPECT_EQ(wire.substr(used), "NEXT");
  chunked_decoder bad;
  bad.next("zz\r\n");
  EXPECT_TRUE(bad.failed());
}

TEST(doris_double_csv, separators_enclose_escape_and_null) {
  csv_options o;
  o.column_separator = decode_separator("\\x01\\x02");
  EXPECT_EQ(o.column_separator, "\x01\x02");
  EXPECT_EQ(csv("a\x01\x02\\N\x01\x02z\n\nb\x01\x02\x01\x02y", o),
            (std::vector<row>{fields({"a", nullptr, "z"}), fields({"b", "", "y"})}));

  csv_options e;
  e.column_separator = ",";
  e.line_delimiter = decode_separator("\\r\\n");
  e.enclose = '"';
  e.escape = '\\';
  EXPECT_EQ(csv("\"x,\r\ny\",\"a\\\"b\",\"\\N\",\\N\r\n\"q\"\"r\",2", e),
            (std::vector<row>{fields({"x,\r\ny", "a\"b", "\\N", nullptr}), fields({"q\"r", "2"})}));

  csv_options names;
  names.column_separator = "||";
  names.skip_lines = 1;
  EXPECT_EQ(csv("k||v\n1||one\n2||two||x\n", names),
            (std::vector<row>{fields({"1", "one"}), fields({"2", "two", "x"})}));
}

TEST(doris_double_json, records_by_line_and_outer_array) {
  std::vector<std::string> raws;
  std::vector<std::optional<json_members>> got;
  auto collect = [&](std::string_view raw, std::optional<json_members>&& m) {
    raws.emplace_back(raw);
    got.push_back(std::move(m));
  };
  json_options by_line{true, false};
  EXPECT_FALSE(
      parse_json_records("{\"a\":1,\"b\":\"x\\u00e9\\n\",\"c\":null,\"d\":{\"e\":[1,2]}}\n\n{bad\n",
                         by_line, collect));
  ASSERT_EQ(got.size(), 2u);
  ASSERT_TRUE(got[0]);
  EXPECT_EQ((*got[0])[0].second, "1");
  EXPECT_EQ((*got[0])[1].second, "x\xc3\xa9\n");
  EXPECT_EQ((*got[0])[2].second, std::nullopt);
  EXPECT_EQ((*got[0])[3].second, "{\"e\":[1,2]}");
  EXPECT_FALSE(got[1]);
  EXPECT_EQ(raws[1], "{bad");

  got.clear();
  EXPECT_FALSE(parse_json_records("[{\"a\":1},{\"a\":2}]", {false, true}, collect));
  EXPECT_EQ(got.size(), 2u);
  auto err = parse_json_records("[{\"a\":1}]", {false, false}, collect);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("strip_outer_array"), std::string::npos);
}

TEST(doris_double_format, record_lines_round_trip_and_byte_count) {
  row r = fields({"a\tb", nullptr, "c\\d\ne", ""});
  std::string line = record_line(r);
  EXPECT_EQ(line, "a\\tb\t\\N\tc\\\\d\\ne\t\n");
  EXPECT_EQ(parse_record_line(std::string_view(line).substr(0, line.size() - 1)), r);
  std::string big(100000, 'x');
  for (std::size_t i = 0; i < big.size(); i += 7)
    big[i] = '\n';
  EXPECT_EQ(count_byte(big.data(), big.size(), '\n'), (big.size() + 6) / 7);
  EXPECT_EQ(count_byte(big.data() + 1, 20, '\n'), 2u);
}

TEST(doris_double_load, header_verdicts_in_doris_words) {
  auto verdict = [](const std::string& extra) {
    return read_load_headers(head("PUT /api/d/t/_stream_load HTTP/1.1\r\n" + extra));
  };
  EXPECT_NE(verdict("label: x").error.value_or("").find("content_length is empty"),
            std::string::npos);
  EXPECT_NE(verdict("Content-Length: 3\r\nTransfer-Encoding: chunked")
                .error.value_or("")
                .find("please do not set both"),
            std::string::npos);
  EXPECT_NE(
      verdict("Content-Length: 3\r\ncompress_type: bz2").error.value_or("").find("not supported"),
      std::string::npos);
  EXPECT_NE(verdict("Content-Length: 3\r\nlabel: a\r\ngroup_commit: async_mode")
                .error.value_or("")
                .find("label and group_commit"),
            std::string::npos);
  header_verdict ok = verdict(
      "Transfer-Encoding: chunked\r\nformat: JSON\r\nread_json_by_line: true\r\n"
      "columns: a, `b`, c=concat(a, b)\r\nmax_filter_ratio: 0.25\r\ntwo_phase_commit: true");
  EXPECT_FALSE(ok.error);
  EXPECT_EQ(ok.params.format, data_format::json);
  EXPECT_TRUE(ok.params.json.read_json_by_line);
  EXPECT_EQ(ok.params.columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_DOUBLE_EQ(ok.params.max_filter_ratio, 0.25);
  EXPECT_TRUE(ok.params.two_phase);
  EXPECT_TRUE(ok.params.framing.chunked);
  EXPECT_TRUE(valid_label("abc-_:9"));
  EXPECT_FALSE(valid_label("a b"));
  EXPECT_FALSE(valid_label(std::string(129, 'a')));
}

TEST(doris_double_load, filtered_rows_and_ratio) {
  load_params p;
  p.csv.column_separator = ",";
  table_schema s{2, {}};
  body_verdict v = evaluate_body("1,a\n2\n3,c\n4,d,x\n", p, s, 0);
  EXPECT_EQ(v.total, 4u);
  EXPECT_EQ(v.loaded, 2u);
  EXPECT_EQ(v.filtered, 2u);
  EXPECT_NE(v.error_log.find("src line [2]"), std::string::npos);
  EXPECT_NE(v.error_log.find("src line [4,d,x]"), std::string::npos);
  EXPECT_TRUE(too_many_filtered(v, 0.4));
  EXPECT_FALSE(too_many_filtered(v, 0.5));

  load_params j;
  j.format = data_format::json;
  j.json.read_json_by_line = true;
  j.columns = {"b", "a"};
  body_verdict jv = evaluate_body("{\"a\":1,\"b\":\"x\"}\n{\"a\":2}\n", j, std::nullopt, 1);
  EXPECT_EQ(jv.total, 2u);
  EXPECT_EQ(jv.filtered, 1u);  // injected
  EXPECT_EQ(jv.rows, (std::vector<row>{fields({nullptr, "2"})}));
}

TEST(doris_double_load, answer_has_doris_keys_in_order) {
  load_response r;
  r.txn_id = 7;
  r.label = "l\"1";
  r.status = "Label Already Exists";
  r.existing_job_status = "RUNNING";
  r.error_url = "http://x/api/_load_error_log?file=f";
  std::string j = r.to_json();
  std::vector<std::string> keys = {"TxnId",
                                   "Label",
                                   "Comment",
                                   "TwoPhaseCommit",
                                   "Status",
                                   "ExistingJobStatus",
                                   "Message",
                                   "NumberTotalRows",
                                   "NumberLoadedRows",
                                   "NumberFilteredRows",
                                   "NumberUnselectedRows",
                                   "LoadBytes",
                                   "LoadTimeMs",
                                   "BeginTxnTimeMs",
                                   "StreamLoadPutTimeMs",
                                   "ReadDataTimeMs",
                                   "WriteDataTimeMs",
                                   "CommitAndPublishTimeMs",
                                   "ErrorURL"};
  std::size_t at = 0;
  for (const std::string& k : keys) {
    std::size_t next = j.find("\n    \"" + k + "\": ", at);
    ASSERT_NE(next, std::string::npos) << k << " missing or out of order in\n" << j;
    at = next;
  }
  EXPECT_NE(j.find("\"Label\": \"l\\\"1\""), std::string::npos);
  EXPECT_NE(j.find("\"TwoPhaseCommit\": \"false\""), std::string::npos);
  EXPECT_EQ(j.back(), '\n');
  load_response g;
  g.group_commit = true;
  std::string gj = g.to_json();
  EXPECT_NE(gj.find("\"GroupCommit\": true"), std::string::npos);
  EXPECT_EQ(gj.find("BeginTxnTimeMs"), std::string::npos);
  EXPECT_EQ(gj.find("ErrorURL"), std::string::npos);
}

// The Doris writers of codecs/ (issue #5), read back by the double the way a load reads them:
// the writer's own headers, then the body.
namespace uc = uringmig::codecs;

body_verdict load_through_double(const uc::doris_row_writer& w, const std::string& body,
                                 std::size_t columns) {
  std::string text =
      "PUT /api/db/t/_stream_load HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nlabel: codec-1";
  for (const auto& [name, value] : w.headers())
    text += "\r\n" + name + ": " + value;
  header_verdict hv = read_load_headers(head(text));
  EXPECT_FALSE(hv.error) << hv.error.value_or("");
  std::vector<std::string> names;
  for (const uc::doris_column& c : w.columns())
    names.push_back(c.name);
  EXPECT_EQ(hv.params.columns, names);
  return evaluate_body(body, hv.params, table_schema{columns, {}}, 0);
}

const std::vector<std::string> codec_values = {"plain",
                                               "tab\there",
                                               "new\nline",
                                               "cr\r",
                                               "\r\n",
                                               "q\"uote",
                                               "\"",
                                               "\"\"",
                                               "back\\slash",
                                               "\\",
                                               "\\N",
                                               "N",
                                               "\x01",
                                               "\x01\x02",
                                               "x\x01",
                                               "\xc3\xa9\xe6\xbc\xa2",
                                               "",
                                               "\x7f\x1b",
                                               std::string(70000, 'v') + "\"\n\x01\\"};

TEST(doris_double_codecs, csv_writer_round_trips_every_value) {
  const uc::doris_row_writer w(uc::doris_format::csv, {{"id", uc::doris_value_kind::integer},
                                                       {"v", uc::doris_value_kind::text},
                                                       {"w", uc::doris_value_kind::text}});
  std::string body;
  std::vector<row> want;
  for (std::size_t k = 0; k < codec_values.size(); ++k) {
    const std::string id = std::to_string(k);
    const field last = k % 2 ? field() : field(codec_values[k]);
    ASSERT_TRUE(w.append_row(
        body, {id, codec_values[k], last ? std::optional<std::string_view>(*last) : std::nullopt}));
    want.push_back(row{id, codec_values[k], last});
  }
  body_verdict v = load_through_double(w, body, 3);
  EXPECT_EQ(v.filtered, 0u) << v.error_log;
  EXPECT_EQ(v.rows, want);
}

TEST(doris_double_codecs, json_writer_round_trips_every_value) {
  using K = uc::doris_value_kind;
  const uc::doris_row_writer w(
      uc::doris_format::json,
      {{"i", K::integer}, {"f", K::number}, {"b", K::boolean}, {"y", K::bytea}, {"v", K::text}});
  std::string body;
  std::vector<row> want;
  for (std::size_t k = 0; k < codec_values.size(); ++k) {
    const std::string i = std::to_string(k * 1000003);
    const char* f = k % 3 == 0 ? "NaN" : k % 3 == 1 ? "-1.5e-07" : "12.50";
    const char* b = k % 2 ? "t" : "f";
    ASSERT_TRUE(w.append_row(body, {i, f, b, "\\x00ff", codec_values[k]}));
    want.push_back(row{i, f, k % 2 ? "true" : "false", "00ff", codec_values[k]});
  }
  ASSERT_TRUE(
      w.append_row(body, {std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt}));
  want.push_back(row(5));
  body_verdict v = load_through_double(w, body, 5);
  EXPECT_EQ(v.filtered, 0u) << v.error_log;
  EXPECT_EQ(v.rows, want);
}

}  // namespace
