#include "engine/incremental/doris_target.hpp"

#include "codecs/doris_types.hpp"
#include "codecs/json_reader.hpp"
#include "codecs/json_text.hpp"
#include "codecs/sql_text.hpp"
#include "engine/core/job.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace dc = connectors::doris;
namespace json = codecs::json;

std::string doris_side::fe_url() const {
  return dc::base_url(target.fe, target.tls);
}

dc::load_endpoint doris_side::endpoint() const {
  return {fe_url(), target.user, target.password, trusted};
}

doris_side make_doris_side(const job_spec& spec) {
  const doris_config& c = spec.config.doris;
  doris_side d;
  d.target = std::get<codecs::doris_endpoint>(spec.target_endpoint().spec);
  if (c.two_phase_commit)
    throw usage_error(
        "doris.two_phase_commit: incremental loads commit each chunk on its own (the watermark "
        "moves after its window's chunks are in); remove the setting");
  if (!c.group_commit.empty())
    throw usage_error(
        "doris.group_commit: incremental loads need labels (a chunk is loaded once even when "
        "retried), which group commit does not take; remove the setting");
  d.policy.retries = c.retries;
  d.policy.backoff = std::chrono::milliseconds(c.backoff_ms);
  d.policy.backoff_max = std::chrono::milliseconds(c.backoff_max_ms);
  d.expect_100 = std::chrono::milliseconds(c.expect_100_ms);
  d.load_timeout_s = c.timeout_s;
  if (d.load_timeout_s > 0) d.policy.label_wait = std::chrono::seconds(d.load_timeout_s + 60);
  d.max_filter_ratio = c.max_filter_ratio;
  d.http.ca_file = d.target.tls_ca_file.empty() ? c.tls_ca_file : d.target.tls_ca_file;
  d.http.verify_tls = d.target.tls_verify;
  for (const auto& hp : d.target.be)
    d.trusted.push_back(dc::base_url(hp, d.target.tls));
  if (!c.trusted_bes.empty()) {
    const auto parsed = codecs::parse_endpoint("doris://fe/db?be=" + c.trusted_bes);
    if (!parsed)
      throw usage_error("doris.trusted_bes = '" + c.trusted_bes + "': " + parsed.error +
                        " (expected host:port entries)");
    for (const auto& hp : std::get<codecs::doris_endpoint>(parsed.value->spec).be)
      d.trusted.push_back(dc::base_url(hp, d.target.tls));
  }
  return d;
}

asio::awaitable<void> trust_listed_backends(dc::http_client& http, doris_side& d) {
  dc::http_options o;
  o.total_timeout = std::chrono::seconds(30);
  const dc::backend_list bl = co_await dc::list_backends(http, d.endpoint(), o);
  if (bl.unauthorized)
    throw usage_error(
        fmt::format("Doris refused user '{}' at {} (wrong user or password): fix the target URL",
                    d.target.user, d.fe_url()));
  if (bl.transport)
    throw job_error(fmt::format("Doris FE {} cannot be reached: {}: check the target URL",
                                d.fe_url(), bl.transport->message));
  for (const auto& hp : bl.backends)
    d.trusted.push_back(dc::base_url(hp, d.target.tls));
  if (!bl.error.empty())
    spdlog::info(
        "doris: the FE at {} did not list its backends ({}): redirects are followed only to the "
        "FE and the BEs of be=",
        d.fe_url(), bl.error);
}

std::pair<std::string, std::string> doris_table_of(const table_entry& e, const doris_side& d) {
  const auto& parts = e.target.parts;
  if (parts.size() > 2)
    throw usage_error(e.label() + ": a Doris target table is `database.table` or `table` (" +
                      codecs::printable(e.target.written) + ")");
  return {parts.size() == 2 ? parts.front() : d.target.database, parts.back()};
}

namespace {

[[noreturn]] void bad(const table_entry& e, const std::string& what) {
  throw usage_error(e.label() + ": " + what);
}

std::string joined(const std::vector<std::string>& v) {
  return codecs::printable(fmt::format("{}", fmt::join(v, ", ")));
}

}  // namespace

asio::awaitable<table_plan> check_doris_entry(const table_entry& e, source& src,
                                              dc::http_client& http, const doris_side& d,
                                              const state_store* state) {
  const auto [db, table] = doris_table_of(e, d);
  const std::string name = db + "." + table;
  if (e.mode == load_mode::full)
    bad(e,
        "mode = \"full\" needs a truncate, which a Doris target cannot take over Stream Load: "
        "use mode = \"incremental\" (the first run loads every row; deletes = \"reconcile\" "
        "removes keys gone from the source)");
  dc::http_options o;
  o.total_timeout = std::chrono::seconds(30);
  const dc::table_description t = co_await dc::describe_table(http, d.endpoint(), db, table, o);
  if (t.unauthorized)
    throw usage_error(
        fmt::format("Doris refused user '{}' at {} (wrong user or password): fix the target URL",
                    d.target.user, d.fe_url()));
  if (t.transport)
    throw job_error(fmt::format("Doris FE {} cannot be reached: {}: check the target URL",
                                d.fe_url(), t.transport->message));
  if (!t.found)
    bad(e, fmt::format("Doris table {} cannot be described ({}): create it as a Unique Key "
                       "table with the key ({}) first",
                       codecs::printable(name), codecs::printable(t.error), joined(e.key)));
  if (t.keys_type != "UNIQUE_KEYS")
    bad(e, fmt::format("Doris table {} is a {} table: an incremental load upserts, which needs "
                       "a Unique Key table (UNIQUE KEY({}))",
                       codecs::printable(name),
                       t.keys_type.empty() ? std::string("non-OLAP") : t.keys_type, joined(e.key)));
  target_table tgt;
  tgt.found = true;
  tgt.schema = db;
  tgt.name = table;
  std::vector<std::string> keys;
  for (const auto& c : t.columns) {
    tgt.columns.push_back({c.name, c.type, false});
    if (c.key) keys.push_back(c.name);
  }
  table_plan p = co_await check_entry_on(e, src, std::move(tgt), name);
  std::vector<std::string> want = e.key;
  std::vector<std::string> have = keys;
  std::sort(want.begin(), want.end());
  std::sort(have.begin(), have.end());
  if (want != have)
    bad(e, fmt::format("key ({}) is not the Unique Key of Doris table {} (its key: {}): the "
                       "upsert replaces rows by the table's key",
                       joined(e.key), codecs::printable(name), joined(keys)));
  if (state != nullptr) p.mark = doris_mark(*state, name);
  co_return p;
}

// ---- windows in the state store ----

namespace {

std::string window_kv(const std::string& target) {
  return "incremental.doris.window." + target;
}

void add_opt(std::string& out, const std::optional<std::string>& v) {
  if (v)
    codecs::append_json_string(out, *v);
  else
    out += "null";
}

std::optional<std::string> opt_of(const json::value* v) {
  if (v == nullptr || v->kind == json::kind::null) return std::nullopt;
  return v->text;
}

}  // namespace

std::optional<std::string> doris_mark(const state_store& s, const std::string& target) {
  auto v = s.get("incremental.mark." + target);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

std::int64_t next_window_id(state_store& s, const std::string& target) {
  const std::string k = "incremental.doris.windows." + target;
  const std::int64_t id = std::stoll(s.get(k).value_or("0")) + 1;
  s.put(k, std::to_string(id));
  return id;
}

void save_window(state_store& s, const std::string& target, const stored_window& w) {
  std::string out = fmt::format("{{\"id\":{},\"key\":", w.id);
  codecs::append_json_string(out, w.key);
  out += ",\"from\":";
  add_opt(out, w.window.from);
  out += ",\"to\":";
  add_opt(out, w.window.to);
  out += ",\"next\":";
  add_opt(out, w.window.next_mark);
  out += fmt::format(",\"rows\":{},\"strategy\":", w.window.rows_estimate);
  codecs::append_json_string(out, w.window.strategy);
  out += ",\"chunks\":[";
  for (const auto& c : w.window.chunks) {
    if (&c != &w.window.chunks.front()) out += ",";
    out += "[";
    codecs::append_json_string(out, c.kind);
    out += ",";
    add_opt(out, c.range.lower);
    out += ",";
    add_opt(out, c.range.upper);
    out += c.range.nulls ? ",true]" : ",false]";
  }
  out += fmt::format("],\"done\":[{}]}}", fmt::join(w.done, ","));
  s.put(window_kv(target), out);
}

std::optional<stored_window> load_window(const state_store& s, const std::string& target) {
  const auto text = s.get(window_kv(target));
  if (!text || text->empty()) return std::nullopt;
  const json::object_result o = json::read_object(*text);
  if (!o) return std::nullopt;
  stored_window w;
  const json::object& v = *o.value;
  if (const auto* id = v.find("id")) w.id = std::stoll(id->text);
  if (const auto* key = v.find("key")) w.key = key->text;
  w.window.from = opt_of(v.find("from"));
  w.window.to = opt_of(v.find("to"));
  w.window.next_mark = opt_of(v.find("next"));
  if (const auto* r = v.find("rows")) w.window.rows_estimate = std::stoll(r->text);
  if (const auto* st = v.find("strategy")) w.window.strategy = st->text;
  const auto* chunks = v.find("chunks");
  const auto list = chunks != nullptr ? json::read_array(chunks->text) : std::nullopt;
  if (!list) return std::nullopt;
  for (const auto& c : *list) {
    const auto f = json::read_array(c.text);
    if (!f || f->size() != 4) return std::nullopt;
    window_chunk wc;
    wc.chunk_no = static_cast<int>(w.window.chunks.size());
    wc.kind = (*f)[0].text;
    wc.range.lower = opt_of(&(*f)[1]);
    wc.range.upper = opt_of(&(*f)[2]);
    wc.range.nulls = (*f)[3].text == "true";
    w.window.chunks.push_back(std::move(wc));
  }
  if (const auto* done = v.find("done"))
    if (const auto d = json::read_array(done->text))
      for (const auto& n : *d)
        w.done.insert(std::stoi(n.text));
  return w;
}

void finish_window(state_store& s, const std::string& target,
                   const std::optional<std::string>& mark) {
  s.put_many({{"incremental.mark." + target, mark.value_or("")}, {window_kv(target), ""}});
}

// ---- loads ----

void prepare_doris_table(doris_table& t, const doris_side& d) {
  const table_plan& p = t.plan;
  std::vector<codecs::doris_source_column> cols;
  for (const auto& c : p.columns) {
    const source_column* sc = p.src.column(c.source);
    cols.push_back({c.target, sc != nullptr ? sc->pg_type : "text", false, 0});
  }
  t.writer.emplace(codecs::doris_format::csv, codecs::doris_columns_of(cols));
  t.headers.clear();
  for (auto& [k, v] : t.writer->headers())
    t.headers.emplace_back(k, v);
  // Rows that do not fit their column are filtered (and reported), never loaded as NULL.
  t.headers.emplace_back("strict_mode", "true");
  if (p.entry.on_error == error_mode::reject)
    t.headers.emplace_back("max_filter_ratio", "1");
  else if (!d.max_filter_ratio.empty())
    t.headers.emplace_back("max_filter_ratio", d.max_filter_ratio);
  if (d.load_timeout_s > 0) t.headers.emplace_back("timeout", std::to_string(d.load_timeout_s));
  std::string stem;
  for (const char c : t.plan.target_name) {
    if (stem.size() >= 40) break;
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    stem.push_back(plain ? c : '_');
  }
  t.stem = stem + "_" + fingerprint({t.plan.target_name}).substr(0, 8);
}

std::string doris_label(const doris_job& j, const doris_table& t, int chunk_no) {
  return fmt::format("uringmig_inc_{}_{}_{}_{}", j.token, t.stem, t.win.id, chunk_no);
}

}  // namespace uringmig::engine::incremental
