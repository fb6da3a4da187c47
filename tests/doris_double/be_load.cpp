// The BE side of a Stream Load: header checks, begin, 100 Continue, the body,
// the verdict, commit, the answer; plus the 2PC commit/abort route.

#include <lz4frame.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <optional>
#include <random>

#include <algorithm>

#include "tests/doris_double/handlers.hpp"
#include "tests/doris_double/stream_load.hpp"

namespace uringmig::test::doris_double {

namespace {

using clock = std::chrono::steady_clock;

std::int64_t ms_since(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t).count();
}

std::string random_hex(std::size_t digits) {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  static constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < digits; ++i)
    out.push_back(hex[gen() & 15]);
  return out;
}

// What a BE generates when the client gives no label: a UUID.
std::string uuid_label() {
  return random_hex(8) + "-" + random_hex(4) + "-" + random_hex(4) + "-" + random_hex(4) + "-" +
         random_hex(12);
}

std::string group_commit_label() {
  return "group_commit_" + random_hex(16) + "_" + random_hex(16);
}

const std::vector<header> text_plain = {{"Content-Type", "text/plain; charset=UTF-8"}};

class buffer_sink : public body_sink {
 public:
  explicit buffer_sink(std::string& out) : out_(out) {}
  void write(std::string_view data) override { out_.append(data); }

 private:
  std::string& out_;
};

// The discard mode: bytes and line delimiters, nothing kept.
class counting_sink : public body_sink {
 public:
  explicit counting_sink(char delimiter) : delimiter_(delimiter) {}
  void write(std::string_view data) override {
    if (data.empty()) return;
    delimiters_ += count_byte(data.data(), data.size(), delimiter_);
    last_was_delimiter_ = data.back() == delimiter_;
    any_ = true;
  }
  std::uint64_t lines() const { return delimiters_ + (any_ && !last_was_delimiter_ ? 1 : 0); }

 private:
  char delimiter_;
  std::uint64_t delimiters_ = 0;
  bool last_was_delimiter_ = false;
  bool any_ = false;
};

// The hold fault: after `at` body bytes the load stops reading for a while (its transaction
// still running), then goes on.
class holding_sink : public body_sink {
 public:
  holding_sink(body_sink& inner, std::uint64_t at, std::function<void()> hold)
      : inner_(inner), at_(at), hold_(std::move(hold)) {}
  void write(std::string_view data) override {
    if (!held_ && seen_ + data.size() >= at_) {
      const auto first = static_cast<std::size_t>(at_ - seen_);
      inner_.write(data.substr(0, first));
      seen_ += first;
      data.remove_prefix(first);
      held_ = true;
      hold_();
    }
    seen_ += data.size();
    if (!data.empty()) inner_.write(data);
  }

 private:
  body_sink& inner_;
  std::uint64_t at_;
  std::function<void()> hold_;
  std::uint64_t seen_ = 0;
  bool held_ = false;
};

// compress_type gz / deflate: gzip or zlib streams (also concatenated gzip members).
class inflate_sink : public body_sink {
 public:
  explicit inflate_sink(body_sink& inner) : inner_(inner), out_(256 * 1024) {
    ok_ = inflateInit2_(&zs_, 15 + 32, ZLIB_VERSION, static_cast<int>(sizeof(z_stream))) == Z_OK;
  }
  ~inflate_sink() override { inflateEnd(&zs_); }
  inflate_sink(const inflate_sink&) = delete;
  inflate_sink& operator=(const inflate_sink&) = delete;

  void write(std::string_view data) override {
    if (!ok_ || data.empty()) return;
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs_.avail_in = static_cast<uInt>(data.size());
    ended_ = false;
    do {
      zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
      zs_.avail_out = static_cast<uInt>(out_.size());
      int r = inflate(&zs_, Z_NO_FLUSH);
      std::size_t produced = out_.size() - zs_.avail_out;
      if (produced > 0) inner_.write(std::string_view(out_.data(), produced));
      if (r == Z_STREAM_END) {
        ended_ = true;
        if (zs_.avail_in == 0) break;
        inflateReset(&zs_);
        ended_ = false;
        continue;
      }
      if (r == Z_BUF_ERROR) break;
      if (r != Z_OK) {
        ok_ = false;
        break;
      }
    } while (zs_.avail_in > 0 || zs_.avail_out == 0);
  }
  /// True when the input was one or more complete streams.
  bool ok() const { return ok_ && ended_; }

 private:
  body_sink& inner_;
  std::vector<char> out_;
  z_stream zs_{};
  bool ok_ = false;
  bool ended_ = false;
};

// compress_type lz4: one or more LZ4 frames, checksums checked.
class lz4_sink : public body_sink {
 public:
  explicit lz4_sink(body_sink& inner) : inner_(inner), out_(256 * 1024) {
    ok_ = !LZ4F_isError(LZ4F_createDecompressionContext(&d_, LZ4F_VERSION));
  }
  ~lz4_sink() override { LZ4F_freeDecompressionContext(d_); }
  lz4_sink(const lz4_sink&) = delete;
  lz4_sink& operator=(const lz4_sink&) = delete;

  void write(std::string_view data) override {
    while (ok_ && !data.empty()) {
      std::size_t src = data.size();
      std::size_t dst = out_.size();
      const std::size_t hint = LZ4F_decompress(d_, out_.data(), &dst, data.data(), &src, nullptr);
      if (LZ4F_isError(hint)) {
        ok_ = false;
        return;
      }
      if (dst > 0) inner_.write(std::string_view(out_.data(), dst));
      data.remove_prefix(src);
      ended_ = hint == 0;  // a frame ended; a next one may follow
    }
  }
  /// True when the input was one or more complete frames.
  bool ok() const { return ok_ && ended_; }

 private:
  body_sink& inner_;
  std::vector<char> out_;
  LZ4F_dctx* d_ = nullptr;
  bool ok_ = false;
  bool ended_ = false;
};

// A keyed table keeps its rows in table order: fields named by `columns` go to their column,
// the others are NULL (a DELETE load may carry the key columns alone).
void to_table_order(std::vector<row>& rows, const load_params& p, const table_schema& schema) {
  if (p.columns.empty() || schema.names.empty()) return;
  std::vector<std::size_t> at;
  for (const std::string& c : p.columns) {
    auto it = std::find(schema.names.begin(), schema.names.end(), c);
    at.push_back(it == schema.names.end() ? schema.names.size()
                                          : static_cast<std::size_t>(it - schema.names.begin()));
  }
  for (row& r : rows) {
    row out(schema.names.size());
    for (std::size_t i = 0; i < r.size() && i < at.size(); ++i)
      if (at[i] < out.size()) out[at[i]] = std::move(r[i]);
    r = std::move(out);
  }
}

std::string two_phase_json(std::string_view status, std::string_view msg) {
  return "{\n    \"status\": " + json_quote(status) + ",\n    \"msg\": " + json_quote(msg) +
         "\n}\n";
}

std::string access_denied(const std::string& user) {
  return "[ANALYSIS_ERROR]TStatus: errCode = 2, detailMessage = Access denied for user '" + user +
         "@127.0.0.1' (using password: YES)";
}

}  // namespace

after serve_stream_load(connection_io& io, const request_head& req, const std::string& db,
                        const std::string& table, handler_env& env, node where) {
  const auto t0 = clock::now();
  request_record rec = make_record(where, req);
  header_verdict hv = read_load_headers(req);
  const load_params& p = hv.params;
  load_response resp;
  resp.two_phase = p.two_phase;
  resp.group_commit = p.group_commit;
  resp.comment = req.get("comment");
  resp.label = !p.label.empty() ? p.label : p.group_commit ? group_commit_label() : uuid_label();
  rec.label = resp.label;

  // Before 100 Continue: the client has sent no body yet (or sends it unasked).
  auto early = [&]() {
    resp.load_time_ms = ms_since(t0);
    rec.load_status = resp.status;
    return answer(io, env, rec, req, 200, text_plain, resp.to_json(), p.has_body);
  };
  if (env.st.take(fault::http_401)) {
    return answer(io, env, rec, req, 401, {{"WWW-Authenticate", "Basic realm=\"doris\""}}, "",
                  p.has_body);
  }
  std::optional<basic_credentials> creds = parse_basic_auth(req.get("Authorization"));
  if (!creds) {
    resp.fail(std::string(messages::no_auth));
    return early();
  }
  if (hv.error) {
    resp.fail(*hv.error);
    return early();
  }
  if (creds->user != env.opts.user || creds->password != env.opts.password) {
    resp.fail(access_denied(creds->user));
    return early();
  }
  if (!p.label.empty() && !valid_label(p.label)) {
    resp.fail(
        "[ANALYSIS_ERROR]TStatus: errCode = 2, detailMessage = Label format error. regex: "
        "^[-_A-Za-z0-9:]{1,128}$, label: " +
        p.label);
    return early();
  }
  const std::optional<table_schema> schema = env.st.schema(db, table);
  if (p.deletes && (!schema || schema->model != keys_type::unique)) {
    resp.fail(
        "[ANALYSIS_ERROR]TStatus: errCode = 2, detailMessage = load by MERGE or DELETE is only "
        "supported in unique tables.");
    return early();
  }
  if (auto f = env.st.take(fault::too_many_txns)) {
    resp.fail(f->message.empty() ? std::string(messages::too_many_txns) : f->message);
    return early();
  }
  const auto tb = clock::now();
  store::begin_result begun = env.st.begin(db, table, resp.label, p.two_phase);
  if (begun.exists) {
    resp.status = "Label Already Exists";
    resp.existing_job_status = begun.existing_status;
    resp.message = "[LABEL_ALREADY_EXISTS]Label [" + resp.label +
                   "] has already been used, relate to txn [" +
                   std::to_string(begun.existing_txn_id) + "]";
    return early();
  }
  resp.txn_id = begun.txn_id;
  resp.begin_txn_time_ms = ms_since(tb);
  auto abort = [&] { env.st.finish(begun.txn_id, txn_state::aborted, {}); };

  if (rec.expect_continue) {
    if (auto f = env.st.take(fault::slow_continue)) {
      if (env.stop.wait_for(std::chrono::milliseconds(f->delay_ms))) {
        abort();
        return after::close;
      }
    }
    if (!io.send_all("HTTP/1.1 100 Continue\r\n\r\n")) {
      abort();
      return after::close;
    }
    rec.sent_continue = true;
  }

  std::optional<fault_spec> reset = env.st.take(fault::reset_mid_body);
  std::optional<fault_spec> hold = env.st.take(fault::hold);
  auto hold_here = [&] { env.st.hold(resp.label, std::chrono::milliseconds(hold->delay_ms)); };
  const char delimiter = p.csv.line_delimiter.empty() ? '\n' : p.csv.line_delimiter.back();
  counting_sink counter(delimiter);
  std::string buffer;
  buffer_sink buffered(buffer);
  body_sink& base = env.opts.discard ? static_cast<body_sink&>(counter) : buffered;
  std::optional<inflate_sink> inflater;
  std::optional<lz4_sink> unlz4;
  if (p.compressed) inflater.emplace(base);
  if (p.lz4) unlz4.emplace(base);
  body_sink& inner = inflater ? static_cast<body_sink&>(*inflater)
                     : unlz4  ? static_cast<body_sink&>(*unlz4)
                              : base;
  std::optional<holding_sink> holder;
  if (hold && hold->bytes > 0) holder.emplace(inner, hold->bytes, hold_here);
  body_sink& sink = holder ? static_cast<body_sink&>(*holder) : inner;
  if (!env.opts.discard && !p.framing.chunked) {
    buffer.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(p.framing.length, 1 << 30)));
  }

  const auto tr = clock::now();
  std::uint64_t bytes = 0;
  connection_io::body_result got = connection_io::body_result::ok;
  if (reset && reset->bytes == 0) {
    got = connection_io::body_result::limit;
  } else if (p.has_body) {
    std::uint64_t limit = reset ? reset->bytes : std::numeric_limits<std::uint64_t>::max();
    got = io.read_body(p.framing, sink, limit, bytes);
  } else if (reset) {
    got = connection_io::body_result::limit;
  }
  rec.body_bytes = bytes;
  resp.load_bytes = bytes;
  resp.read_data_time_ms = ms_since(tr);
  resp.stream_load_put_time_ms = resp.begin_txn_time_ms;
  if (got == connection_io::body_result::limit) {
    abort();
    rec.reset = true;
    env.st.log(rec);
    io.arm_reset();
    return after::reset;
  }
  if (got == connection_io::body_result::eof) {
    abort();  // the client went away mid-body: nothing to answer
    env.st.log(rec);
    return after::close;
  }
  if (got == connection_io::body_result::bad_framing) {
    abort();
    resp.fail("[INTERNAL_ERROR]invalid chunked transfer encoding");
    return early();
  }

  if (hold && hold->bytes == 0) hold_here();  // the whole body is in; commit held back
  std::optional<fault_spec> injected = env.st.take(fault::filtered_rows);
  const auto tw = clock::now();
  body_verdict v;
  if (inflater && !inflater->ok()) {
    v.fail = "[INTERNAL_ERROR]Failed to decompress the data: not a complete gzip/deflate stream";
  } else if (unlz4 && !unlz4->ok()) {
    v.fail = "[INTERNAL_ERROR]Failed to decompress the data: not a complete LZ4 frame";
  } else if (env.opts.discard) {
    v = evaluate_counted(counter.lines(), injected ? injected->rows : 0);
  } else {
    v = evaluate_body(buffer, p, schema, injected ? injected->rows : 0);
    if (schema && schema->model == keys_type::unique) to_table_order(v.rows, p, *schema);
  }
  resp.write_data_time_ms = ms_since(tw);
  resp.total_rows = v.total;
  resp.loaded_rows = v.loaded;
  resp.filtered_rows = v.filtered;
  if (!v.error_log.empty()) {
    resp.error_url = env.opts.scheme() + "://127.0.0.1:" + std::to_string(env.be_port) +
                     "/api/_load_error_log?file=" + env.st.add_error_log(std::move(v.error_log));
  }

  if (v.fail) {
    resp.fail(*v.fail);
    abort();
  } else if (auto f = env.st.take(fault::too_many_versions)) {
    resp.fail(f->message.empty() ? std::string(messages::too_many_versions) : f->message);
    abort();
  } else if (too_many_filtered(v, p.max_filter_ratio)) {
    resp.fail(std::string(messages::too_many_filtered));
    abort();
  } else {
    const auto tc = clock::now();
    if (p.two_phase) {
      env.st.finish(begun.txn_id, txn_state::precommitted, std::move(v.rows), p.deletes);
    } else if (env.st.take(fault::publish_timeout)) {
      env.st.finish(begun.txn_id, txn_state::committed, std::move(v.rows), p.deletes);
      resp.status = "Publish Timeout";
      resp.message = std::string(messages::publish_timeout);
    } else {
      env.st.finish(begun.txn_id, txn_state::visible, std::move(v.rows), p.deletes);
    }
    resp.commit_and_publish_time_ms = ms_since(tc);
  }
  resp.load_time_ms = ms_since(t0);
  rec.load_status = resp.status;
  if (env.st.take(fault::reset_before_response)) {
    rec.reset = true;
    rec.response_body = resp.to_json();
    env.st.log(rec);
    io.arm_reset();
    return after::reset;
  }
  return answer(io, env, rec, req, 200, text_plain, resp.to_json(), false);
}

after serve_two_phase(connection_io& io, const request_head& req, const std::string& db,
                      handler_env& env, node where) {
  request_record rec = make_record(where, req);
  rec.label = req.get("label");
  const bool pending = has_body(req);
  auto reply = [&](std::string_view status, std::string_view msg) {
    return answer(io, env, rec, req, 200, text_plain, two_phase_json(status, msg), pending);
  };
  std::optional<basic_credentials> creds = parse_basic_auth(req.get("Authorization"));
  if (!creds) return reply("Fail", "no valid Basic authorization");
  if (creds->user != env.opts.user || creds->password != env.opts.password) {
    return reply("Fail", access_denied(creds->user));
  }
  std::string op = to_lower(req.get("txn_operation"));
  if (op != "commit" && op != "abort") {
    return reply("Fail", "[INVALID_ARGUMENT]txn operation is invalid: " + op);
  }
  std::optional<std::int64_t> txn_id;
  std::string id_text = req.get("txn_id");
  if (!id_text.empty()) {
    try {
      std::size_t used = 0;
      txn_id = std::stoll(id_text, &used);
      if (used != id_text.size()) throw std::invalid_argument("txn_id");
    } catch (const std::exception&) {
      return reply("Fail", "[INVALID_ARGUMENT]invalid txn_id: " + id_text);
    }
  } else if (rec.label.empty()) {
    return reply("Fail", "[INVALID_ARGUMENT]no valid transaction id or label");
  }
  store::two_phase_result r = env.st.two_phase(db, txn_id, rec.label, op == "commit");
  rec.load_status = r.ok ? "Success" : "Fail";
  return reply(r.ok ? "Success" : "Fail", r.message);
}

}  // namespace uringmig::test::doris_double
