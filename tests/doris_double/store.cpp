#include "tests/doris_double/store.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>

namespace uringmig::test::doris_double {

namespace {

constexpr std::array<std::pair<fault, std::string_view>, 12> fault_names = {{
    {fault::reset_mid_body, "reset_mid_body"},
    {fault::reset_before_response, "reset_before_response"},
    {fault::slow_continue, "slow_continue"},
    {fault::too_many_versions, "too_many_versions"},
    {fault::too_many_txns, "too_many_txns"},
    {fault::publish_timeout, "publish_timeout"},
    {fault::filtered_rows, "filtered_rows"},
    {fault::label_running, "label_running"},
    {fault::fe_error_body, "fe_error_body"},
    {fault::fe_unauthorized, "fe_unauthorized"},
    {fault::http_401, "http_401"},
    {fault::hold, "hold"},
}};

// Doris names are [A-Za-z0-9_]; anything else is escaped so a file name stays one name.
std::string file_part(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
    if (plain) {
      out.push_back(c);
    } else {
      out += percent_encode(std::string_view(&c, 1));
    }
  }
  return out;
}

}  // namespace

std::optional<fault> fault_from_name(std::string_view name) {
  for (const auto& [f, n] : fault_names) {
    if (n == name) return f;
  }
  return std::nullopt;
}

std::string_view fault_name(fault f) {
  for (const auto& [k, n] : fault_names) {
    if (k == f) return n;
  }
  return "unknown";
}

std::string_view keys_type_name(keys_type k) {
  switch (k) {
    case keys_type::duplicate:
      return "DUP_KEYS";
    case keys_type::unique:
      return "UNIQUE_KEYS";
    case keys_type::aggregate:
      return "AGG_KEYS";
  }
  return "DUP_KEYS";
}

bool read_model(std::string_view spec, table_schema& schema) {
  if (spec.empty()) return true;
  const std::size_t colon = spec.find(':');
  const std::string_view name = spec.substr(0, colon);
  if (name == "unique") {
    schema.model = keys_type::unique;
  } else if (name == "aggregate") {
    schema.model = keys_type::aggregate;
  } else if (name == "duplicate") {
    schema.model = keys_type::duplicate;
  } else {
    return false;
  }
  if (colon == std::string_view::npos) return schema.model == keys_type::duplicate;
  const std::string n(spec.substr(colon + 1));
  char* end = nullptr;
  const unsigned long v = std::strtoul(n.c_str(), &end, 10);
  if (n.empty() || *end != '\0' || v == 0 || (!schema.names.empty() && v > schema.names.size()))
    return false;
  schema.key_count = v;
  return true;
}

std::string_view txn_state_name(txn_state s) {
  switch (s) {
    case txn_state::prepare:
      return "PREPARE";
    case txn_state::precommitted:
      return "PRECOMMITTED";
    case txn_state::committed:
      return "COMMITTED";
    case txn_state::visible:
      return "VISIBLE";
    case txn_state::aborted:
      return "ABORTED";
  }
  return "UNKNOWN";
}

store::store(bool keep_rows, std::filesystem::path record_dir)
    : keep_rows_(keep_rows), record_dir_(std::move(record_dir)) {}

void store::arm(fault_spec spec) {
  std::lock_guard lock(m_);
  std::erase_if(faults_, [&](const fault_spec& f) { return f.kind == spec.kind; });
  if (spec.count > 0) faults_.push_back(std::move(spec));
}

void store::clear_faults() {
  std::lock_guard lock(m_);
  faults_.clear();
}

std::optional<fault_spec> store::take(fault kind) {
  std::lock_guard lock(m_);
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->kind != kind) continue;
    fault_spec out = *it;
    if (--it->count <= 0) faults_.erase(it);
    return out;
  }
  return std::nullopt;
}

void store::set_table(const std::string& db, const std::string& table, table_schema schema) {
  std::lock_guard lock(m_);
  tables_[{db, table}].schema = std::move(schema);
}

std::optional<table_schema> store::schema(const std::string& db, const std::string& table) const {
  std::lock_guard lock(m_);
  auto it = tables_.find({db, table});
  if (it == tables_.end()) return std::nullopt;
  return it->second.schema;
}

std::vector<row> store::rows(const std::string& db, const std::string& table) const {
  std::lock_guard lock(m_);
  auto it = tables_.find({db, table});
  if (it == tables_.end()) return {};
  return it->second.rows;
}

store::begin_result store::begin(const std::string& db, const std::string& table,
                                 const std::string& label, bool two_phase) {
  std::lock_guard lock(m_);
  begin_result out;
  auto it = labels_.find({db, label});
  if (it != labels_.end() && it->second.state != txn_state::aborted) {
    out.exists = true;
    out.existing_txn_id = it->second.txn_id;
    bool finished =
        it->second.state == txn_state::committed || it->second.state == txn_state::visible;
    bool running_fault = false;
    if (finished) {
      auto f = std::find_if(faults_.begin(), faults_.end(),
                            [](const fault_spec& s) { return s.kind == fault::label_running; });
      if (f != faults_.end()) {
        running_fault = true;
        if (--f->count <= 0) faults_.erase(f);
      }
    }
    out.existing_status = finished && !running_fault ? "FINISHED" : "RUNNING";
    return out;
  }
  std::int64_t id = next_txn_++;
  labels_[{db, label}] = label_info{db, table, label, id, txn_state::prepare, two_phase};
  txns_[id] = txn{{db, label}, {}};
  out.txn_id = id;
  return out;
}

void store::publish_locked(const label_info& info, std::vector<row>&& rows, bool deletes) {
  table_data& t = tables_[{info.db, info.table}];
  const bool keyed = t.schema.model == keys_type::unique && t.schema.key_count > 0;
  if (!keep_rows_ && !keyed) {
    write_record_locked(info, rows, false);
    return;
  }
  if (!keyed) {
    write_record_locked(info, rows, false);
    for (row& r : rows)
      t.rows.push_back(std::move(r));
    return;
  }
  // Unique Key: the last row of a key wins; DELETE removes the key. Rows keep their place.
  const std::size_t n = t.schema.key_count;
  auto same_key = [n](const row& a, const row& b) {
    return a.size() >= n && b.size() >= n && std::equal(a.begin(), a.begin() + n, b.begin());
  };
  for (row& r : rows) {
    auto it =
        std::find_if(t.rows.begin(), t.rows.end(), [&](const row& o) { return same_key(o, r); });
    if (deletes) {
      if (it != t.rows.end()) t.rows.erase(it);
    } else if (it != t.rows.end()) {
      *it = std::move(r);
    } else {
      t.rows.push_back(std::move(r));
    }
  }
  write_record_locked(info, t.rows, true);
}

void store::write_record_locked(const label_info& info, const std::vector<row>& rows, bool whole) {
  if (record_dir_.empty()) return;
  std::string name = file_part(info.db) + "." + file_part(info.table) + ".tsv";
  bool first = record_files_started_.insert(name).second;
  std::ofstream out(record_dir_ / name, first || whole ? std::ios::trunc : std::ios::app);
  for (const row& r : rows)
    out << record_line(r);
}

void store::finish(std::int64_t txn_id, txn_state final_state, std::vector<row> rows,
                   bool deletes) {
  std::lock_guard lock(m_);
  auto it = txns_.find(txn_id);
  if (it == txns_.end()) return;
  label_info& info = labels_[it->second.label_key];
  info.state = final_state;
  if (final_state == txn_state::visible || final_state == txn_state::committed) {
    publish_locked(info, std::move(rows), deletes);
    txns_.erase(it);
  } else if (final_state == txn_state::precommitted) {
    it->second.pending = std::move(rows);
    it->second.deletes = deletes;
  } else {
    txns_.erase(it);
  }
}

store::two_phase_result store::two_phase(const std::string& db, std::optional<std::int64_t> txn_id,
                                         const std::string& label, bool commit) {
  std::lock_guard lock(m_);
  label_info* info = nullptr;
  if (txn_id) {
    for (auto& [k, v] : labels_) {
      if (k.first == db && v.txn_id == *txn_id) info = &v;
    }
  } else {
    auto it = labels_.find({db, label});
    if (it != labels_.end()) info = &it->second;
  }
  two_phase_result out;
  if (info == nullptr) {
    out.message = txn_id ? "errCode = 2, detailMessage = transaction [" + std::to_string(*txn_id) +
                               "] not found"
                         : "errCode = 2, detailMessage = label [" + label + "] not found";
    return out;
  }
  out.txn_id = info->txn_id;
  std::string id = std::to_string(info->txn_id);
  if (info->state != txn_state::precommitted) {
    std::string state(txn_state_name(info->state));
    out.message = "errCode = 2, detailMessage = transaction [" + id + "] is already " +
                  to_lower(state) + ", not pre-committed.";
    return out;
  }
  auto it = txns_.find(info->txn_id);
  std::vector<row> pending;
  bool deletes = false;
  if (it != txns_.end()) {
    pending = std::move(it->second.pending);
    deletes = it->second.deletes;
    txns_.erase(it);
  }
  if (commit) {
    info->state = txn_state::visible;
    publish_locked(*info, std::move(pending), deletes);
  } else {
    info->state = txn_state::aborted;
  }
  out.ok = true;
  out.message = "transaction [" + id + "] " + (commit ? "commit" : "abort") + " successfully.";
  return out;
}

std::optional<label_info> store::label(const std::string& db, const std::string& label) const {
  std::lock_guard lock(m_);
  auto it = labels_.find({db, label});
  if (it == labels_.end()) return std::nullopt;
  return it->second;
}

std::int64_t store::next_txn_id() {
  std::lock_guard lock(m_);
  return next_txn_++;
}

std::string store::add_error_log(std::string content) {
  std::lock_guard lock(m_);
  // Shaped like a BE's own names: __shard_N/error_log_insert_stmt_<load id>.
  std::uint64_t n = next_error_log_++;
  std::string file = "__shard_" + std::to_string(n % 8) + "/error_log_insert_stmt_" +
                     std::to_string(0x4d1e0000 + n) + "-" + std::to_string(n);
  error_logs_[file] = std::move(content);
  return file;
}

std::optional<std::string> store::error_log(const std::string& file) const {
  std::lock_guard lock(m_);
  auto it = error_logs_.find(file);
  if (it == error_logs_.end()) return std::nullopt;
  return it->second;
}

void store::log(request_record r) {
  {
    std::lock_guard lock(m_);
    requests_.push_back(std::move(r));
  }
  cv_.notify_all();
}

std::vector<request_record> store::requests() const {
  std::lock_guard lock(m_);
  return requests_;
}

bool store::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(m_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void store::hold(const std::string& label, std::chrono::milliseconds d) {
  std::unique_lock lock(m_);
  auto it = held_.insert(label);
  const std::uint64_t releases = releases_;
  cv_.notify_all();
  cv_.wait_for(lock, d, [&] { return releases_ != releases; });
  held_.erase(it);
}

void store::release_holds() {
  {
    std::lock_guard lock(m_);
    ++releases_;
  }
  cv_.notify_all();
}

std::vector<std::string> store::held() const {
  std::lock_guard lock(m_);
  return {held_.begin(), held_.end()};
}

bool store::wait_until_held(const std::string& label, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(m_);
  return cv_.wait_for(lock, timeout, [&] { return held_.count(label) > 0; });
}

}  // namespace uringmig::test::doris_double
