#pragma once

// The SQL the Snowflake double understands, and the jsonv2 bodies it answers with. Pure: no
// sockets. See README.md ("SQL") for the exact grammar.

#include "codecs/snowflake_types.hpp"

#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::test::snowflake_double {

namespace sf = uringmig::codecs::snowflake;

/// A row as the SQL API sends it: one jsonv2 text per column, nullopt for NULL.
using row = std::vector<std::optional<std::string>>;

struct table {
  std::vector<sf::column> columns;  // name, type, precision/scale/length
  std::vector<row> rows;
};

/// Tables by name as Snowflake resolves them: unquoted names upper case.
using catalog = std::map<std::string, table>;

/// A statement's outcome: columns and rows, or a SQL error (HTTP 422).
struct select_result {
  std::string table;  // the table read
  std::vector<sf::column> columns;
  std::vector<row> rows;
  std::string sql_state;  // set: the statement failed
  std::string code;
  std::string message;
  bool failed() const { return !sql_state.empty(); }
};

/// Parses and runs one SELECT (README.md, "SQL").
select_result run_select(std::string_view sql, const catalog& tables);

/// `data` of one partition: `[["v",null,...],...]`.
std::string data_json(const std::vector<row>& rows, std::size_t from, std::size_t to);

/// One `rowType` entry for a column.
std::string row_type_json(const sf::column& c, std::string_view table);

/// A generated table of `n` rows with ten columns of the common types (ID, NAME, AMOUNT,
/// RATIO, ACTIVE, BORN, "Updated At" (TIMESTAMP_NTZ(9)), SEEN_TZ, PAYLOAD (BINARY), ATTRS
/// (VARIANT)); row i's "Updated At" is 1700000000 + i seconds plus i nanoseconds.
table generated_table(std::size_t n);

/// A table from a data file: a header line of tab-separated column specs `NAME:type` or
/// `NAME:type(a[,b])` (fixed(precision,scale), text(length), binary(length), time(scale),
/// timestamp_*(scale); `"Quoted Name":type` keeps case and spaces), then one line per row of
/// tab-separated jsonv2 texts, `\N` for NULL; lines starting with `#` are skipped. Throws
/// std::runtime_error naming the line.
table load_table(std::istream& in);

}  // namespace uringmig::test::snowflake_double
