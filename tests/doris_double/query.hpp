#pragma once

// The FE's statement execution (`POST /api/query/{ns}/{db}`, StmtExecutionAction) for the one
// kind of statement a client of the double sends: a SELECT of columns from one table with
// comparisons joined by AND. Pure: reads the store's rows.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/doris_double/store.hpp"

namespace uringmig::test::doris_double {

struct query_result {
  std::optional<std::string> error;  // Doris-worded; the answer is then code 1
  std::vector<std::string> names;
  std::vector<std::string> types;
  std::vector<row> rows;
};

/// `SELECT a, `b c` FROM [db.]t [WHERE x >= 1 AND y < 'k' AND z = 3]`: identifiers bare or in
/// backquotes, literals integers or single-quoted strings; integers compare as numbers, other
/// values as bytes. At most `limit` rows.
query_result run_select(const store& st, const std::string& db, std::string_view stmt,
                        std::uint64_t limit);

/// The answer's `data` member: {"type":"result_set","meta":[...],"data":[[...]],...}; values of
/// integer columns as JSON numbers, others as strings, NULL as null.
std::string result_set_json(const query_result& r);

}  // namespace uringmig::test::doris_double
