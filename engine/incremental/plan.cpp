#include "engine/incremental/plan.hpp"

#include "codecs/sql_text.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/job.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace uringmig::engine::incremental {

namespace asio = boost::asio;
namespace pg = connectors::postgres;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// " (did you mean "Payer Id"?)" when a column differs only in case or by a typo.
template <class Columns>
std::string hint(const Columns& cols, const std::string& name) {
  std::vector<std::string_view> names;
  for (const auto& c : cols) {
    if (lower(c.name) == lower(name))
      return fmt::format(
          " (did you mean \"{}\"? names are compared "
          "with their exact case)",
          codecs::printable(c.name));
    names.push_back(c.name);
  }
  const auto near = nearest_name(name, names);
  if (!near.empty()) return fmt::format(" (did you mean \"{}\"?)", codecs::printable(near));
  return {};
}

[[noreturn]] void bad(const table_entry& e, const std::string& what) {
  throw usage_error(e.label() + ": " + what);
}

const source_column& source_column_of(const table_plan& p, const std::string& name,
                                      const char* role) {
  const source_column* c = p.src.column(name);
  if (c == nullptr)
    bad(p.entry, fmt::format("{} column \"{}\" is not a column of source table {}{}", role,
                             codecs::printable(name), codecs::printable(p.src.display),
                             hint(p.src.columns, name)));
  return *c;
}

void check_target_column(const table_plan& p, const std::string& name, const char* role) {
  if (p.tgt.found && p.tgt.column(name) == nullptr)
    bad(p.entry, fmt::format("{} column \"{}\" is not a column of target table {}.{}{}", role,
                             codecs::printable(name), codecs::printable(p.tgt.schema),
                             codecs::printable(p.tgt.name), hint(p.tgt.columns, name)));
}

void map_columns(table_plan& p) {
  const std::string& wm = p.entry.watermark;
  for (const auto& c : p.src.columns) {
    std::string to = c.name;
    if (!wm.empty() && c.name == wm && !p.entry.target_watermark.empty())
      to = p.entry.target_watermark;
    if (!p.tgt.found || p.tgt.column(to) != nullptr) {
      p.columns.push_back({c.name, to});
    } else {
      p.skipped.push_back(c.name);
    }
  }
}

/// Above this many rows a window's row count may be estimated (plan_stats).
constexpr std::int64_t exact_count_limit = 1000;

std::string range_text(const range_bound& r) {
  return fmt::format("[{}, {}){}", r.lower.value_or("-inf"), r.upper.value_or("+inf"),
                     r.nulls ? " + NULL" : "");
}

}  // namespace

row_query table_plan::base_query() const {
  row_query q;
  q.table = entry.source;
  for (const auto& c : columns)
    q.columns.push_back(c.source);
  q.filter = entry.filter;
  q.watermark = entry.watermark;
  q.watermark_class = watermark_class;
  q.chunk_by = entry.chunk_by;
  q.chunk_class = chunk_class;
  return q;
}

asio::awaitable<table_plan> check_entry_on(const table_entry& e, source& src, target_table tgt,
                                           std::string target_name) {
  table_plan p;
  p.entry = e;
  p.src = co_await src.describe(e.source);
  if (!p.src.found)
    bad(e, fmt::format("source table {} does not exist (names are compared with their exact "
                       "case; quote parts as written: \"Schema\".\"Table\")",
                       codecs::printable(e.source.written)));
  p.tgt = std::move(tgt);
  p.target_name = std::move(target_name);
  for (const auto& k : e.key) {
    (void)source_column_of(p, k, "key");
    check_target_column(p, k, "key");
  }
  if (!e.watermark.empty()) {
    const source_column& wm = source_column_of(p, e.watermark, "watermark");
    p.watermark_class = wm.cls;
    if (!orderable_watermark(wm.cls))
      bad(e, fmt::format("watermark column \"{}\" is of type {}, which cannot order changes: use "
                         "an integer, numeric, date or timestamp column",
                         codecs::printable(wm.name), codecs::printable(wm.type)));
    if (!e.target_watermark.empty()) check_target_column(p, e.target_watermark, "target_watermark");
    const auto back = parse_lookback(wm.cls, e.lookback);
    if (!back)
      bad(e, fmt::format("lookback = '{}' does not fit a {} watermark (examples: {})",
                         codecs::printable(e.lookback), to_string(wm.cls),
                         wm.cls == value_class::integer || wm.cls == value_class::numeric
                             ? "\"0\", \"1000\""
                             : "\"10m\", \"1h30m\", \"2d\""));
    p.back = *back;
  }
  if (!e.chunk_by.empty()) p.chunk_class = source_column_of(p, e.chunk_by, "chunk_by").cls;
  if (!e.filter.empty()) {
    if (auto err = co_await src.check_filter(e.source, e.filter))
      bad(e, fmt::format("filter does not parse on the source: {}", codecs::printable(*err)));
  }
  map_columns(p);
  for (const auto& k : e.key) {
    if (std::none_of(p.columns.begin(), p.columns.end(),
                     [&](const column_pair& c) { return c.target == k; }))
      bad(e, fmt::format("key column \"{}\" must load under the same name", codecs::printable(k)));
  }
  p.key = e.key;
  co_return p;
}

asio::awaitable<table_plan> check_entry(const table_entry& e, source& src, pg::connection& target) {
  target_table tgt = co_await describe_target(target, e.target);
  std::string name = tgt.schema + "." + tgt.name;
  table_plan p = co_await check_entry_on(e, src, std::move(tgt), std::move(name));
  if (p.tgt.found && !key_is_unique(p.tgt, e.key))
    bad(e, fmt::format("key ({}) is not unique on target table {}: add a unique index or "
                       "constraint on exactly these columns (the upsert needs one)",
                       codecs::printable(fmt::format("{}", fmt::join(e.key, ", "))),
                       codecs::printable(p.target_name)));
  if (!p.tgt.found) p.create_sql = create_table_sql(e.target, p.src, e.key);
  p.mark = co_await stored_mark(target, p.target_name);
  co_return p;
}

asio::awaitable<table_window> open_window(const table_plan& p, source& src, std::int64_t chunk_rows,
                                          int workers) {
  table_window w;
  row_query q = p.base_query();
  const bool incremental = p.entry.mode == load_mode::incremental;
  if (incremental && p.mark) {
    w.from = subtract_lookback(p.watermark_class, *p.mark, p.back);
    if (!w.from)
      throw job_error(
          fmt::format("{}: the stored mark '{}' does not read as a {}: check "
                      "uringmig.watermarks on the target",
                      p.entry.label(), codecs::printable(*p.mark), to_string(p.watermark_class)));
  }
  q.window = incremental && w.from.has_value();
  q.from = w.from;
  // The count only sizes the chunks (exact while it is small: a small window is one chunk);
  // the window's end, the largest watermark, is exact.
  const std::int64_t exact_up_to = std::min<std::int64_t>(chunk_rows, exact_count_limit);
  std::int64_t rows = 0;
  if (!p.entry.watermark.empty()) {
    const column_stats s = co_await src.plan_stats(q, p.entry.watermark, exact_up_to);
    rows = s.rows;
    w.rows_estimated = s.rows_estimated;
    w.to = s.max;
  } else {
    const column_stats s = co_await src.plan_stats(q, p.key.front(), exact_up_to);
    rows = s.rows;
    w.rows_estimated = s.rows_estimated;
  }
  w.next_mark = w.to ? w.to : p.mark;
  std::optional<std::string> largest = w.to;
  if (incremental && p.mark && !w.to) {
    // Nothing at or past the lower bound: is the column's largest value now below the mark?
    largest = (co_await src.stats(p.base_query(), p.entry.watermark)).max;
  }
  if (p.mark && largest && compare_values(p.watermark_class, *largest, *p.mark).value_or(0) < 0) {
    w.backwards = true;
    w.largest = largest;
    w.next_mark = p.mark;
  }
  w.rows_estimate = rows;
  auto n = static_cast<int>(std::min<std::int64_t>((rows + chunk_rows - 1) / chunk_rows, 10000));
  // Cuts from a sample cost no pass over the window: enough rows go to every worker.
  const bool split = w.rows_estimated && n < workers && rows >= split_rows * workers;
  if (split) n = workers;
  std::vector<range_bound> ranges{range_bound{std::nullopt, std::nullopt, true}};
  const chunk_strategy how = choose_strategy(p.chunk_class, !p.entry.chunk_by.empty(), rows,
                                             split ? rows / workers : chunk_rows);
  w.strategy = how == chunk_strategy::one_small ? "one chunk (small)" : "one chunk (no chunk_by)";
  row_query rq = q;
  rq.window = incremental;
  rq.to = w.to;
  const std::string col = codecs::printable(p.entry.chunk_by);
  // A window too large to count is cut where a sample of it says, not after another pass.
  std::vector<range_bound> sampled;
  if (w.rows_estimated && (how == chunk_strategy::ranges || how == chunk_strategy::grouped))
    sampled = grouped_ranges(co_await src.sampled_boundaries(rq, p.entry.chunk_by, n));
  if (sampled.size() > 1) {
    ranges = std::move(sampled);
    w.strategy = fmt::format("{} on \"{}\" cut at sampled values",
                             how == chunk_strategy::grouped          ? "grouped values"
                             : p.chunk_class == value_class::integer ? "integer ranges"
                                                                     : "date/time ranges",
                             col);
  } else if (how == chunk_strategy::ranges) {
    const column_stats cs = co_await src.stats(rq, p.entry.chunk_by);
    if (cs.min && cs.max) ranges = split_range(p.chunk_class, *cs.min, *cs.max, n);
    w.strategy =
        ranges.size() <= 1
            ? fmt::format("one chunk (chunk_by of type {})", to_string(p.chunk_class))
            : fmt::format("{} ranges on \"{}\"",
                          p.chunk_class == value_class::integer ? "integer" : "date/time", col);
  } else if (how == chunk_strategy::grouped) {
    ranges = grouped_ranges(co_await src.boundaries(rq, p.entry.chunk_by, n));
    w.strategy = ranges.size() <= 1 ? fmt::format("one chunk (values of \"{}\" not grouped)", col)
                                    : fmt::format("grouped values on \"{}\"", col);
  } else if (how == chunk_strategy::one_unsplittable) {
    w.strategy = fmt::format("one chunk (chunk_by of type {})", to_string(p.chunk_class));
  }
  for (auto& r : ranges)
    w.chunks.push_back({static_cast<int>(w.chunks.size()), "rows", std::move(r)});
  if (p.entry.deletes == delete_mode::reconcile) {
    // Reconcile passes over the whole filtered source, by ranges of a single integer key.
    std::vector<range_bound> passes{range_bound{std::nullopt, std::nullopt, true}};
    const source_column* k = p.key.size() == 1 ? p.src.column(p.key.front()) : nullptr;
    if (k != nullptr && k->cls == value_class::integer) {
      row_query kq = p.base_query();
      const column_stats ks = co_await src.stats(kq, k->name);
      const auto parts = static_cast<int>(
          std::min<std::int64_t>((ks.rows + 4 * chunk_rows - 1) / (4 * chunk_rows), 10000));
      if (ks.min && ks.max) passes = split_range(value_class::integer, *ks.min, *ks.max, parts);
    }
    for (auto& r : passes)
      w.chunks.push_back({static_cast<int>(w.chunks.size()), "reconcile", std::move(r)});
  }
  co_return w;
}

std::string window_key(const table_plan& p) {
  std::string out =
      fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", p.entry.source.written, p.entry.target.written,
                  p.entry.filter, fmt::join(p.key, ","), p.entry.watermark, p.entry.chunk_by,
                  p.entry.mode == load_mode::full ? "full" : "incremental",
                  p.entry.deletes == delete_mode::reconcile ? "reconcile" : "none");
  for (const auto& c : p.columns)
    out += "|" + c.source + ">" + c.target;
  return out;
}

std::string describe_plan(const table_plan& p, const table_window& w) {
  const table_entry& e = p.entry;
  std::string out = fmt::format(
      "table {} -> {}: mode {}, strategy {}, {} chunk(s), ~{} rows to read{}, mark {}",
      codecs::printable(p.src.display), codecs::printable(p.target_name),
      e.mode == load_mode::full ? "full (truncate, COPY)" : "incremental (upsert)", w.strategy,
      w.chunks.size(), w.rows_estimate, w.rows_estimated ? " (sampled)" : "",
      p.mark ? codecs::printable(*p.mark) : std::string("none (first run: every row)"));
  if (w.from) out += fmt::format(" (reads {} >= {})", codecs::printable(e.watermark), *w.from);
  out += fmt::format(", deletes {}, on_error {}\n",
                     e.deletes == delete_mode::reconcile ? "reconcile" : "none",
                     e.on_error == error_mode::reject ? "reject" : "fail");
  out +=
      fmt::format("  key ({}), {} column(s) loaded",
                  codecs::printable(fmt::format("{}", fmt::join(p.key, ", "))), p.columns.size());
  if (!p.skipped.empty())
    out += fmt::format("; not on the target, skipped: {}",
                       codecs::printable(fmt::format("{}", fmt::join(p.skipped, ", "))));
  out += "\n";
  if (!p.create_sql.empty())
    out += "  target table missing: will be created: " + codecs::printable(p.create_sql) + "\n";
  if (w.backwards)
    out += fmt::format(
        "  warning: the source's largest {} ({}) is below the stored mark: the "
        "column moved backwards\n",
        codecs::printable(e.watermark), codecs::printable(w.largest.value_or("")));
  for (const auto& c : w.chunks)
    if (w.chunks.size() > 1)
      out += fmt::format("  chunk {} {} {}\n", c.chunk_no, c.kind, range_text(c.range));
  return out;
}

}  // namespace uringmig::engine::incremental
