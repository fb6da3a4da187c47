#include "tests/doris_double/stream_load.hpp"

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace uringmig::test::doris_double {

namespace {

constexpr std::uint64_t max_body_bytes = 10240ULL * 1024 * 1024;  // streaming_load_max_mb

std::string show(std::string_view sep) {
  std::string out;
  for (char c : sep) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// `columns: a, b, c = concat(a, b)` -> {"a", "b"}: only entries without `=` are file columns.
std::vector<std::string> file_columns(std::string_view spec) {
  std::vector<std::string> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= spec.size(); ++i) {
    char c = i < spec.size() ? spec[i] : ',';
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c != ',' || depth > 0) continue;
    std::string_view item = trim(spec.substr(start, i - start));
    start = i + 1;
    if (item.empty() || item.find('=') != std::string_view::npos) continue;
    if (item.size() >= 2 && item.front() == '`' && item.back() == '`') {
      item = item.substr(1, item.size() - 2);
    }
    out.emplace_back(item);
  }
  return out;
}

const field* member(const json_members& m, std::string_view name) {
  for (const auto& [k, v] : m) {
    if (k == name) return &v;
  }
  for (const auto& [k, v] : m) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

constexpr std::string_view injected_reason =
    "Reason: filtered by the double's filtered_rows fault.";

}  // namespace

std::string load_response::to_json() const {
  std::vector<std::pair<std::string_view, std::string>> kv;
  auto num = [](auto v) { return std::to_string(v); };
  kv.emplace_back("TxnId", num(txn_id));
  kv.emplace_back("Label", json_quote(label));
  kv.emplace_back("Comment", json_quote(comment));
  if (group_commit) {
    kv.emplace_back("GroupCommit", "true");
  } else {
    kv.emplace_back("TwoPhaseCommit", json_quote(two_phase ? "true" : "false"));
  }
  kv.emplace_back("Status", json_quote(status));
  if (status == "Label Already Exists") {
    kv.emplace_back("ExistingJobStatus", json_quote(existing_job_status));
  }
  kv.emplace_back("Message", json_quote(message));
  kv.emplace_back("NumberTotalRows", num(total_rows));
  kv.emplace_back("NumberLoadedRows", num(loaded_rows));
  kv.emplace_back("NumberFilteredRows", num(filtered_rows));
  kv.emplace_back("NumberUnselectedRows", num(unselected_rows));
  kv.emplace_back("LoadBytes", num(load_bytes));
  kv.emplace_back("LoadTimeMs", num(load_time_ms));
  if (!group_commit) kv.emplace_back("BeginTxnTimeMs", num(begin_txn_time_ms));
  kv.emplace_back("StreamLoadPutTimeMs", num(stream_load_put_time_ms));
  kv.emplace_back("ReadDataTimeMs", num(read_data_time_ms));
  kv.emplace_back("WriteDataTimeMs", num(write_data_time_ms));
  if (!group_commit) kv.emplace_back("CommitAndPublishTimeMs", num(commit_and_publish_time_ms));
  if (!error_url.empty()) kv.emplace_back("ErrorURL", json_quote(error_url));
  std::string out = "{\n";
  for (std::size_t i = 0; i < kv.size(); ++i) {
    out += "    \"";
    out += kv[i].first;
    out += "\": ";
    out += kv[i].second;
    out += i + 1 < kv.size() ? ",\n" : "\n";
  }
  out += "}\n";
  return out;
}

header_verdict read_load_headers(const request_head& req) {
  header_verdict v;
  load_params& p = v.params;
  auto refuse = [&](std::string msg) {
    if (!v.error) v.error = std::move(msg);
  };
  p.label = req.get("label");

  std::string format = to_lower(req.get("format"));
  if (format.empty() || format == "csv") {
    p.format = data_format::csv;
  } else if (format == "csv_with_names" || format == "csv_with_names_and_types") {
    p.format = data_format::csv;
    p.csv.skip_lines = format == "csv_with_names" ? 1 : 2;
  } else if (format == "json") {
    p.format = data_format::json;
  } else if (format == "parquet" || format == "orc" || format == "arrow") {
    refuse("[NOT_IMPLEMENTED_ERROR]format " + format +
           " is not supported by the Stream Load double");
  } else {
    refuse("[INVALID_ARGUMENT]unknown data format, format=" + req.get("format"));
  }

  std::string compress = to_lower(req.get("compress_type"));
  if (compress == "gz" || compress == "gzip" || compress == "deflate") {
    p.compressed = true;
  } else if (compress == "lz4") {  // Doris: the LZ4 frame format (LZ4_BLOCK is raw blocks)
    p.lz4 = true;
  } else if (!compress.empty()) {
    refuse("[NOT_IMPLEMENTED_ERROR]compress_type " + compress +
           " is not supported by the Stream Load double (gz, deflate and lz4 are)");
  }

  if (req.has("column_separator")) {
    std::string sep = decode_separator(req.get("column_separator"));
    if (!sep.empty()) p.csv.column_separator = sep;
  }
  if (req.has("line_delimiter")) {
    std::string eol = decode_separator(req.get("line_delimiter"));
    if (!eol.empty()) p.csv.line_delimiter = eol;
  }
  for (auto [name, target] : {std::pair{"enclose", &p.csv.enclose}, {"escape", &p.csv.escape}}) {
    std::string value = decode_separator(req.get(name));
    if (value.size() > 1) refuse(std::string("[INVALID_ARGUMENT]") + name + " must be single-char");
    if (!value.empty()) *target = value[0];
  }
  p.json.read_json_by_line = iequals(req.get("read_json_by_line"), "true");
  p.json.strip_outer_array = iequals(req.get("strip_outer_array"), "true");
  p.columns = file_columns(req.get("columns"));

  if (req.has("max_filter_ratio")) {
    std::string text = req.get("max_filter_ratio");
    char* end = nullptr;
    errno = 0;
    double ratio = std::strtod(text.c_str(), &end);
    if (text.empty() || errno != 0 || end != text.c_str() + text.size() || ratio < 0 || ratio > 1) {
      refuse("[INVALID_ARGUMENT]Invalid max_filter_ratio: " + text);
    } else {
      p.max_filter_ratio = ratio;
    }
  }
  p.two_phase = iequals(req.get("two_phase_commit"), "true");
  // APPEND (default) or DELETE; MERGE (with a `delete` condition) is not imitated.
  if (std::string merge = to_lower(req.get("merge_type")); merge == "delete") {
    p.deletes = true;
  } else if (merge == "merge") {
    refuse("[NOT_IMPLEMENTED_ERROR]the test double does not imitate merge_type MERGE");
  } else if (!merge.empty() && merge != "append") {
    refuse("[INVALID_ARGUMENT]Invalid merge type: " + req.get("merge_type"));
  }
  std::string group = to_lower(req.get("group_commit"));
  if (group == "async_mode" || group == "sync_mode") {
    p.group_commit = true;
  } else if (!group.empty() && group != "off_mode") {
    refuse("[INVALID_ARGUMENT]group_commit can only be [async_mode, sync_mode, off_mode]");
  }
  if (p.group_commit && !p.label.empty()) {
    refuse("[INVALID_ARGUMENT]label and group_commit can't be set at the same time");
  }
  if (p.group_commit && p.two_phase) {
    refuse("[INVALID_ARGUMENT]group commit can not be used with two phase commit");
  }

  std::string length = req.get("Content-Length");
  std::string te = req.get("Transfer-Encoding");
  p.framing.chunked = !te.empty() && to_lower(te).find("chunked") != std::string::npos;
  if (length.empty() && !p.framing.chunked) {
    refuse(
        "[INVALID_ARGUMENT]content_length is empty and transfer-encoding!=chunked, please set "
        "content_length or transfer-encoding=chunked");
  } else if (!length.empty() && p.framing.chunked) {
    refuse("[INVALID_ARGUMENT]please do not set both content_length and transfer-encoding");
  } else if (!length.empty()) {
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(length.c_str(), &end, 10);
    if (errno != 0 || end != length.c_str() + length.size() || length[0] == '-') {
      refuse("[INVALID_ARGUMENT]invalid Content-Length: " + length);
    } else if (n > max_body_bytes) {
      refuse("[INTERNAL_ERROR]body exceed max size: " + std::to_string(max_body_bytes) +
             ", data: " + std::to_string(n));
    } else {
      p.framing.length = n;
    }
  }
  p.has_body = p.framing.chunked || p.framing.length > 0;
  return v;
}

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 128) return false;
  for (char c : label) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == ':';
    if (!ok) return false;
  }
  return true;
}

body_verdict evaluate_body(std::string_view body, const load_params& params,
                           const std::optional<table_schema>& schema,
                           std::uint64_t injected_filtered) {
  body_verdict v;
  const std::size_t table_columns = schema ? schema->column_count : 0;
  auto filter = [&](std::string_view reason, std::string_view raw) {
    ++v.filtered;
    v.error_log += reason;
    v.error_log += " src line [";
    v.error_log += raw;
    v.error_log += "]; \n";
  };
  auto injected = [&](std::string_view raw) {
    if (injected_filtered == 0) return false;
    --injected_filtered;
    filter(injected_reason, raw);
    return true;
  };

  if (params.format == data_format::csv) {
    const std::size_t expected = !params.columns.empty() ? params.columns.size() : table_columns;
    parse_csv(body, params.csv, [&](std::string_view raw, row&& fields) {
      ++v.total;
      if (injected(raw)) return;
      if (expected != 0 && fields.size() != expected) {
        std::string reason = "Reason: actual column number in csv file is ";
        reason += fields.size() < expected ? " less than " : " more than ";
        reason += " schema column number.actual number: " + std::to_string(fields.size()) +
                  ", column separator: [" + show(params.csv.column_separator) +
                  "], line delimiter: [" + show(params.csv.line_delimiter) +
                  "], schema column number: " + std::to_string(expected) + "; .";
        filter(reason, raw);
        return;
      }
      ++v.loaded;
      v.rows.push_back(std::move(fields));
    });
    return v;
  }

  std::vector<std::string> names = params.columns;
  if (names.empty() && schema) names = schema->names;
  v.fail = parse_json_records(
      body, params.json, [&](std::string_view raw, std::optional<json_members>&& members) {
        ++v.total;
        if (injected(raw)) return;
        if (!members) {
          filter("Reason: Parse json data for JsonDoc failed. code: 3, error info: Invalid value..",
                 raw);
          return;
        }
        row fields;
        if (!names.empty()) {
          for (const std::string& name : names) {
            const field* f = member(*members, name);
            fields.push_back(f == nullptr ? field() : *f);
          }
        } else {
          for (auto& [k, value] : *members)
            fields.push_back(std::move(value));
          if (table_columns != 0 && fields.size() != table_columns) {
            filter("Reason: the number of members (" + std::to_string(fields.size()) +
                       ") does not match the schema column number (" +
                       std::to_string(table_columns) + ").",
                   raw);
            return;
          }
        }
        ++v.loaded;
        v.rows.push_back(std::move(fields));
      });
  return v;
}

body_verdict evaluate_counted(std::uint64_t lines, std::uint64_t injected_filtered) {
  body_verdict v;
  v.total = lines;
  v.filtered = injected_filtered < lines ? injected_filtered : lines;
  v.loaded = lines - v.filtered;
  for (std::uint64_t i = 0; i < v.filtered; ++i) {
    v.error_log += std::string(injected_reason) + " src line [line " + std::to_string(i + 1) +
                   ", not kept in discard mode]; \n";
  }
  return v;
}

bool too_many_filtered(const body_verdict& v, double max_filter_ratio) {
  if (v.filtered == 0 || v.total == 0) return false;
  return static_cast<double>(v.filtered) / static_cast<double>(v.total) > max_filter_ratio;
}

}  // namespace uringmig::test::doris_double
