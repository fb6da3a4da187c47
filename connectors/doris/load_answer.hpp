#pragma once

// Doris's JSON answers, read into one struct. Pure: no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace uringmig::connectors::doris {

/// Which answer it was.
enum class answer_shape {
  load,        // a Stream Load result: {"TxnId":..,"Label":..,"Status":..,"Message":..,...}
  status_msg,  // {"status":"FAILED","msg":..} (FE errors) or a 2PC answer {"status":"Success",..}
  code_msg,    // {"msg":"Unauthorized","code":401,"data":..,"count":0} (FE result entity)
  unknown,     // an object with none of those members
};

struct load_answer {
  answer_shape shape = answer_shape::unknown;
  /// `Status` of a load, `status` of the FE/2PC shape, `msg` of a code_msg.
  std::string status;
  /// `Message` of a load, `msg` otherwise.
  std::string message;
  // A Stream Load result.
  std::int64_t txn_id = -1;
  std::string label;
  std::string comment;
  bool two_phase_commit = false;    // "TwoPhaseCommit": "true"
  bool group_commit = false;        // "GroupCommit": true
  std::string existing_job_status;  // RUNNING | FINISHED, with Label Already Exists
  std::uint64_t number_total_rows = 0;
  std::uint64_t number_loaded_rows = 0;
  std::uint64_t number_filtered_rows = 0;
  std::uint64_t number_unselected_rows = 0;
  std::uint64_t load_bytes = 0;
  std::int64_t load_time_ms = 0;
  std::string error_url;  // set when rows were filtered
  // The FE's result entity.
  std::optional<std::int64_t> code;
  std::string data;

  /// Success or Publish Timeout (committed; visible soon): do not retry.
  bool committed() const;
  /// Label Already Exists and the job FINISHED: an earlier attempt loaded it.
  bool already_loaded() const;
  /// Label Already Exists and the job RUNNING: ask again later, same label.
  bool label_running() const;
  bool unauthorized() const;
  /// A failure Doris lifts by itself (-235 too many versions, too many
  /// running transactions) or a running label: retry later with the same label.
  bool transient() const;
  /// A 2PC answer that succeeded.
  bool two_phase_ok() const { return shape == answer_shape::status_msg && status == "Success"; }
  /// One line for messages: status and message.
  std::string summary() const;
};

struct load_answer_result {
  std::optional<load_answer> value;
  std::string error;
  explicit operator bool() const noexcept { return value.has_value(); }
};

/// Reads any answer shape above; an error when the body is not a JSON object
/// or a known member has the wrong type.
load_answer_result parse_load_answer(std::string_view body);

}  // namespace uringmig::connectors::doris
