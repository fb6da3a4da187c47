// The applier's SQL: relations checked against the target, one prepared statement per
// (relation, shape), runs of inserts coalesced into multi-row INSERTs.
#include "codecs/copy_text.hpp"
#include "codecs/sql_text.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/cdc/apply_sql.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace uringmig::engine::cdc {

namespace pg = connectors::postgres;
namespace pgo = codecs::pgoutput;
namespace asio = boost::asio;

using detail::fail;
using detail::max_bind_params;
using detail::param;
using detail::value_of;

namespace {

constexpr std::size_t max_insert_rows = 64;
// Runs of at least this many rows go out as a COPY (copy_insert_run): its extra round trip is
// nothing against what the server saves (rows inserted a page at a time, no VALUES to plan).
constexpr std::size_t copy_min_rows = 256;
constexpr std::size_t copy_piece_bytes = 256 * 1024;

bool same_definition(const detail::relation_info& a, const detail::relation_info& b) {
  if (a.nspname != b.nspname || a.relname != b.relname || a.identity != b.identity ||
      a.columns.size() != b.columns.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.columns.size(); ++i) {
    const auto& x = a.columns[i];
    const auto& y = b.columns[i];
    if (x.name != y.name || x.key != y.key || x.type_oid != y.type_oid ||
        x.type_mod != y.type_mod) {
      return false;
    }
  }
  return true;
}

// Types without an equality operator: a FULL-identity match compares their text.
bool needs_text_compare(std::string_view type) {
  static constexpr std::string_view list[] = {"json", "xml",  "point",   "line",  "lseg",
                                              "box",  "path", "polygon", "circle"};
  return std::find(std::begin(list), std::end(list), type) != std::end(list);
}

// Why a table the stream names is not on the target, and what to do: `was` is what the applier
// knew the table as (the same as `now` when it did not).
std::string not_on_target(const detail::relation_info& was, const detail::relation_info& now) {
  const std::string how = "; do the same on the target (ALTER TABLE " + was.qualified;
  if (was.nspname == now.nspname && was.relname != now.relname) {
    return "table " + was.qualified + " was renamed on the source to " + now.qualified + how +
           " RENAME TO " + codecs::quote_ident(now.relname) + ")";
  }
  if (was.nspname != now.nspname && was.relname == now.relname) {
    return "table " + was.qualified + " was moved on the source to " + now.qualified + how +
           " SET SCHEMA " + codecs::quote_ident(now.nspname) + ")";
  }
  return "table " + now.qualified +
         " is published on the source but does not exist on the target (created or renamed on the "
         "source while following? DDL is not replicated): create it on the target";
}

void check_width(const detail::relation_info& rel, std::size_t n) {
  if (n != rel.columns.size()) {
    fail("table " + rel.qualified + ": a tuple of " + std::to_string(n) +
         " columns, the Relation message has " + std::to_string(rel.columns.size()));
  }
}

// "c = $n::t"; a type without an equality operator compares as text. Plain equality (NULLs are
// matched with IS NULL by the caller) so that an index on the column can find the row.
std::string match(const detail::column_info& c, std::size_t n) {
  const std::string col = codecs::quote_ident(c.name);
  if (c.text_compare) return col + "::text = $" + std::to_string(n) + "::text";
  return col + " = " + param(n, c);
}

// The WHERE clause and its parameters for an old row: by key, or for REPLICA IDENTITY FULL the
// ctid of exactly one row whose every (sent) column matches. The shape key tells NULLs apart.
struct where_part {
  std::string key;  // shape
  std::string sql;
};

where_part where_for(const detail::relation_info& rel, std::span<const pgo::column_value> old,
                     std::size_t first_param, pg::params& p) {
  where_part w;
  const bool full = rel.identity == 'f';
  std::string cond;
  std::size_t n = first_param;
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    const auto& c = rel.columns[i];
    const bool use = full ? !old[i].is_unchanged_toast() : c.key;
    if (!use) {
      w.key += '0';
      continue;
    }
    if (!cond.empty()) cond += " AND ";
    if (old[i].is_null()) {
      w.key += 'n';
      cond += codecs::quote_ident(c.name) + " IS NULL";
      continue;
    }
    w.key += '1';
    p.push_back(value_of(old[i], rel, i));
    cond += match(c, n++);
  }
  if (!full && cond.empty()) {
    fail("table " + rel.qualified +
         " has no replica identity key: set REPLICA IDENTITY FULL or add a primary key");
  }
  if (full) {
    w.sql = " WHERE ctid = (SELECT ctid FROM " + rel.qualified +
            (cond.empty() ? "" : " WHERE " + cond) + " LIMIT 1)";
  } else {
    w.sql = " WHERE " + cond;
  }
  return w;
}

}  // namespace

const detail::relation_info& applier::relation(std::uint32_t oid) const {
  auto it = relations_.find(oid);
  if (it == relations_.end()) {
    fail("a change for relation oid " + std::to_string(oid) + " before its Relation message");
  }
  return it->second;
}

asio::awaitable<std::string> applier::prepared(std::string key, std::string sql,
                                               std::string table) {
  auto it = statements_.find(key);
  if (it != statements_.end()) co_return it->second;
  std::string name = "uringmig_cdc_" + std::to_string(statements_.size() + 1);
  // Prepared in the batch, ahead of its first execution (every caller adds that to the batch
  // next): no round trip of its own, which a table's first changes paid per statement shape.
  // PREPARE is not undone by a rollback; a failed batch ends the applier anyway.
  pg::statement p;
  p.sql = "PREPARE " + name + " AS " + sql;
  statement_tables_.emplace(p.sql, table);  // send_batch names the table of a failure
  batch_.push_back(std::move(p));
  statements_.emplace(std::move(key), name);
  statement_tables_.emplace(name, std::move(table));
  co_return name;
}

asio::awaitable<void> applier::on_relation(const pgo::relation_message& r) {
  detail::relation_info info;
  info.nspname = std::string(r.nspname);
  info.relname = std::string(r.relname);
  info.qualified = codecs::qualified_name(r.nspname, r.relname);
  info.identity = static_cast<char>(r.identity);
  for (const auto& c : r.columns) {
    detail::column_info ci;
    ci.name = std::string(c.name);
    ci.key = c.is_key();
    ci.type_oid = c.type_oid;
    ci.type_mod = c.type_modifier;
    info.columns.push_back(std::move(ci));
  }
  auto known = relations_.find(r.oid);
  if (known != relations_.end() && same_definition(known->second, info)) co_return;
  // Rows of a pending run or net were laid out for the old definition.
  if (run_.rows != 0 && run_.oid == r.oid) co_await emit_inserts();
  co_await flush_net(r.oid);
  co_await flush_full(r.oid);

  auto find = [](const std::vector<detail::target_column>& cols, std::string_view name) {
    return std::find_if(cols.begin(), cols.end(),
                        [&](const detail::target_column& c) { return c.name == name; });
  };
  // A table named first: what open() or the dispatcher asked the target already, when it has
  // each of the relation's columns (else the table was created or changed since: ask now).
  const detail::target_table* facts = nullptr;
  if (known == relations_.end() && shared_tables_ != nullptr) {
    const auto it = shared_tables_->find(info.qualified);
    if (it != shared_tables_->end() &&
        std::all_of(info.columns.begin(), info.columns.end(), [&](const auto& c) {
          return find(it->second.columns, c.name) != it->second.columns.end();
        })) {
      facts = &it->second;
    }
  }
  std::optional<detail::target_table> asked;
  if (facts == nullptr) {
    asked = co_await detail::ask_target_table(conn_, info.qualified);
    if (!asked) {
      // Stops before this source transaction: what came before (under the table's old name, as
      // the stream replays it) is committed first.
      throw schema_change_error(known != relations_.end() ? not_on_target(known->second, info)
                                                          : not_on_target(info, info),
                                stop_at(), info.qualified);
    }
    if (known != relations_.end())
      co_await check_schema_change(known->second, info, asked->columns);
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < info.columns.size(); ++i) {
      if (find(asked->columns, info.columns[i].name) == asked->columns.end()) missing.push_back(i);
    }
    if (!missing.empty()) {
      co_await add_columns(r.oid, info, missing);
      asked = co_await detail::ask_target_table(conn_, info.qualified);
      if (!asked) fail("table " + info.qualified + " is gone from the target");
    }
    facts = &*asked;
  }
  const std::vector<detail::target_column>& target = facts->columns;
  for (auto& c : info.columns) {
    const auto col = find(target, c.name);
    if (col == target.end())
      fail("column " + codecs::quote_ident(c.name) + " of table " + info.qualified +
           " is not on the target");
    c.write = !col->generated;
    c.cast = "::" + col->cast;
    c.text_compare = needs_text_compare(col->cast);
    c.full_type = col->full_type;
  }
  info.generation = next_generation_++;
  info.coalesce = coalescible(info, *facts);
  classify_full(info, *facts);
  relations_[r.oid] = std::move(info);
}

detail::insert_run applier::new_insert_run(std::uint32_t oid) const {
  const auto& rel = relation(oid);
  const auto width = static_cast<std::size_t>(
      std::count_if(rel.columns.begin(), rel.columns.end(), [](const auto& c) { return c.write; }));
  detail::insert_run run;
  run.oid = oid;
  run.max_rows = std::clamp<std::size_t>(max_bind_params / std::max<std::size_t>(width, 1), 1,
                                         width == 0 ? 1 : max_insert_rows);
  return run;
}

asio::awaitable<void> applier::on_insert(const pgo::insert_message& m) {
  const auto& rel = relation(m.relation_oid);
  check_width(rel, m.new_tuple.size());
  if (rel.coalesce) {
    co_await net_insert(m);
    co_return;
  }
  if (rel.full_set && co_await full_change(m.relation_oid, {}, m.new_tuple)) co_return;
  if (run_.rows != 0 && run_.oid != m.relation_oid) co_await emit_inserts();
  if (run_.rows == 0) run_ = new_insert_run(m.relation_oid);
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    if (rel.columns[i].write) run_.values.push(detail::text_of(m.new_tuple[i], rel, i));
  }
  ++run_.rows;
  ++group_changes_;
  touch_group();
  if (run_.rows >= run_.max_rows) co_await emit_inserts();
}

asio::awaitable<void> applier::emit_inserts() {
  if (run_.rows == 0) co_return;
  detail::insert_run run = std::move(run_);
  run_ = detail::insert_run{};
  co_await emit_insert_run(std::move(run));
}

asio::awaitable<void> applier::emit_insert_run(detail::insert_run run) {
  const auto& rel = relation(run.oid);
  const std::string qualified = rel.qualified;
  std::vector<const detail::column_info*> cols;
  for (const auto& c : rel.columns) {
    if (c.write) cols.push_back(&c);
  }
  const std::size_t width = cols.size();
  // COPY applies no rule; these tables have none (nor a trigger that fires in replica mode).
  if (run.rows >= copy_min_rows && width != 0 && (rel.coalesce || rel.full_set)) {
    co_await copy_insert_run(run);
    co_return;
  }
  std::size_t done = 0;
  while (done < run.rows) {
    const std::size_t k = std::bit_floor(std::min(run.rows - done, run.max_rows));
    const std::string key = "I:" + std::to_string(run.oid) + ":" + std::to_string(rel.generation) +
                            ":" + std::to_string(k);
    std::string sql;
    if (statements_.find(key) == statements_.end()) {
      if (width == 0) {
        sql = "INSERT INTO " + qualified + " DEFAULT VALUES";
      } else {
        sql = "INSERT INTO " + qualified + " (";
        for (std::size_t c = 0; c < width; ++c) {
          sql += (c ? ", " : "") + codecs::quote_ident(cols[c]->name);
        }
        // The source's values also for a GENERATED ALWAYS identity column (harmless elsewhere).
        sql += ") OVERRIDING SYSTEM VALUE VALUES ";
        std::size_t n = 1;
        for (std::size_t r = 0; r < k; ++r) {
          sql += r ? ", (" : "(";
          for (std::size_t c = 0; c < width; ++c)
            sql += (c ? ", " : "") + param(n++, *cols[c]);
          sql += ")";
        }
      }
    }
    pg::statement s;
    s.sql = co_await prepared(key, std::move(sql), qualified);
    s.prepared = true;
    if (done == 0 && k == run.rows) {
      run.values.release(s.packed, s.packed_at);  // the whole run: its buffer as it is
    } else {
      detail::packed_values part;
      for (std::size_t v = done * width; v < (done + k) * width; ++v)
        part.push_from(run.values, v);
      part.release(s.packed, s.packed_at);
    }
    done += k;
    co_await add(std::move(s), k, run.counted);
  }
}

asio::awaitable<void> applier::copy_insert_run(const detail::insert_run& run) {
  const auto& rel = relation(run.oid);
  std::string sql = "COPY " + rel.qualified + " (";
  std::size_t width = 0;
  for (const auto& c : rel.columns) {
    if (!c.write) continue;
    sql += (width++ ? ", " : "") + codecs::quote_ident(c.name);
  }
  sql += ") FROM STDIN";
  // In the group's transaction, after everything before it (COPY runs outside the pipeline).
  begin_group();
  co_await send_batch();
  if (!copy_pool_)
    copy_pool_ = std::make_unique<io::buffer_pool>(copy_piece_bytes, 4 * copy_piece_bytes);
  const std::size_t values = run.rows * width;
  std::size_t next = 0;  // the next value to write as text
  std::size_t sent = 0;  // bytes of copy_text_ sent
  copy_text_.clear();
  pg::result r = co_await conn_.copy_in(sql, [&]() -> asio::awaitable<pg::copy_piece> {
    pg::copy_piece p;
    if (sent == copy_text_.size()) {
      copy_text_.clear();
      sent = 0;
      while (next < values && copy_text_.size() < copy_piece_bytes) {
        if (run.values.has_text(next)) {
          codecs::append_copy_text_escaped(copy_text_, run.values.text(next));
        } else {
          copy_text_ += codecs::copy_text_null;
        }
        ++next;
        copy_text_ += next % width == 0 ? '\n' : '\t';
      }
      if (copy_text_.empty()) co_return p;  // the end
    }
    io::buffer b = co_await copy_pool_->acquire();
    sent += b.append(copy_text_.data() + sent, copy_text_.size() - sent);
    p.data = std::move(b);
    co_return p;
  });
  if (!r.ok()) {
    const pg::diagnostics diag = r.error();
    (void)co_await conn_.query("ROLLBACK");
    throw apply_error("cdc apply: target: table " + rel.qualified + ": " + diag.to_string(), diag);
  }
  group_writes_ += run.rows;
  if (!run.counted) group_statements_ += run.rows;
}

asio::awaitable<void> applier::on_update(const pgo::update_message& m) {
  const auto& rel = relation(m.relation_oid);
  check_width(rel, m.new_tuple.size());
  const bool has_old = m.old_kind != pgo::old_tuple_kind::none;
  if (has_old) check_width(rel, m.old_tuple.size());
  if (rel.coalesce) {
    if (co_await net_update(m)) co_return;
    co_await flush_net(m.relation_oid);  // a key change: after everything before it
  }
  if (rel.identity == 'f' && !has_old) {
    fail("table " + rel.qualified + ": an UPDATE without the old row under REPLICA IDENTITY FULL");
  }
  if (rel.full_set) {
    if (co_await full_change(m.relation_oid, m.old_tuple, m.new_tuple)) co_return;
    co_await flush_full(m.relation_oid);  // as a statement: after everything before it
  }
  co_await emit_inserts();
  if (rel.full_scan) ++group_full_scans_;
  pg::params p;
  std::string set_key;
  std::string set;
  std::size_t n = 1;
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    const auto& c = rel.columns[i];
    // Unchanged TOAST values are not sent: the target keeps its own. Nor is a value set that the
    // row has already: a key found by it (no old key sent), or one the old row sent equals. That
    // leaves a GENERATED ALWAYS identity key alone (an UPDATE may only set it to DEFAULT).
    const bool same = has_old ? m.old_tuple[i].kind == pgo::value_kind::text &&
                                    m.new_tuple[i].kind == pgo::value_kind::text &&
                                    m.old_tuple[i].data == m.new_tuple[i].data
                              : c.key;
    const bool use = c.write && !m.new_tuple[i].is_unchanged_toast() && !same;
    set_key += use ? '1' : '0';
    if (!use) continue;
    p.push_back(value_of(m.new_tuple[i], rel, i));
    if (!set.empty()) set += ", ";
    set += codecs::quote_ident(c.name) + " = " + param(n++, c);
  }
  if (set.empty()) co_return;  // nothing the target does not already have
  // A key change (old key 'K' or old row 'O') is matched by the old values.
  const where_part w = where_for(rel, has_old ? m.old_tuple : m.new_tuple, n, p);
  const std::string key = "U:" + std::to_string(m.relation_oid) + ":" +
                          std::to_string(rel.generation) + ":" + set_key + ":" + w.key;
  std::string sql;
  if (statements_.find(key) == statements_.end()) {
    sql = "UPDATE " + rel.qualified + " SET " + set + w.sql;
  }
  co_await add_change(key, std::move(sql), rel.qualified, std::move(p));
}

asio::awaitable<void> applier::on_delete(const pgo::delete_message& m) {
  const auto& rel = relation(m.relation_oid);
  check_width(rel, m.old_tuple.size());
  if (rel.coalesce) {
    co_await net_delete(m);
    co_return;
  }
  if (rel.full_set) {
    if (co_await full_change(m.relation_oid, m.old_tuple, {})) co_return;
    co_await flush_full(m.relation_oid);
  }
  co_await emit_inserts();
  if (rel.full_scan) ++group_full_scans_;
  pg::params p;
  const where_part w = where_for(rel, m.old_tuple, 1, p);
  const std::string key =
      "D:" + std::to_string(m.relation_oid) + ":" + std::to_string(rel.generation) + ":" + w.key;
  std::string sql;
  if (statements_.find(key) == statements_.end()) sql = "DELETE FROM " + rel.qualified + w.sql;
  co_await add_change(key, std::move(sql), rel.qualified, std::move(p));
}

asio::awaitable<void> applier::add_change(std::string key, std::string sql, std::string table,
                                          pg::params p) {
  pg::statement s;
  s.sql = co_await prepared(std::move(key), std::move(sql), std::move(table));
  s.prepared = true;
  s.params = std::move(p);
  ++group_changes_;
  co_await add(std::move(s), 1, false);
}

asio::awaitable<void> applier::on_truncate(const pgo::truncate_message& m) {
  co_await emit_inserts();
  for (std::uint32_t oid : m.relation_oids) {
    co_await flush_net(oid);
    co_await flush_full(oid);
  }
  std::string sql = "TRUNCATE ONLY ";
  for (std::size_t i = 0; i < m.relation_oids.size(); ++i) {
    sql += (i ? ", " : "") + relation(m.relation_oids[i]).qualified;
  }
  if (m.restart_identity()) sql += " RESTART IDENTITY";
  // Not CASCADE, even when the source's was (as PostgreSQL's own apply): the tables it emptied
  // there are in the message; a table only the target has that refers to them must not be
  // emptied silently (the target refuses instead, and the follower says so).
  pg::statement s;
  s.sql = std::move(sql);
  ++group_changes_;
  co_await add(std::move(s), 1, false);
}

}  // namespace uringmig::engine::cdc
