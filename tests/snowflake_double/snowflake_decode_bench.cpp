// `snowflake_decode_bench [rows]`: CPU time of the jsonv2 decode + COPY text encode
// (codecs/snowflake_json) per million rows of the double's ten-column table, fed in 1 MiB slices
// as the connector feeds it. No network: the body is rendered by the double's writer first.

#include "codecs/snowflake_json.hpp"
#include "tests/snowflake_double/sql.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace sd = uringmig::test::snowflake_double;
namespace sf = uringmig::codecs::snowflake;

int main(int argc, char** argv) {
  const std::size_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const sd::table t = sd::generated_table(rows);
  std::string body = "{\"resultSetMetaData\":{\"format\":\"jsonv2\",\"rowType\":[";
  for (std::size_t i = 0; i < t.columns.size(); ++i)
    body += (i > 0 ? "," : "") + sd::row_type_json(t.columns[i], "T");
  body += "]},\"data\":" + sd::data_json(t.rows, 0, t.rows.size()) + "}";
  const std::size_t slice = std::size_t{1} << 20;
  double best = 1e9;
  std::size_t copy_bytes = 0;
  for (int run = 0; run < 3; ++run) {
    const std::clock_t c0 = std::clock();
    sf::jsonv2_decoder d;
    std::string out;
    copy_bytes = 0;
    for (std::size_t off = 0; off < body.size(); off += slice) {
      if (!d.feed(std::string_view(body).substr(off, slice), out)) {
        std::fprintf(stderr, "decode failed: %s\n", d.error().c_str());
        return 1;
      }
      copy_bytes += out.size();
      out.clear();  // handed to the sink
    }
    if (!d.finish(out) || d.rows() != static_cast<std::int64_t>(rows)) {
      std::fprintf(stderr, "decode failed: %s\n", d.error().c_str());
      return 1;
    }
    copy_bytes += out.size();
    const double s = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    best = s < best ? s : best;
  }
  std::printf(
      "rows=%zu columns=%zu jsonv2_bytes=%zu copy_bytes=%zu cpu_s=%.3f "
      "cpu_s_per_million_rows=%.3f MB/s=%.0f\n",
      rows, t.columns.size(), body.size(), copy_bytes, best, best * 1e6 / static_cast<double>(rows),
      body.size() / best / 1e6);
  return 0;
}
