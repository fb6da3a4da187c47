#include "engine/core/planner.hpp"
#include "engine/core/settings.hpp"

#include "codecs/sql_text.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

namespace uringmig::engine {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace {

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) {
    const auto b = item.find_first_not_of(" \t\r");
    const auto e = item.find_last_not_of(" \t\r");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

/// Explicit ranges in key order. Together they must take every row: no overlap (rows twice), and
/// no gap or closed end (rows lost) unless `rest` asks for a chunk of what no range takes.
void order_ranges(std::vector<std::pair<std::string, std::string>>& ranges, const std::string& what,
                  bool rest) {
  const auto lo_of = [](const std::pair<std::string, std::string>& r) {
    return r.first.empty() ? std::numeric_limits<std::int64_t>::min() : *to_int(r.first);
  };
  std::sort(ranges.begin(), ranges.end(),
            [&](const auto& a, const auto& b) { return lo_of(a) < lo_of(b); });
  std::string hole;
  if (!ranges.front().first.empty()) hole = "keys below " + ranges.front().first;
  if (!ranges.back().second.empty()) hole = "keys from " + ranges.back().second;
  for (std::size_t i = 0; i + 1 < ranges.size(); ++i) {
    const auto& a = ranges[i];
    const auto& b = ranges[i + 1];
    if (a.second.empty() || lo_of(b) < *to_int(a.second))
      throw usage_error(what + ": ranges " + a.first + ".." + a.second + " and " + b.first + ".." +
                        b.second + " overlap: their rows would be copied twice");
    if (lo_of(b) > *to_int(a.second)) hole = "keys from " + a.second + " to " + b.first;
  }
  if (!hole.empty() && !rest)
    throw usage_error(what + ": no range takes the " + hole +
                      ": close the gap, or set rest = true for a chunk of the rows outside them");
}

std::string and_where(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return "(" + a + ") AND (" + b + ")";
}

planned_chunk range_chunk(int no, chunk_kind kind, const std::string& col, std::string lo,
                          std::string hi, bool nulls_here, const std::string& filter) {
  planned_chunk c;
  c.chunk_no = no;
  c.kind = kind;
  std::string w;
  auto lit = [&](const std::string& v) {
    return kind == chunk_kind::ctid_range ? codecs::quote_literal("(" + v + ",0)") + "::tid" : v;
  };
  if (!lo.empty()) {
    c.lower = lo;
    w = col + " >= " + lit(lo);
  }
  if (!hi.empty()) {
    c.upper = hi;
    w = and_where(w, col + " < " + lit(hi));
  }
  if (nulls_here && kind != chunk_kind::ctid_range)
    w = "(" + (w.empty() ? "true" : w) + ") OR " + col + " IS NULL";
  c.where_sql = and_where(w, filter);
  return c;
}

/// Queue-file lines "schema.table|column|lo..hi" grouped by table.
std::map<std::string, std::vector<std::pair<std::string, std::string>>> read_queue_file(
    const std::string& path, std::map<std::string, std::string>& columns) {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> out;
  if (path.empty()) return out;
  std::ifstream in(path);
  if (!in) throw usage_error("cannot read the queue file " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    auto parts = split(line, '|');
    if (parts.size() != 3)
      throw usage_error(path + ":" + std::to_string(n) + ": want schema.table|column|lo..hi");
    columns[parts[0]] = parts[1];
    out[parts[0]].push_back(parse_range(parts[2], path + ":" + std::to_string(n)));
  }
  return out;
}

}  // namespace

/// "lo..hi", "..hi", "lo..", or "lo-hi" for non-negative integers: integer bounds only (they go
/// into SQL), lo < hi.
std::pair<std::string, std::string> parse_range(const std::string& r, const std::string& what) {
  std::string lo, hi;
  const auto trim = [](std::string v) {
    const auto b = v.find_first_not_of(" \t");
    const auto e = v.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
  };
  if (const auto dots = r.find(".."); dots != std::string::npos) {
    lo = trim(r.substr(0, dots));
    hi = trim(r.substr(dots + 2));
  } else if (const auto dash = r.find('-', 1); dash != std::string::npos) {
    lo = trim(r.substr(0, dash));
    hi = trim(r.substr(dash + 1));
    if (lo.empty() || hi.empty()) lo = hi = "x";  // refused below
  } else {
    lo = hi = "x";
  }
  const auto lo_v = to_int(lo), hi_v = to_int(hi);
  if ((!lo.empty() && !lo_v) || (!hi.empty() && !hi_v))
    throw usage_error(what + ": range '" + r + "' is not lo..hi with integer bounds");
  if (lo_v && hi_v && *lo_v >= *hi_v)
    throw usage_error(what + ": range '" + r + "' is empty (lo..hi takes lo <= key < hi)");
  return {lo_v ? std::to_string(*lo_v) : "", hi_v ? std::to_string(*hi_v) : ""};
}

/// Evenly spaced integer bounds: n chunks over [lo, hi], open at both ends.
std::vector<planned_chunk> int_chunks(std::int64_t lo, std::int64_t hi, int n,
                                      const std::string& col, const std::string& filter) {
  std::vector<planned_chunk> out;
  const long double span = static_cast<long double>(hi) - lo + 1;
  std::string prev;
  for (int i = 0; i < n; ++i) {
    std::string next;
    if (i + 1 < n) {
      // The offset can pass INT64_MAX (keys on both sides of zero): added in unsigned
      // arithmetic, the bound itself lies in [lo, hi].
      const auto offset = static_cast<std::uint64_t>(span * (i + 1) / n);
      next = std::to_string(static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + offset));
    }
    if (!next.empty() && next == prev) continue;
    out.push_back(range_chunk(static_cast<int>(out.size()), chunk_kind::int_range, col, prev, next,
                              i == 0, filter));
    prev = next;
  }
  return out;
}

std::vector<planned_chunk> ctid_chunks(std::int64_t pages, int n, const std::string& filter) {
  std::vector<planned_chunk> out;
  std::string prev;
  for (int i = 0; i < n; ++i) {
    std::string next;
    if (i + 1 < n) next = std::to_string(pages * (i + 1) / n);
    // No block comes before block 0: a bound there would only make an empty chunk.
    if (!next.empty() && (next == prev || next == "0")) continue;
    out.push_back(range_chunk(static_cast<int>(out.size()), chunk_kind::ctid_range, "ctid", prev,
                              next, false, filter));
    prev = next;
  }
  return out;
}

std::vector<planned_chunk> explicit_chunks(std::vector<std::pair<std::string, std::string>> ranges,
                                           const std::string& column, const std::string& filter,
                                           bool rest, const std::string& what) {
  std::vector<planned_chunk> out;
  order_ranges(ranges, what, rest);
  std::string taken;  // what the ranges take, for the rest chunk
  for (auto& [lo, hi] : ranges) {
    // Rows with a NULL key: the first chunk, or the rest chunk when there is one.
    planned_chunk c = range_chunk(static_cast<int>(out.size()), chunk_kind::explicit_range, column,
                                  lo, hi, out.empty() && !rest, filter);
    taken += (taken.empty() ? "(" : " OR (") +
             range_chunk(0, chunk_kind::explicit_range, column, lo, hi, false, {}).where_sql + ")";
    out.push_back(std::move(c));
  }
  if (rest) {
    planned_chunk c;
    c.chunk_no = static_cast<int>(out.size());
    c.kind = chunk_kind::explicit_range;
    c.where_sql = and_where("NOT (" + taken + ") OR " + column + " IS NULL", filter);
    out.push_back(std::move(c));
  }
  return out;
}

std::int64_t parse_size(const std::string& text, const std::string& what) {
  std::string num, unit;
  for (char c : text)
    (std::isdigit(static_cast<unsigned char>(c)) ? num : unit).push_back(c);
  auto v = to_int(num);
  std::string u;
  for (char c : unit)
    if (c != ' ') u.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  std::int64_t mult = 1;
  if (u == "" || u == "B")
    mult = 1;
  else if (u == "K" || u == "KB" || u == "KIB")
    mult = 1ll << 10;
  else if (u == "M" || u == "MB" || u == "MIB")
    mult = 1ll << 20;
  else if (u == "G" || u == "GB" || u == "GIB")
    mult = 1ll << 30;
  else
    v.reset();
  if (!v || *v <= 0) throw usage_error(what + ": '" + text + "' is not a size like 256MB");
  return *v * mult;
}

chunk_policy make_chunk_policy(const job_options& opts) {
  chunk_policy p;
  if (auto by = setting(opts, "copy.chunk_by"); !by.empty() && by != "key" && by != "ctid")
    throw usage_error("copy.chunk_by = '" + by + "': expected key or ctid");
  if (auto s = setting(opts, "copy.chunk_size"); !s.empty())
    p.chunk_bytes = parse_size(s, "copy.chunk_size");
  return p;
}

std::string chunk_select(const table_info& t, const planned_chunk& c) {
  std::string cols;
  for (const auto& col : t.columns)
    cols += (cols.empty() ? "" : ", ") + col;
  std::string sql = "SELECT " + cols + " FROM ONLY " + t.qualified();
  if (!c.where_sql.empty()) sql += " WHERE " + c.where_sql;
  return sql;
}

asio::awaitable<std::vector<planned_table>> make_plan(pg::connection& src,
                                                      const std::vector<table_info>& tables,
                                                      const job_options& opts) {
  const chunk_policy policy = make_chunk_policy(opts);
  std::map<std::string, std::string> queue_columns;
  auto queue = read_queue_file(setting(opts, "copy.queue_file"), queue_columns);

  std::vector<planned_table> plan;
  for (const table_info& t : tables) {
    planned_table pt{t.schema, t.name, t.bytes, t.rows_estimate, {}};
    const std::string what = "tables." + t.display();
    const std::string filter = table_setting(opts, t.schema, t.name, "where");
    std::string column = table_setting(opts, t.schema, t.name, "chunk_column");
    if (!column.empty()) column = codecs::quote_ident(column);

    // Explicit ranges: config first, then the queue file.
    std::vector<std::pair<std::string, std::string>> ranges;
    if (auto r = table_setting(opts, t.schema, t.name, "ranges"); !r.empty()) {
      for (const auto& x : split(r, ','))
        ranges.push_back(parse_range(x, what + ".ranges"));
    } else if (auto q = queue.find(t.display()); q != queue.end()) {
      ranges = q->second;
      if (column.empty()) column = codecs::quote_ident(queue_columns[t.display()]);
    }
    if (!ranges.empty()) {
      if (column.empty()) throw usage_error(what + ": ranges need a chunk_column");
      const bool rest = bool_setting(opts, what + ".rest", false);
      pt.chunks = explicit_chunks(std::move(ranges), column, filter, rest, what + ".ranges");
      plan.push_back(std::move(pt));
      continue;
    }

    int n = static_cast<int>(
        std::max<std::int64_t>(1, (t.bytes + policy.chunk_bytes - 1) / policy.chunk_bytes));
    if (auto c = table_setting(opts, t.schema, t.name, "chunks"); !c.empty()) {
      auto v = to_int(c);
      if (!v || *v < 1 || *v > 100000) throw usage_error(what + ".chunks must be 1..100000");
      n = static_cast<int>(*v);
    } else if (auto s = table_setting(opts, t.schema, t.name, "chunk_size"); !s.empty()) {
      const auto bytes = parse_size(s, what + ".chunk_size");
      n = static_cast<int>(std::max<std::int64_t>(1, (t.bytes + bytes - 1) / bytes));
    }
    // copy.chunk_by = "ctid": block ranges even when there is an integer key (TID range
    // scans read each page once; loads that need no key order, such as Doris, prefer them).
    const bool by_ctid = setting(opts, "copy.chunk_by") == "ctid";
    if (column.empty() && t.int_key && !by_ctid) column = *t.int_key;

    if (n == 1) {
      planned_chunk c;
      c.kind = chunk_kind::whole;
      c.where_sql = filter;
      pt.chunks.push_back(std::move(c));
    } else if (!column.empty()) {
      pg::result r = co_await src.query("SELECT min(" + column + ")::text, max(" + column +
                                        ")::text FROM ONLY " + t.qualified());
      r.check("reading the key range of " + t.display());
      auto lo = r.is_null(0, 0) ? std::nullopt : to_int(r.value(0, 0));
      auto hi = r.is_null(0, 1) ? std::nullopt : to_int(r.value(0, 1));
      if (!lo || !hi) {
        // Empty table or a non-integer column: one chunk.
        planned_chunk c;
        c.where_sql = filter;
        pt.chunks.push_back(std::move(c));
      } else {
        pt.chunks = int_chunks(*lo, *hi, n, column, filter);
      }
    } else {
      // Block ranges cover the pages there are now; the last one is open-ended.
      pt.chunks = ctid_chunks(std::max<std::int64_t>(t.pages, 1), n, filter);
    }
    plan.push_back(std::move(pt));
  }
  co_return plan;
}

}  // namespace uringmig::engine
