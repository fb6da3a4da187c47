// The `[[tables]]` entries of an incremental job, read from the flattened settings
// ("tables[0].source" -> "ANALYTICS.BI.DIMPAYER") into typed values. No I/O.
#pragma once

#include "engine/core/job.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::engine::incremental {

enum class load_mode { incremental, full };
enum class delete_mode { none, reconcile };
enum class error_mode { fail, reject };

/// A table name as written: dotted parts, each as written (quoted parts unquoted, exact case).
struct table_name {
  std::vector<std::string> parts;  // [database.]schema.table, or just table
  std::string written;             // for messages
  /// The last part: the table.
  const std::string& table() const { return parts.back(); }
  /// The part before the table, or `dflt`.
  std::string schema_or(std::string_view dflt) const;
};

/// Splits `A.B.C`, `"My Schema"."My Table"` (a "" inside quotes is one "); nullopt when empty,
/// a part is empty or a quote is not closed.
std::optional<table_name> parse_table_name(std::string_view text);

/// One `[[tables]]` entry.
struct table_entry {
  int index = 0;  // position in the file, for messages ("[[tables]] #2")
  table_name source;
  table_name target;
  std::string filter;  // a source-side SQL condition; "" for none
  std::vector<std::string> key;
  std::string watermark;         // source column; "" for none (then mode must be full)
  std::string target_watermark;  // "" : the same name
  std::string lookback = "0";    // judged against the watermark's type at plan time
  std::string chunk_by;          // "" : one chunk
  load_mode mode = load_mode::incremental;
  bool disable_indexes = false;
  delete_mode deletes = delete_mode::none;
  error_mode on_error = error_mode::fail;

  /// "[[tables]] #1 (public.orders)".
  std::string label() const;
};

/// The entries in file order; throws usage_error for a missing source/target/key, an entry
/// without a watermark in incremental mode, or a malformed name. Empty when there are none.
std::vector<table_entry> read_entries(const std::map<std::string, std::string>& settings);

/// The entries `patterns` (--tables globs over the target's and the source's names as written)
/// pick; all of them when `patterns` is empty. usage_error when a pattern picks none.
std::vector<table_entry> pick_entries(std::vector<table_entry> all,
                                      const std::vector<std::string>& patterns);

/// Whether the settings hold `[[tables]]` entries.
bool has_entries(const std::map<std::string, std::string>& settings);

}  // namespace uringmig::engine::incremental
