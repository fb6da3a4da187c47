// Net apply: inside one group (one target transaction), a coalesced table's changes are reduced to
// their net effect per key and go out as multi-row statements when the group commits — one
// DELETE … USING unnest(…) for the keys that end deleted or replaced, one UPDATE … FROM
// unnest(…) per set of changed columns (VALUES where a column is an array), one multi-row
// INSERT (or COPY). A hot row updated a thousand times
// in a group is written once; a thousand rows updated once each cost a few statements instead of
// a thousand. The result equals applying the changes in order because
// - the group commits atomically: nobody sees the states in between;
// - rows of one table with different keys cannot interact: coalescible() requires every unique
//   index to contain the key, and no exclusion constraint, rule or replica trigger;
// - tables do not interact: apply sessions run with session_replication_role = replica (no
//   foreign key checks, no ordinary triggers), so each table's changes only need their own order.
// A change that cannot be merged (an update of a deleted key, a key change, a second insert of a
// key) first sends the table's net so far, then goes on from an empty net.
#include "codecs/sql_text.hpp"
#include "engine/cdc/apply.hpp"
#include "engine/cdc/apply_sql.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>

namespace uringmig::engine::cdc {

namespace pg = connectors::postgres;
namespace pgo = codecs::pgoutput;
namespace asio = boost::asio;

using detail::append_key;
using detail::fail;
using detail::net_entry;
using detail::net_op;

namespace {

constexpr std::size_t max_net_rows = 256;         // rows per multi-row UPDATE / DELETE (VALUES)
constexpr std::size_t max_array_rows = 4096;      // rows per UPDATE / DELETE of arrays (unnest)
constexpr std::size_t max_net_entries = 50000;    // per table, then it goes out mid-group
constexpr std::size_t max_net_unused = 64 << 20;  // bytes of replaced values, then it goes out

bool same_value(const pgo::column_value& a, const pgo::column_value& b) {
  return a.kind == b.kind && a.data == b.data;
}

}  // namespace

bool applier::coalescible(const detail::relation_info& rel,
                          const detail::target_table& target) const {
  if (!opts_.coalesce || (rel.identity != 'd' && rel.identity != 'i')) return false;
  std::vector<std::string> key;
  for (const auto& c : rel.columns) {
    if (c.key) key.push_back(c.name);
  }
  return target.independent(key);
}

// The *_now functions change nothing before they return flush_first: their awaited wrappers send
// the table's net, then try again (on an empty net, which cannot conflict). The table's net also
// goes out before it would reach max_net_entries.

applier::step applier::net_insert_now(const pgo::insert_message& m) {
  const std::uint32_t oid = m.relation_oid;
  const auto& rel = relation(oid);
  const std::size_t width = rel.columns.size();
  std::string& key = key_scratch_;
  key.clear();
  for (std::size_t i = 0; i < width; ++i) {
    if (rel.columns[i].key) append_key(key, m.new_tuple[i]);
  }
  detail::net_table& table = net_table_for(oid);
  const std::size_t at = table.index.find(key);
  if (at != detail::key_index::npos) {
    net_entry& e = table.entries[at];
    // The key is there already: keep the order, let the target judge.
    if (e.op != net_op::none && e.op != net_op::remove) return step::flush_first;
    if (table.unused > max_net_unused) return step::flush_first;
    // Absent before the group (inserted and deleted in it) or deleted in it: absent now.
    e.op = e.op == net_op::none ? net_op::insert : net_op::replace;
    for (std::size_t i = 0; i < width; ++i)
      table.unused += table.values.set(at * width + i, detail::text_of(m.new_tuple[i], rel, i));
    ++group_changes_;
    ++group_statements_;
    return step::done;
  }
  if (table.entries.size() + 1 >= max_net_entries) return step::flush_first;
  for (std::size_t i = 0; i < width; ++i)
    table.values.push(detail::text_of(m.new_tuple[i], rel, i));
  add_net_entry(table, key, net_entry{net_op::insert});
  return step::done;
}

applier::step applier::net_update_now(const pgo::update_message& m) {
  const std::uint32_t oid = m.relation_oid;
  const auto& rel = relation(oid);
  const std::size_t width = rel.columns.size();
  const bool has_old = m.old_kind != pgo::old_tuple_kind::none;
  // The key's value: the new one, or the old one where it was not sent (stored out of line).
  const auto key_value = [&](std::size_t i) -> const pgo::column_value& {
    return m.new_tuple[i].is_unchanged_toast() ? m.old_tuple[i] : m.new_tuple[i];
  };
  std::string& key = key_scratch_;
  key.clear();
  bool any = false;
  for (std::size_t i = 0; i < width; ++i) {
    const auto& c = rel.columns[i];
    const auto& v = m.new_tuple[i];
    if (c.key) {
      // The old key comes when it changed (or is stored out of line): compare.
      const bool unsent = v.is_unchanged_toast();
      if (has_old && !unsent && !same_value(m.old_tuple[i], v)) return step::statement;
      if (unsent && !has_old) return step::statement;  // the statement path names the problem
      append_key(key, key_value(i));
      continue;
    }
    any = any || (c.write && !v.is_unchanged_toast());
  }
  const auto changed = [&](std::size_t i) {
    return !rel.columns[i].key && rel.columns[i].write && !m.new_tuple[i].is_unchanged_toast();
  };

  detail::net_table& table = net_table_for(oid);
  const std::size_t at = table.index.find(key);
  if (at != detail::key_index::npos) {
    net_entry& e = table.entries[at];
    // An update of a row the group deleted: keep the order.
    if (e.op == net_op::none || e.op == net_op::remove) return step::flush_first;
    if (table.unused > max_net_unused) return step::flush_first;
    for (std::size_t i = 0; i < width; ++i) {
      if (changed(i))
        table.unused += table.values.set(at * width + i, detail::text_of(m.new_tuple[i], rel, i));
    }
    ++group_changes_;
    ++group_statements_;
    return step::done;
  }
  if (!any) return step::done;  // nothing the target does not already have
  if (table.entries.size() + 1 >= max_net_entries) return step::flush_first;
  for (std::size_t i = 0; i < width; ++i) {
    if (rel.columns[i].key) {
      table.values.push(detail::text_of(key_value(i), rel, i));
    } else if (changed(i)) {
      table.values.push(detail::text_of(m.new_tuple[i], rel, i));
    } else {
      table.values.push_unset();
    }
  }
  add_net_entry(table, key, net_entry{net_op::update});
  return step::done;
}

applier::step applier::net_delete_now(const pgo::delete_message& m) {
  const std::uint32_t oid = m.relation_oid;
  const auto& rel = relation(oid);
  const std::size_t width = rel.columns.size();
  std::string& key = key_scratch_;
  key.clear();
  for (std::size_t i = 0; i < width; ++i) {
    if (!rel.columns[i].key) continue;
    const auto& v = m.old_tuple[i];
    if (v.is_null()) {
      fail("table " + rel.qualified + ": a DELETE without its key (column " + rel.columns[i].name +
           ")");
    }
    append_key(key, v);
  }

  detail::net_table& table = net_table_for(oid);
  const std::size_t at = table.index.find(key);
  if (at != detail::key_index::npos) {
    net_entry& e = table.entries[at];
    if (e.op == net_op::none || e.op == net_op::remove) return step::flush_first;
    if (table.unused > max_net_unused) return step::flush_first;
    // Inserted in the group: as if never there. Otherwise it existed before: delete it.
    e.op = e.op == net_op::insert ? net_op::none : net_op::remove;
    // The key's value stays as it is (the same key); nothing else.
    for (std::size_t i = 0; i < width; ++i) {
      if (rel.columns[i].key) continue;
      table.unused += table.values.set(at * width + i, std::nullopt);
      table.values.reset(at * width + i);
    }
    ++group_changes_;
    ++group_statements_;
    return step::done;
  }
  if (table.entries.size() + 1 >= max_net_entries) return step::flush_first;
  for (std::size_t i = 0; i < width; ++i) {
    if (rel.columns[i].key) {
      table.values.push(detail::text_of(m.old_tuple[i], rel, i));
    } else {
      table.values.push_unset();
    }
  }
  add_net_entry(table, key, net_entry{net_op::remove});
  return step::done;
}

asio::awaitable<void> applier::net_insert(const pgo::insert_message& m) {
  while (net_insert_now(m) == step::flush_first)
    co_await flush_net(m.relation_oid);
}

asio::awaitable<bool> applier::net_update(const pgo::update_message& m) {
  for (;;) {
    const step s = net_update_now(m);
    if (s != step::flush_first) co_return s == step::done;
    co_await flush_net(m.relation_oid);
  }
}

asio::awaitable<void> applier::net_delete(const pgo::delete_message& m) {
  while (net_delete_now(m) == step::flush_first)
    co_await flush_net(m.relation_oid);
}

detail::net_table& applier::net_table_for(std::uint32_t oid) {
  auto [it, fresh] = net_.try_emplace(oid);
  if (fresh) {
    it->second = std::move(net_spare_);
    net_spare_ = detail::net_table{};
    net_order_.push_back(oid);
  }
  return it->second;
}

void applier::add_net_entry(detail::net_table& table, std::string_view key, net_entry row) {
  table.index.insert(key, table.entries.size());
  table.entries.push_back(std::move(row));
  ++group_changes_;
  ++group_statements_;
  touch_group();
}

asio::awaitable<void> applier::flush_all_net() {
  while (!net_order_.empty())
    co_await flush_net(net_order_.front());
}

asio::awaitable<void> applier::flush_net(std::uint32_t oid) {
  auto found = net_.find(oid);
  if (found == net_.end()) co_return;
  detail::net_table t = std::move(found->second);
  net_.erase(found);
  net_order_.erase(std::remove(net_order_.begin(), net_order_.end(), oid), net_order_.end());
  if (t.entries.empty()) co_return;

  // Deletes first (a replaced key is deleted, then inserted), then updates, then inserts.
  std::vector<std::size_t> deletes;
  std::map<std::string, std::vector<std::size_t>> updates;  // by changed columns
  detail::insert_run inserts = new_insert_run(oid);
  inserts.counted = true;
  const auto& rel = relation(oid);
  const std::size_t width = rel.columns.size();
  std::string shape;
  for (std::size_t k = 0; k < t.entries.size(); ++k) {
    const net_op op = t.entries[k].op;
    if (op == net_op::remove || op == net_op::replace) deletes.push_back(k);
    if (op == net_op::update) {
      shape.clear();
      for (std::size_t i = 0; i < width; ++i)
        shape += !rel.columns[i].key && t.values.is_set(k * width + i) ? '1' : '0';
      auto u = updates.find(shape);
      if (u == updates.end()) u = updates.emplace(shape, std::vector<std::size_t>{}).first;
      u->second.push_back(k);
    }
    if (op != net_op::insert && op != net_op::replace) continue;
    for (std::size_t i = 0; i < width; ++i) {
      if (rel.columns[i].write) inserts.values.push_from(t.values, k * width + i);
    }
    ++inserts.rows;
  }
  if (!deletes.empty()) co_await emit_net_keyed(oid, std::string(), t, deletes);
  for (const auto& [cols, rows] : updates)
    co_await emit_net_keyed(oid, cols, t, rows);
  if (inserts.rows != 0) co_await emit_insert_run(std::move(inserts));
  // Its index and buffers serve the next table's net.
  t.index.clear();
  t.entries.clear();
  t.values.clear();
  t.unused = 0;
  net_spare_ = std::move(t);
}

asio::awaitable<void> applier::emit_net_keyed(std::uint32_t oid, const std::string& shape,
                                              const detail::net_table& t,
                                              const std::vector<std::size_t>& rows) {
  const auto& rel = relation(oid);
  const bool remove = shape.empty();
  const std::size_t row_width = rel.columns.size();
  std::vector<std::size_t> cols;  // the key's columns, then the ones set
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    if (rel.columns[i].key) cols.push_back(i);
  }
  const std::size_t key_width = cols.size();
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == '1') cols.push_back(i);
  }
  const std::size_t width = cols.size();
  // Each column's values as one array parameter (unnest): one statement per (table, columns
  // set) whatever the row count, prepared and planned once — a statement per row count made a
  // table with a few rows per group cost a PREPARE and a plan per count. Not when a column is an
  // array itself (unnest would flatten it): rows as VALUES then, a statement per count.
  const bool as_arrays = std::none_of(
      cols.begin(), cols.end(), [&](std::size_t c) { return rel.columns[c].cast.ends_with(']'); });
  const std::size_t max_rows =
      as_arrays ? max_array_rows
                : std::clamp<std::size_t>(detail::max_bind_params / width, 1, max_net_rows);
  const std::string qualified = rel.qualified;
  std::size_t done = 0;
  detail::packed_values values;
  while (done < rows.size()) {
    const std::size_t k = as_arrays ? std::min(rows.size() - done, max_rows)
                                    : std::bit_floor(std::min(rows.size() - done, max_rows));
    const std::string key = std::string(remove ? "ND:" : "NU:") + std::to_string(oid) + ":" +
                            std::to_string(rel.generation) + ":" + shape + ":" +
                            (as_arrays ? std::string("a") : std::to_string(k));
    std::string sql;
    if (statements_.find(key) == statements_.end()) {
      std::string vals;
      if (as_arrays) {
        vals = "unnest(";
        for (std::size_t c = 0; c < width; ++c)
          vals += (c ? ", " : "") + detail::param(c + 1, rel.columns[cols[c]]) + "[]";
        vals += ")";
      } else {
        vals = "(VALUES ";
        std::size_t n = 1;
        for (std::size_t r = 0; r < k; ++r) {
          vals += r ? ", (" : "(";
          for (std::size_t c = 0; c < width; ++c)
            vals += (c ? ", " : "") + detail::param(n++, rel.columns[cols[c]]);
          vals += ")";
        }
        vals += ")";
      }
      vals += " AS v(";
      for (std::size_t c = 0; c < width; ++c)
        vals += (c ? ", c" : "c") + std::to_string(cols[c]);
      vals += ")";
      std::string where;
      for (std::size_t c = 0; c < key_width; ++c) {
        where += (c ? " AND t." : " WHERE t.") + codecs::quote_ident(rel.columns[cols[c]].name) +
                 " = v.c" + std::to_string(cols[c]);
      }
      if (remove) {
        sql = "DELETE FROM " + qualified + " AS t USING " + vals + where;
      } else {
        sql = "UPDATE " + qualified + " AS t SET ";
        for (std::size_t c = key_width; c < width; ++c) {
          sql += (c > key_width ? ", " : "") + codecs::quote_ident(rel.columns[cols[c]].name) +
                 " = v.c" + std::to_string(cols[c]);
        }
        sql += " FROM " + vals + where;
      }
    }
    pg::statement s;
    s.sql = co_await prepared(key, std::move(sql), qualified);
    s.prepared = true;
    if (as_arrays) {
      for (std::size_t c : cols) {
        values.push_written([&](std::string& array) {
          array += '{';
          for (std::size_t r = done; r < done + k; ++r) {
            if (r != done) array += ',';
            const std::size_t v = rows[r] * row_width + c;
            detail::append_array_item(array, t.values.has_text(v)
                                                 ? std::optional<std::string_view>(t.values.text(v))
                                                 : std::nullopt);
          }
          array += '}';
        });
      }
    } else {
      for (std::size_t r = done; r < done + k; ++r) {
        for (std::size_t c : cols)
          values.push_from(t.values, rows[r] * row_width + c);
      }
    }
    values.release(s.packed, s.packed_at);
    done += k;
    co_await add(std::move(s), k, true);
  }
}

}  // namespace uringmig::engine::cdc
