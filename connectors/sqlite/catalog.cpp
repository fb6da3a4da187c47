#include "connectors/sqlite/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

namespace uringmig::connectors::sqlite {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::optional<std::size_t> table_info::find_column(std::string_view column) const {
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == column) return i;
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (iequals(columns[i].name, column)) return i;
  return std::nullopt;
}

std::vector<std::string> list_tables(const database& db) {
  // pragma table_list (SQLite 3.37) tells a virtual table's shadow tables from ordinary ones.
  statement s = db.prepare(
      "select name from pragma_table_list where schema = 'main' and type = 'table' and name not "
      "like 'sqlite\\_%' escape '\\' and name not in ('_uringmig_chunks', '_uringmig_meta') "
      "order by name");
  std::vector<std::string> out;
  while (s.step())
    out.emplace_back(s.column_text(0));
  return out;
}

std::vector<virtual_table> list_virtual_tables(const database& db) {
  std::vector<virtual_table> out;
  {
    statement s = db.prepare(
        "select l.name, coalesce(m.sql, '') from pragma_table_list l left join sqlite_schema m "
        "on m.type = 'table' and m.name = l.name where l.schema = 'main' and l.type = 'virtual' "
        "order by l.name");
    while (s.step()) {
      virtual_table v;
      v.name = s.column_text(0);
      // "CREATE VIRTUAL TABLE x USING fts5(...)": the word after USING.
      const std::string sql(s.column_text(1));
      std::string upper = sql;
      std::transform(upper.begin(), upper.end(), upper.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      const auto using_at = upper.find(" USING ");
      if (using_at != std::string::npos) {
        std::size_t b = using_at + 7;
        while (b < sql.size() && sql[b] == ' ')
          ++b;
        std::size_t e = b;
        while (e < sql.size() &&
               (std::isalnum(static_cast<unsigned char>(sql[e])) || sql[e] == '_'))
          ++e;
        v.module = sql.substr(b, e - b);
      }
      out.push_back(std::move(v));
    }
  }
  // A shadow table is named after its virtual table: "<name>_<suffix>".
  statement s = db.prepare(
      "select name from pragma_table_list where schema = 'main' and type = 'shadow' order by name");
  while (s.step()) {
    const std::string shadow(s.column_text(0));
    virtual_table* owner = nullptr;
    for (auto& v : out)
      if (shadow.size() > v.name.size() + 1 && shadow.compare(0, v.name.size(), v.name) == 0 &&
          shadow[v.name.size()] == '_' && (!owner || v.name.size() > owner->name.size()))
        owner = &v;
    if (owner) owner->shadow_tables.push_back(shadow);
  }
  return out;
}

table_info describe_table(const database& db, const std::string& name) {
  table_info t;
  t.name = name;
  {
    statement s = db.prepare("select sql from sqlite_schema where type = 'table' and name = ?1");
    s.bind_text(1, name);
    if (!s.step()) throw error("no table " + name + " in " + db.path().string(), SQLITE_ERROR, 0);
    t.create_sql = std::string(s.column_text(0));
  }
  {
    // table_xinfo also lists generated columns (hidden 2 = virtual, 3 = stored): they are
    // not copied (the target's CREATE TABLE recomputes them) but change where values sit in
    // a stored record.
    statement s = db.prepare(
        "select name, type, pk, dflt_value is not null, hidden from pragma_table_xinfo(?1) order "
        "by cid");
    s.bind_text(1, name);
    while (s.step()) {
      if (s.column_int64(4) != 0) {
        t.has_generated_columns = true;
        continue;
      }
      column_info c;
      c.name = std::string(s.column_text(0));
      c.declared_type = std::string(s.column_text(1));
      c.pk = static_cast<int>(s.column_int64(2));
      c.has_default = s.column_int64(3) != 0;
      t.columns.push_back(std::move(c));
    }
  }
  {
    statement s =
        db.prepare("select rootpage from sqlite_schema where type = 'table' and name = ?1");
    s.bind_text(1, name);
    if (s.step()) t.root_page = static_cast<std::uint32_t>(s.column_int64(0));
  }
  {
    statement s = db.prepare(
        "select sql from sqlite_schema where type = 'index' and tbl_name = ?1 and sql is not null "
        "order by name");
    s.bind_text(1, name);
    while (s.step())
      t.index_sql.emplace_back(s.column_text(0));
  }
  {
    statement s = db.prepare(
        "select count(*) from sqlite_schema where type = 'index' and tbl_name = ?1 and sql is "
        "null");
    s.bind_text(1, name);
    t.has_constraint_index = s.step() && s.column_int64(0) > 0;
  }
  {
    statement s = db.prepare("select wr from pragma_table_list(?1) where schema = 'main'");
    s.bind_text(1, name);
    t.without_rowid = s.step() && s.column_int64(0) != 0;
  }
  if (!t.without_rowid) {
    int pk_columns = 0;
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
      if (t.columns[i].pk == 0) continue;
      ++pk_columns;
      if (iequals(t.columns[i].declared_type, "INTEGER")) t.rowid_alias = i;
    }
    if (pk_columns != 1) t.rowid_alias.reset();
    for (const char* candidate : {"rowid", "_rowid_", "oid"}) {
      if (!t.find_column(candidate)) {
        t.rowid_name = candidate;
        break;
      }
    }
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(db.path(), ec);
  t.bytes = ec ? 0 : static_cast<std::int64_t>(size);
  const std::string q = quote_ident(name);
  if (!t.rowid_name.empty()) {
    // Two subqueries: each min/max walks one edge of the b-tree (one query computing both scans
    // the table); count(*) would read every page.
    statement s = db.prepare("select (select min(" + t.rowid_name + ") from " + q +
                             "), (select max(" + t.rowid_name + ") from " + q + ")");
    if (s.step() && s.column_type(0) != SQLITE_NULL) {
      t.min_rowid = s.column_int64(0);
      t.max_rowid = s.column_int64(1);
      // The span counts the rows when rowids are dense. Sparse ones (hashed or time-based ids)
      // span far more than the file can hold: at most one row per 4 bytes (the smallest cell
      // with its pointer). Wide arithmetic:
      // the span of two int64 rowids can exceed int64.
      __extension__ using wide = __int128;
      const wide span = static_cast<wide>(t.max_rowid) - t.min_rowid + 1;
      const wide most = std::max<wide>(1, t.bytes / 4);
      t.rows = static_cast<std::int64_t>(std::min(span, most));
      t.sparse_rowids = span > most;
      t.rows_exact = false;
    }
  } else {
    t.rows = db.scalar_int("select count(*) from " + q);
  }
  return t;
}

}  // namespace uringmig::connectors::sqlite
