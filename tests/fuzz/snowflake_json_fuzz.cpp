// libFuzzer harness for the jsonv2 result decoder (codecs/snowflake_json.hpp). Every input is
// decoded as a partition-0 body (columns from its own rowType) and as a later partition of a
// table with one column of every type, once whole and once split into pieces whose sizes come
// from the input's first byte. Checks beyond "no crash": both ways agree on success, output and
// error; a success's COPY text has one line per row.

#include "codecs/snowflake_json.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace sf = uringmig::codecs::snowflake;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

std::vector<sf::column> every_type() {
  std::vector<sf::column> cols;
  for (const char* t : {"fixed", "real", "text", "boolean", "date", "time", "timestamp_ntz",
                        "timestamp_ltz", "timestamp_tz", "binary", "variant", "geography"}) {
    sf::column c;
    c.name = t;
    c.type_name = t;
    c.type = sf::parse_type(t);
    c.precision = 18;
    c.scale = 0;
    cols.push_back(c);
  }
  return cols;
}

void one_way(std::string_view body, const std::vector<sf::column>* cols, std::size_t piece) {
  const sf::decoded_result whole = sf::decode_jsonv2(body, cols);
  sf::jsonv2_decoder d = cols != nullptr ? sf::jsonv2_decoder(*cols) : sf::jsonv2_decoder();
  std::string out;
  bool ok = true;
  for (std::size_t i = 0; ok && i < body.size(); i += piece)
    ok = d.feed(body.substr(i, piece), out);
  ok = ok && d.finish(out);
  require(ok == whole.ok());
  if (ok) {
    require(out == whole.copy_text);
    require(std::count(out.begin(), out.end(), '\n') == whole.rows);
  } else {
    require(!d.error().empty());
    require(d.error() == whole.error);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 37;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const std::vector<sf::column> cols = every_type();
  one_way(body, nullptr, piece);
  one_way(body, &cols, piece);
  return 0;
}
