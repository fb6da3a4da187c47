// Routing, the FE's answers (307, auth, its error bodies, get_load_state) and
// the control endpoints under /_double/ that shell tests drive with curl.

#include "tests/doris_double/routes.hpp"

#include <cstdlib>
#include <map>

#include "tests/doris_double/query.hpp"
#include "tests/doris_double/stream_load.hpp"

namespace uringmig::test::doris_double {

namespace {

const std::vector<header> json_type = {{"Content-Type", "application/json"}};

// RestBaseResult, what LoadAction answers with on its own errors.
std::string fe_failed(std::string_view msg) {
  return "{\"status\":\"FAILED\",\"msg\":" + json_quote(msg) + "}";
}

// ResponseEntityBuilder's body: HTTP 200, the real code inside.
std::string fe_body(std::string_view msg, int code, std::string_view data) {
  return "{\"msg\":" + json_quote(msg) + ",\"code\":" + std::to_string(code) +
         ",\"data\":" + json_quote(data) + ",\"count\":0}";
}

bool is_load_route(const std::vector<std::string>& parts) {
  return parts.size() == 4 && parts[0] == "api" && parts[3] == "_stream_load";
}

bool is_two_phase_route(const std::vector<std::string>& parts) {
  return parts.size() >= 3 && parts.size() <= 4 && parts[0] == "api" &&
         parts.back() == "_stream_load_2pc";
}

// Credentials check of RestBaseController::executeCheckPassword. Returns the
// answer to send when it fails.
std::optional<after> fe_check_auth(connection_io& io, const request_head& req, handler_env& env,
                                   request_record& rec, bool pending) {
  if (env.st.take(fault::http_401)) {
    return answer(io, env, rec, req, 401, {{"WWW-Authenticate", "Basic realm=\"doris\""}}, "",
                  pending);
  }
  std::optional<basic_credentials> creds = parse_basic_auth(req.get("Authorization"));
  bool forced = env.st.take(fault::fe_unauthorized).has_value();
  bool good = creds && creds->user == env.opts.user && creds->password == env.opts.password;
  if (good && !forced) return std::nullopt;
  std::string why =
      !creds ? std::string("Need auth information.")
             : "Access denied for user '" + creds->user + "@127.0.0.1' (using password: YES)";
  std::string body = fe_body("Unauthorized", 401, why);
  if (env.opts.fe_http_401) {
    std::vector<header> h = json_type;
    h.push_back({"WWW-Authenticate", "Basic realm=\"doris\""});
    return answer(io, env, rec, req, 401, h, body, pending);
  }
  return answer(io, env, rec, req, 200, json_type, body, pending);
}

std::string redirect_location(const request_head& req, const handler_env& env) {
  std::string userinfo;
  if (auto creds = parse_basic_auth(req.get("Authorization"))) {
    userinfo = percent_encode(creds->user) + ":" + percent_encode(creds->password) + "@";
  }
  std::string path = req.target.substr(0, req.target.find('?'));
  const std::uint16_t port = env.opts.redirect_port != 0 ? env.opts.redirect_port : env.be_port;
  return env.opts.scheme() + "://" + userinfo + env.opts.redirect_host + ":" +
         std::to_string(port) + path + "?" + req.query;
}

after fe_stream_load(connection_io& io, const request_head& req, const std::string& db,
                     const std::string& table, handler_env& env) {
  request_record rec = make_record(node::fe, req);
  rec.label = req.get("label");
  const bool pending = has_body(req);  // the FE never reads a load's body
  if (auto done = fe_check_auth(io, req, env, rec, pending)) return *done;
  if (!req.has("Expect")) {
    return answer(io, env, rec, req, 200, json_type, fe_failed("There is no 100-continue header"),
                  pending);
  }
  if (auto f = env.st.take(fault::fe_error_body)) {
    std::string msg = f->message.empty() ? "No backend load available." : f->message;
    return answer(io, env, rec, req, 200, json_type, fe_failed(msg), pending);
  }
  if (env.opts.fe_direct) return serve_stream_load(io, req, db, table, env, node::fe);
  return answer(
      io, env, rec, req, 307,
      {{"Location", redirect_location(req, env)}, {"Content-Type", "text/html;charset=utf-8"}}, "",
      pending);
}

after fe_two_phase(connection_io& io, const request_head& req, const std::string& db,
                   handler_env& env) {
  request_record rec = make_record(node::fe, req);
  rec.label = req.get("label");
  const bool pending = has_body(req);
  if (auto done = fe_check_auth(io, req, env, rec, pending)) return *done;
  if (req.get("txn_id").empty() && req.get("label").empty()) {
    return answer(io, env, rec, req, 200, json_type,
                  fe_failed("No transaction id or label selected."), pending);
  }
  if (req.get("txn_operation").empty()) {
    return answer(io, env, rec, req, 200, json_type,
                  fe_failed("No transaction operation('commit' or 'abort') selected."), pending);
  }
  if (env.opts.fe_direct) return serve_two_phase(io, req, db, env, node::fe);
  return answer(
      io, env, rec, req, 307,
      {{"Location", redirect_location(req, env)}, {"Content-Type", "text/html;charset=utf-8"}}, "",
      pending);
}

after fe_load_state(connection_io& io, const request_head& req, const std::string& db,
                    handler_env& env) {
  request_record rec = make_record(node::fe, req);
  const bool pending = has_body(req);
  if (auto done = fe_check_auth(io, req, env, rec, pending)) return *done;
  auto query = parse_query(req.query);
  rec.label = query["label"];
  std::optional<label_info> info = env.st.label(db, rec.label);
  std::string state = info ? std::string(txn_state_name(info->state)) : "UNKNOWN";
  return answer(io, env, rec, req, 200, json_type, fe_body("success", 0, state), pending);
}

// TableSchemaAction: `GET /api/{db}/{table}/_schema`, the columns (name, type, aggregation_type:
// empty for key columns) and the data model (`keysType`). An unknown table: code 1 and the
// message.
after fe_table_schema(connection_io& io, const request_head& req, const std::string& db,
                      const std::string& table, handler_env& env) {
  request_record rec = make_record(node::fe, req);
  const bool pending = has_body(req);
  if (auto done = fe_check_auth(io, req, env, rec, pending)) return *done;
  std::optional<table_schema> schema = env.st.schema(db, table);
  if (!schema) {
    std::string body =
        "{\"msg\":" +
        json_quote("errCode = 2, detailMessage = Unknown table '" + table + "' in " + db) +
        ",\"code\":1,\"data\":null,\"count\":0}";
    return answer(io, env, rec, req, 200, json_type, body, pending);
  }
  std::string props;
  for (std::size_t i = 0; i < schema->names.size(); ++i) {
    const bool key = i < schema->key_count;
    std::string agg = key                                     ? ""
                      : schema->model == keys_type::unique    ? "REPLACE"
                      : schema->model == keys_type::aggregate ? "SUM"
                                                              : "NONE";
    std::string type = i < schema->types.size() ? schema->types[i] : "VARCHAR";
    props += (i == 0 ? "" : ",");
    props += "{\"type\":" + json_quote(type) +
             ",\"comment\":\"\",\"name\":" + json_quote(schema->names[i]) +
             ",\"aggregation_type\":" + json_quote(agg) + "}";
  }
  std::string body = "{\"msg\":\"success\",\"code\":0,\"data\":{\"status\":200,\"keysType\":" +
                     json_quote(keys_type_name(schema->model)) + ",\"properties\":[" + props +
                     "]},\"count\":0}";
  return answer(io, env, rec, req, 200, json_type, body, pending);
}

class string_sink : public body_sink {
 public:
  explicit string_sink(std::string& out) : out_(out) {}
  void write(std::string_view data) override { out_.append(data); }

 private:
  std::string& out_;
};

// StmtExecutionAction: `POST /api/query/{ns}/{db}` with {"stmt": ..., "limit": N} (limit
// default 1000 here), answered {"msg":"success","code":0,"data":{"type":"result_set",...}}.
after fe_query(connection_io& io, const request_head& req, const std::string& db,
               handler_env& env) {
  request_record rec = make_record(node::fe, req);
  if (auto done = fe_check_auth(io, req, env, rec, has_body(req))) return *done;
  std::string body;
  string_sink sink(body);
  std::uint64_t bytes = 0;
  if (has_body(req) &&
      io.read_body(framing_of(req), sink, 1 << 20, bytes) != connection_io::body_result::ok)
    return after::close;
  rec.body_bytes = bytes;
  std::optional<json_members> m = parse_json_object(body);
  std::string stmt;
  std::uint64_t limit = 1000;
  if (m) {
    for (const auto& [k, v] : *m) {
      if (k == "stmt" && v) stmt = *v;
      if (k == "limit" && v) limit = std::strtoull(v->c_str(), nullptr, 10);
    }
  }
  const query_result r = run_select(env.st, db, stmt, limit);
  std::string answer_body =
      r.error ? "{\"msg\":" + json_quote(*r.error) + ",\"code\":1,\"data\":null,\"count\":0}"
              : "{\"msg\":\"success\",\"code\":0,\"data\":" + result_set_json(r) + ",\"count\":0}";
  return answer(io, env, rec, req, 200, json_type, answer_body, false);
}

// BackendsAction: `GET /api/backends[?is_alive=true]`, the BEs' addresses and HTTP ports.
after fe_backends(connection_io& io, const request_head& req, handler_env& env) {
  request_record rec = make_record(node::fe, req);
  const bool pending = has_body(req);
  if (auto done = fe_check_auth(io, req, env, rec, pending)) return *done;
  std::string body =
      "{\"msg\":\"success\",\"code\":0,\"data\":{\"backends\":[{\"ip\":\"127.0.0.1\","
      "\"http_port\":" +
      std::to_string(env.be_port) + ",\"is_alive\":true}]},\"count\":0}";
  return answer(io, env, rec, req, 200, json_type, body, pending);
}

after control(connection_io& io, const request_head& req, const std::string& what,
              handler_env& env) {
  request_record rec = make_record(node::fe, req);
  const bool pending = has_body(req);
  auto q = parse_query(req.query);
  auto reply = [&](int status, const std::string& body) {
    return answer(io, env, rec, req, status, json_type, body, pending);
  };
  auto number = [&](const char* key, long long fallback) {
    auto it = q.find(key);
    return it == q.end() || it->second.empty() ? fallback : std::atoll(it->second.c_str());
  };
  if (what == "fault" && req.method == "POST") {
    if (q["name"] == "clear") {
      env.st.clear_faults();
      return reply(200, "{\"ok\":true}");
    }
    std::optional<fault> kind = fault_from_name(q["name"]);
    if (!kind) return reply(400, "{\"ok\":false,\"error\":\"unknown fault\"}");
    fault_spec spec;
    spec.kind = *kind;
    spec.count = static_cast<int>(number("count", 1));
    spec.bytes = static_cast<std::uint64_t>(number("bytes", 0));
    spec.delay_ms = static_cast<int>(number("delay_ms", 0));
    spec.rows = static_cast<std::uint64_t>(number("rows", 1));
    spec.message = q["message"];
    env.st.arm(std::move(spec));
    return reply(200, "{\"ok\":true}");
  }
  if (what == "release" && req.method == "POST") {  // ends every hold now
    env.st.release_holds();
    return reply(200, "{\"ok\":true}");
  }
  if (what == "table" && req.method == "POST") {
    table_schema schema;
    schema.column_count = static_cast<std::size_t>(number("columns", 0));
    for (std::string_view names = q["names"]; !names.empty();) {
      std::size_t comma = names.find(',');
      schema.names.emplace_back(trim(names.substr(0, comma)));
      names = comma == std::string_view::npos ? std::string_view() : names.substr(comma + 1);
    }
    if (schema.column_count == 0) schema.column_count = schema.names.size();
    if (!read_model(q["keys"], schema)) return reply(400, "{\"ok\":false,\"error\":\"bad keys\"}");
    for (std::string_view types = q["types"]; !types.empty();) {
      std::size_t comma = types.find(',');
      schema.types.emplace_back(trim(types.substr(0, comma)));
      types = comma == std::string_view::npos ? std::string_view() : types.substr(comma + 1);
    }
    env.st.set_table(q["db"], q["table"], std::move(schema));
    return reply(200, "{\"ok\":true}");
  }
  if (what == "rows" && req.method == "GET") {
    std::string body;
    for (const row& r : env.st.rows(q["db"], q["table"]))
      body += record_line(r);
    return answer(io, env, rec, req, 200, {{"Content-Type", "text/plain; charset=UTF-8"}}, body,
                  pending);
  }
  if (what == "stats" && req.method == "GET") {
    std::map<std::string, int> per_label;
    std::size_t total = 0;
    std::uint64_t body_bytes = 0;  // of BE loads, as received (compressed or not)
    for (const request_record& r : env.st.requests()) {
      ++total;
      if (r.where == node::be && r.target.find("/_stream_load") != std::string::npos) {
        ++per_label[r.label];
        body_bytes += r.body_bytes;
      }
    }
    std::string body = "{\"requests\":" + std::to_string(total) +
                       ",\"be_body_bytes\":" + std::to_string(body_bytes) +
                       ",\"be_loads_by_label\":{";
    bool first = true;
    for (const auto& [label, n] : per_label) {
      body += (first ? "" : ",") + json_quote(label) + ":" + std::to_string(n);
      first = false;
    }
    body += "},\"held\":[";
    first = true;
    for (const std::string& label : env.st.held()) {
      body += (first ? "" : ",") + json_quote(label);
      first = false;
    }
    return reply(200, body + "]}");
  }
  return reply(404, "{\"ok\":false,\"error\":\"unknown control request\"}");
}

after not_found(connection_io& io, const request_head& req, handler_env& env, node where) {
  request_record rec = make_record(where, req);
  return answer(io, env, rec, req, 404, json_type, fe_body("Not Found", 404, req.path),
                has_body(req));
}

after not_allowed(connection_io& io, const request_head& req, handler_env& env, node where) {
  request_record rec = make_record(where, req);
  return answer(io, env, rec, req, 405, json_type, fe_body("Method Not Allowed", 405, req.method),
                has_body(req));
}

}  // namespace

after route(connection_io& io, const request_head& req, handler_env& env, node where) {
  std::string expect = req.get("Expect");
  if (!expect.empty() && !iequals(expect, "100-continue")) {
    request_record rec = make_record(where, req);
    return answer(io, env, rec, req, 417, {}, "", has_body(req));
  }
  std::vector<std::string> parts = split_path(req.path);
  const bool put = req.method == "PUT";
  if (where == node::fe) {
    if (parts.size() == 2 && parts[0] == "_double") return control(io, req, parts[1], env);
    if (is_load_route(parts)) {
      return put ? fe_stream_load(io, req, parts[1], parts[2], env)
                 : not_allowed(io, req, env, where);
    }
    if (is_two_phase_route(parts)) {
      return put ? fe_two_phase(io, req, parts[1], env) : not_allowed(io, req, env, where);
    }
    if (parts.size() == 3 && parts[0] == "api" && parts[2] == "get_load_state") {
      return fe_load_state(io, req, parts[1], env);
    }
    if (parts.size() == 4 && parts[0] == "api" && parts[1] == "query") {
      return req.method == "POST" ? fe_query(io, req, parts[3], env)
                                  : not_allowed(io, req, env, where);
    }
    if (parts.size() == 4 && parts[0] == "api" && parts[3] == "_schema") {
      return req.method == "GET" ? fe_table_schema(io, req, parts[1], parts[2], env)
                                 : not_allowed(io, req, env, where);
    }
    if (parts.size() == 2 && parts[0] == "api" && parts[1] == "backends") {
      return req.method == "GET" ? fe_backends(io, req, env) : not_allowed(io, req, env, where);
    }
    return not_found(io, req, env, where);
  }
  if (is_load_route(parts)) {
    return put ? serve_stream_load(io, req, parts[1], parts[2], env, where)
               : not_allowed(io, req, env, where);
  }
  if (is_two_phase_route(parts)) {
    return put ? serve_two_phase(io, req, parts[1], env, where) : not_allowed(io, req, env, where);
  }
  if (parts.size() == 2 && parts[0] == "api" && parts[1] == "_load_error_log") {
    request_record rec = make_record(where, req);
    std::optional<std::string> log = env.st.error_log(parse_query(req.query)["file"]);
    const std::vector<header> text = {{"Content-Type", "text/plain; charset=UTF-8"}};
    if (!log) return answer(io, env, rec, req, 404, text, "not found\n", has_body(req));
    return answer(io, env, rec, req, 200, text, *log, has_body(req));
  }
  return not_found(io, req, env, where);
}

}  // namespace uringmig::test::doris_double
