#pragma once

// A Stream Load as the BE decides it, without I/O: which headers mean what,
// what the body holds, and the JSON answer in Doris's words and key order.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/doris_double/http.hpp"
#include "tests/doris_double/load_format.hpp"
#include "tests/doris_double/store.hpp"

namespace uringmig::test::doris_double {

/// The BE's answer. to_json() writes it the way rapidjson's PrettyWriter does
/// in StreamLoadContext::to_json, plus the trailing newline the BE adds.
struct load_response {
  std::int64_t txn_id = -1;
  std::string label;
  std::string comment;
  bool two_phase = false;
  bool group_commit = false;
  std::string status = "Success";   // Success | Publish Timeout | Label Already Exists | Fail
  std::string existing_job_status;  // with Label Already Exists: RUNNING | FINISHED
  std::string message = "OK";
  std::uint64_t total_rows = 0;
  std::uint64_t loaded_rows = 0;
  std::uint64_t filtered_rows = 0;
  std::uint64_t unselected_rows = 0;
  std::uint64_t load_bytes = 0;
  std::int64_t load_time_ms = 0;
  std::int64_t begin_txn_time_ms = 0;
  std::int64_t stream_load_put_time_ms = 0;
  std::int64_t read_data_time_ms = 0;
  std::int64_t write_data_time_ms = 0;
  std::int64_t commit_and_publish_time_ms = 0;
  std::string error_url;  // only written when not empty

  std::string to_json() const;
  void fail(std::string msg) {
    status = "Fail";
    message = std::move(msg);
  }
};

enum class data_format { csv, json };

/// What the request headers ask for.
struct load_params {
  std::string label;  // as given; empty when none
  data_format format = data_format::csv;
  csv_options csv;
  json_options json;
  std::vector<std::string> columns;  // `columns` entries that are file columns (no `=`)
  double max_filter_ratio = 0;
  bool two_phase = false;
  bool group_commit = false;
  bool deletes = false;     // merge_type: DELETE (Unique Key tables only)
  bool compressed = false;  // gz / deflate: inflated before parsing
  bool lz4 = false;         // lz4: LZ4 frames, decoded before parsing
  body_framing framing;
  bool has_body = false;  // Content-Length > 0 or chunked
};

/// The headers read as a BE reads them before it begins the transaction.
/// `error` is the Fail message when the BE would refuse the request.
struct header_verdict {
  load_params params;
  std::optional<std::string> error;
};
header_verdict read_load_headers(const request_head& req);

/// `^[-_A-Za-z0-9:]{1,128}$`, as the FE checks a label.
bool valid_label(std::string_view label);

/// What a body amounts to.
struct body_verdict {
  std::uint64_t total = 0;
  std::uint64_t loaded = 0;
  std::uint64_t filtered = 0;
  std::vector<row> rows;            // the loaded rows, in file order
  std::string error_log;            // one line per filtered row
  std::optional<std::string> fail;  // the whole body was refused
};

/// Parses `body` (already inflated). The first `injected_filtered` rows count
/// as filtered whatever they hold (the filtered_rows fault).
body_verdict evaluate_body(std::string_view body, const load_params& params,
                           const std::optional<table_schema>& schema,
                           std::uint64_t injected_filtered);
/// The discard mode's verdict: `lines` rows, nothing kept.
body_verdict evaluate_counted(std::uint64_t lines, std::uint64_t injected_filtered);

/// Doris's rule: fail when filtered / total exceeds max_filter_ratio.
bool too_many_filtered(const body_verdict& v, double max_filter_ratio);

/// Messages in the words of Doris 2.x.
namespace messages {
inline constexpr std::string_view too_many_filtered = "[DATA_QUALITY_ERROR]too many filtered rows";
inline constexpr std::string_view too_many_versions =
    "[INTERNAL_ERROR]cancelled: [E-235]failed to init rowset builder. version count: 2001, "
    "exceed limit: 2000, tablet: 10086";
inline constexpr std::string_view too_many_txns =
    "[ANALYSIS_ERROR]TStatus: errCode = 2, detailMessage = current running txns on db 10002 is "
    "100, larger than limit 100";
inline constexpr std::string_view publish_timeout =
    "[PUBLISH_TIMEOUT]transaction commit successfully, BUT data will be visible later";
inline constexpr std::string_view no_auth = "[INTERNAL_ERROR]no valid Basic authorization";
}  // namespace messages

}  // namespace uringmig::test::doris_double
