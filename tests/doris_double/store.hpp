#pragma once

// Everything the double remembers, behind one mutex: the label/transaction
// table, table schemas, committed rows, error logs, armed faults and the log
// of requests it answered.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/doris_double/http.hpp"
#include "tests/doris_double/load_format.hpp"

namespace uringmig::test::doris_double {

enum class node { fe, be };

/// Switchable misbehaviour. Each armed fault fires for the next `count`
/// requests it applies to (see README.md for which requests those are).
enum class fault {
  reset_mid_body,         // BE: RST after `bytes` body bytes; the load is aborted
  reset_before_response,  // BE: the load commits, then RST instead of the answer
  slow_continue,          // BE: `100 Continue` only after `delay_ms`
  too_many_versions,      // BE: body read, then Fail "[E-235]..."; label reusable
  too_many_txns,          // BE: begin fails "current running txns ..."; no 100 Continue
  publish_timeout,        // BE: Status "Publish Timeout"; the rows are committed
  filtered_rows,          // BE: the first `rows` rows count as filtered (ErrorURL)
  label_running,          // BE: a finished label answers ExistingJobStatus RUNNING
  fe_error_body,          // FE: HTTP 200 {"status":"FAILED","msg":...} instead of the 307
  fe_unauthorized,        // FE: HTTP 200 {"msg":"Unauthorized","code":401,...}
  http_401,               // FE or BE: a bare HTTP 401 with WWW-Authenticate
  hold,                   // BE: after `bytes` body bytes (0: the whole body) the load stops for
                          // `delay_ms`, its transaction still running; then it goes on
};
std::optional<fault> fault_from_name(std::string_view name);
std::string_view fault_name(fault f);

struct fault_spec {
  fault kind = fault::reset_mid_body;
  int count = 1;
  std::uint64_t bytes = 0;  // reset_mid_body, hold
  int delay_ms = 0;         // slow_continue, hold
  std::uint64_t rows = 1;   // filtered_rows
  std::string message;      // too_many_versions, too_many_txns, fe_error_body: replaces the default
};

/// A spec for `kind` firing `count` times; set the other fields as needed.
inline fault_spec make_fault(fault kind, int count = 1) {
  fault_spec s;
  s.kind = kind;
  s.count = count;
  return s;
}

enum class txn_state { prepare, precommitted, committed, visible, aborted };
/// Doris's names: PREPARE, PRECOMMITTED, COMMITTED, VISIBLE, ABORTED.
std::string_view txn_state_name(txn_state s);

struct label_info {
  std::string db;
  std::string table;
  std::string label;
  std::int64_t txn_id = -1;
  txn_state state = txn_state::prepare;
  bool two_phase = false;
};

/// One answered request, as the double saw it.
struct request_record {
  node where = node::be;
  std::string method;
  std::string target;
  std::vector<header> headers;   // as received, in order
  std::string label;             // the label header, or the one the double generated
  bool expect_continue = false;  // the client sent `Expect: 100-continue`
  bool sent_continue = false;    // the double answered `100 Continue`
  bool chunked = false;
  std::uint64_t body_bytes = 0;  // body bytes received (before decompression)
  int http_status = 0;           // 0 when the connection was reset instead
  std::string load_status;       // Status of a stream load answer, "" otherwise
  std::string response_body;
  bool reset = false;  // the double reset the connection
};

/// Doris's data models, as `keysType` names them (FE TableSchemaAction).
enum class keys_type { duplicate, unique, aggregate };
std::string_view keys_type_name(keys_type k);  // DUP_KEYS, UNIQUE_KEYS, AGG_KEYS

struct table_schema {
  table_schema() = default;
  table_schema(std::size_t count, std::vector<std::string> column_names)
      : column_count(count), names(std::move(column_names)) {}
  std::size_t column_count = 0;    // 0: any number of fields is accepted
  std::vector<std::string> names;  // optional; JSON members are taken in this order
  /// The data model. Unique Key: the first `key_count` of `names` are the key; a committed row
  /// replaces the row with the same key, and a `merge_type: DELETE` load removes it.
  keys_type model = keys_type::duplicate;
  std::size_t key_count = 0;
  /// Doris type names for `GET /api/{db}/{table}/_schema` (default VARCHAR).
  std::vector<std::string> types;
};

/// "unique:N", "aggregate:N", "duplicate[:N]" (N key columns, the first of `names`) into
/// `schema`; "" leaves it a Duplicate Key table. False when malformed.
bool read_model(std::string_view spec, table_schema& schema);

class store {
 public:
  /// `keep_rows`: remember committed rows in memory; `record_dir` (optional):
  /// also append them to `<db>.<table>.tsv` there (see record_line()).
  store(bool keep_rows, std::filesystem::path record_dir);

  void arm(fault_spec spec);
  void clear_faults();
  /// Consumes one firing of `kind` when armed.
  std::optional<fault_spec> take(fault kind);

  void set_table(const std::string& db, const std::string& table, table_schema schema);
  std::optional<table_schema> schema(const std::string& db, const std::string& table) const;
  std::vector<row> rows(const std::string& db, const std::string& table) const;

  struct begin_result {
    bool exists = false;
    std::int64_t txn_id = -1;
    std::string existing_status;  // RUNNING or FINISHED when exists
    std::int64_t existing_txn_id = -1;
  };
  /// Begins a transaction under `label`, unless the label is taken (an aborted
  /// label may be reused, as in Doris).
  begin_result begin(const std::string& db, const std::string& table, const std::string& label,
                     bool two_phase);
  /// Ends a running transaction: VISIBLE and COMMITTED publish `rows`,
  /// PRECOMMITTED keeps them for a 2PC commit, ABORTED drops them. `deletes`: the rows are
  /// keys to remove (merge_type DELETE on a Unique Key table).
  void finish(std::int64_t txn_id, txn_state final_state, std::vector<row> rows,
              bool deletes = false);

  struct two_phase_result {
    bool ok = false;
    std::int64_t txn_id = -1;
    std::string message;
  };
  /// `PUT /api/{db}/_stream_load_2pc`: commit or abort a PRECOMMITTED transaction.
  two_phase_result two_phase(const std::string& db, std::optional<std::int64_t> txn_id,
                             const std::string& label, bool commit);
  std::optional<label_info> label(const std::string& db, const std::string& label) const;
  std::int64_t next_txn_id();

  /// Keeps an error log; returns its file name for `/api/_load_error_log?file=`.
  std::string add_error_log(std::string content);
  std::optional<std::string> error_log(const std::string& file) const;

  /// The hold fault: `label` is held (its load paused, its transaction still running) until
  /// `d` passed or release_holds() is called.
  void hold(const std::string& label, std::chrono::milliseconds d);
  void release_holds();
  /// Labels of loads held right now.
  std::vector<std::string> held() const;
  /// Waits until `label` is held; false on timeout.
  bool wait_until_held(const std::string& label, std::chrono::milliseconds timeout) const;

  void log(request_record r);
  std::vector<request_record> requests() const;
  /// Waits until at least `n` requests were answered; false on timeout.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  using key = std::pair<std::string, std::string>;
  struct txn {
    key label_key;
    std::vector<row> pending;
    bool deletes = false;
  };
  struct table_data {
    table_schema schema;
    std::vector<row> rows;
  };
  void publish_locked(const label_info& info, std::vector<row>&& rows, bool deletes);
  /// Appends `rows` to the record file, or (`whole`) rewrites it with them.
  void write_record_locked(const label_info& info, const std::vector<row>& rows, bool whole);

  const bool keep_rows_;
  const std::filesystem::path record_dir_;
  mutable std::mutex m_;
  mutable std::condition_variable cv_;
  std::vector<fault_spec> faults_;
  std::map<key, table_data> tables_;
  std::map<key, label_info> labels_;
  std::map<std::int64_t, txn> txns_;
  std::set<std::string> record_files_started_;
  std::map<std::string, std::string> error_logs_;
  std::vector<request_record> requests_;
  std::multiset<std::string> held_;
  std::uint64_t releases_ = 0;
  std::int64_t next_txn_ = 1000;
  std::uint64_t next_error_log_ = 1;
};

}  // namespace uringmig::test::doris_double
