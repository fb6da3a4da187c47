#include "connectors/doris/load_answer.hpp"

#include "connectors/doris/json_reader.hpp"

#include <charconv>

namespace uringmig::connectors::doris {

namespace {

class fields {
 public:
  explicit fields(const json::object& o) : o_(o) {}

  bool has(std::string_view key) const { return o_.find(key) != nullptr; }

  void text(std::string_view key, std::string& out) {
    const json::value* v = o_.find(key);
    if (v == nullptr || v->kind == json::kind::null) return;
    if (v->kind == json::kind::object || v->kind == json::kind::array) return wrong(key, "text");
    out = v->text;
  }

  /// Any value as text; objects and arrays as their raw JSON.
  void raw(std::string_view key, std::string& out) {
    if (const json::value* v = o_.find(key)) out = v->text;
  }

  template <class Int>
  void integer(std::string_view key, Int& out) {
    const json::value* v = o_.find(key);
    if (v == nullptr || v->kind == json::kind::null) return;
    // Numbers, or digits in a string (older Doris versions quote some).
    if (v->kind != json::kind::number && v->kind != json::kind::string)
      return wrong(key, "an integer");
    const char* first = v->text.data();
    const char* last = first + v->text.size();
    Int n{};
    auto [end, ec] = std::from_chars(first, last, n);
    if (ec != std::errc() || end != last || first == last) return wrong(key, "an integer");
    out = n;
  }

  void flag(std::string_view key, bool& out) {
    const json::value* v = o_.find(key);
    if (v == nullptr || v->kind == json::kind::null) return;
    // "TwoPhaseCommit": "true" (a string), "GroupCommit": true (a boolean).
    if ((v->kind == json::kind::boolean || v->kind == json::kind::string) &&
        (v->text == "true" || v->text == "false")) {
      out = v->text == "true";
      return;
    }
    wrong(key, "true or false");
  }

  const std::string& error() const { return error_; }

 private:
  void wrong(std::string_view key, std::string_view what) {
    if (error_.empty()) error_ = "member " + std::string(key) + " is not " + std::string(what);
  }

  const json::object& o_;
  std::string error_;
};

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

}  // namespace

bool load_answer::committed() const {
  return shape == answer_shape::load && (status == "Success" || status == "Publish Timeout");
}

bool load_answer::already_loaded() const {
  return shape == answer_shape::load && status == "Label Already Exists" &&
         existing_job_status == "FINISHED";
}

bool load_answer::label_running() const {
  return shape == answer_shape::load && status == "Label Already Exists" &&
         existing_job_status == "RUNNING";
}

bool load_answer::unauthorized() const {
  return (shape == answer_shape::code_msg && code == 401) || message == "Unauthorized";
}

bool load_answer::transient() const {
  if (label_running()) return true;
  if (shape != answer_shape::load || status != "Fail") return false;
  return contains(message, "-235") || contains(message, "current running txns") ||
         contains(message, "larger than limit");
}

std::string load_answer::summary() const {
  std::string out = status.empty() ? std::string("no status") : status;
  if (code) out += " (code " + std::to_string(*code) + ")";
  if (!existing_job_status.empty()) out += ", job " + existing_job_status;
  if (!message.empty() && message != status) out += ": " + message;
  return out;
}

load_answer_result parse_load_answer(std::string_view body) {
  load_answer_result r;
  json::object_result doc = json::read_object(body);
  if (!doc) {
    r.error = "not a JSON object: " + doc.error;
    return r;
  }
  fields f(*doc.value);
  load_answer a;
  if (f.has("Status")) {
    a.shape = answer_shape::load;
    f.text("Status", a.status);
    f.text("Message", a.message);
    f.integer("TxnId", a.txn_id);
    f.text("Label", a.label);
    f.text("Comment", a.comment);
    f.flag("TwoPhaseCommit", a.two_phase_commit);
    f.flag("GroupCommit", a.group_commit);
    f.text("ExistingJobStatus", a.existing_job_status);
    f.integer("NumberTotalRows", a.number_total_rows);
    f.integer("NumberLoadedRows", a.number_loaded_rows);
    f.integer("NumberFilteredRows", a.number_filtered_rows);
    f.integer("NumberUnselectedRows", a.number_unselected_rows);
    f.integer("LoadBytes", a.load_bytes);
    f.integer("LoadTimeMs", a.load_time_ms);
    f.text("ErrorURL", a.error_url);
  } else if (f.has("status")) {
    a.shape = answer_shape::status_msg;
    f.text("status", a.status);
    f.text("msg", a.message);
  } else if (f.has("code") || f.has("msg")) {
    a.shape = answer_shape::code_msg;
    std::int64_t code = 0;
    f.integer("code", code);
    if (f.has("code")) a.code = code;
    f.text("msg", a.message);
    a.status = a.message;
    f.raw("data", a.data);
  }
  if (!f.error().empty()) {
    r.error = f.error();
    return r;
  }
  r.value = std::move(a);
  return r;
}

}  // namespace uringmig::connectors::doris
