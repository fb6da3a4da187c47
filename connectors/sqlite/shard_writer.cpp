#include "connectors/sqlite/shard_writer.hpp"

#include "codecs/row_batch.hpp"

#include <fmt/format.h>

#include <cctype>
#include <stdexcept>
#include <system_error>

namespace uringmig::connectors::sqlite {

namespace {

// Rows per multi-row INSERT: also bounded by SQLITE_LIMIT_VARIABLE_NUMBER at run time. More
// rows per statement saves little once the per-step cost is amortised, and a statement of
// thousands of rows costs milliseconds to prepare (measured: 64-256 rows is the sweet spot).
constexpr std::size_t max_rows_per_insert = 256;

}  // namespace

shard_writer::shard_writer(shard_writer_options o)
    : o_(std::move(o)), db_(database::open(o_.file, open_mode::read_write_create)) {
  // Page size only applies to a new file, before it switches to WAL.
  if (db_.scalar_int("pragma page_count") == 0)
    db_.exec(fmt::format("pragma page_size = {}", o_.page_size));
  // The load runs with a rollback journal unless load_wal: pages appended to the file are never
  // journaled, so each is written once (WAL writes every page twice: the log, then the
  // checkpoint). A kill -9 still rolls back to the last commit. finish() switches to WAL. The
  // journal is truncated at each commit, not deleted: no file created and unlinked per
  // transaction (measured: 4 % faster at 1M rows into 11 files, 9 % for a tiny table).
  // Shared: other processes' chunks wait for the file's lock at most one chunk's copy each;
  // a file another worker finished (WAL) keeps its mode.
  if (o_.shared) db_.exec("pragma busy_timeout = 600000");
  const bool finished_elsewhere = o_.shared && db_.scalar_text("pragma journal_mode") == "wal";
  db_.exec(
      fmt::format("{}pragma synchronous = off; pragma cache_size = -{}; pragma temp_store = file",
                  finished_elsewhere ? ""
                  : o_.load_wal      ? "pragma journal_mode = wal; "
                                     : "pragma journal_mode = truncate; ",
                  o_.cache_mib * 1024));
  db_.exec(
      "create table if not exists _uringmig_chunks(tbl text not null, chunk_no integer not null, "
      "rows integer not null, end_row integer not null, primary key(tbl, chunk_no)) without "
      "rowid; "
      "create table if not exists _uringmig_meta(tbl text not null, key text not null, value "
      "text, primary key(tbl, key)) without rowid");
  {
    statement s = db_.prepare("select value from _uringmig_meta where tbl = ?1 and key = 'job'");
    s.bind_text(1, o_.table);
    if (s.step() && s.column_text(0) != o_.fingerprint)
      throw error(fmt::format("{} holds table {} from a different job (source, shard key or "
                              "shard count differ)",
                              o_.file.string(), o_.table),
                  SQLITE_MISMATCH, SQLITE_MISMATCH);
  }
  {
    statement s = db_.prepare("select chunk_no, end_row from _uringmig_chunks where tbl = ?1");
    s.bind_text(1, o_.table);
    while (s.step()) {
      done_.insert(static_cast<int>(s.column_int64(0)));
      table_rows_ = std::max(table_rows_, s.column_int64(1));
    }
  }
  statement exists = db_.prepare("select 1 from sqlite_schema where type = 'table' and name = ?1");
  exists.bind_text(1, o_.table);
  db_.exec(o_.shared ? "begin immediate" : "begin");
  if (!exists.step()) db_.exec(o_.create_sql);
  exists.reset();
  set_meta("job", o_.fingerprint);
  set_meta("status", "loading", !o_.shared);  // shared: a finished file stays complete
  db_.exec("commit");

  params_per_row_ = o_.columns.size();
  const auto limit = static_cast<std::size_t>(db_.limit(SQLITE_LIMIT_VARIABLE_NUMBER));
  rows_per_insert_ = std::max<std::size_t>(1, limit / std::max<std::size_t>(params_per_row_, 1));
  rows_per_insert_ = std::min(rows_per_insert_, max_rows_per_insert);
  if (o_.max_rows_per_insert > 0)
    rows_per_insert_ = std::min(rows_per_insert_, static_cast<std::size_t>(o_.max_rows_per_insert));
  mark_ = db_.prepare(
      "insert or replace into _uringmig_chunks(tbl, chunk_no, rows, end_row) values (?1, ?2, ?3, "
      "?4)");
  if (o_.shared) {
    // Columns without a type: the values stay as bound until the table's own affinity applies.
    std::string cols;
    for (std::size_t i = 0; i < o_.columns.size(); ++i)
      cols += fmt::format("{}c{}", i ? ", " : "", i);
    db_.exec("create temp table if not exists uringmig_stage(" + cols + ")");
    insert_into_ = "insert into temp.uringmig_stage";
  } else {
    insert_into_ = "insert into main." + quote_ident(o_.table);
  }
  if (o_.segment_insert) setup_segments();
}

namespace {

bool deserialize(database& db, const std::string& image) {
  return sqlite3_deserialize(db.get(), "uringmig_seg",
                             reinterpret_cast<unsigned char*>(const_cast<char*>(image.data())),
                             static_cast<sqlite3_int64>(image.size()),
                             static_cast<sqlite3_int64>(image.size()),
                             SQLITE_DESERIALIZE_READONLY) == SQLITE_OK;
}

}  // namespace

void shard_writer::setup_segments() {
  // The transfer copies records as they are: the image's table must match the file's exactly
  // (its stored CREATE), with no index to maintain and no generated column to compute.
  statement q = db_.prepare(
      "select (select sql from sqlite_schema where type = 'table' and name = ?1), (select "
      "count(*) from sqlite_schema where type = 'index' and tbl_name = ?1), (select count(*) "
      "from pragma_table_xinfo(?1)), (select count(*) from sqlite_schema where type = "
      "'trigger' and tbl_name = ?1)");
  q.bind_text(1, o_.table);
  if (!q.step()) return;
  const std::string sql(q.column_text(0));
  if (q.column_int64(1) != 0 || q.column_int64(3) != 0 ||
      q.column_int64(2) != static_cast<std::int64_t>(o_.columns.size()) || sql.size() > 16000)
    return;
  statement pk = db_.prepare("select cid, type from pragma_table_info(?1) where pk > 0");
  pk.bind_text(1, o_.table);
  int pk_columns = 0;
  while (pk.step()) {
    ++pk_columns;
    std::string type(pk.column_text(1));
    for (auto& c : type)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (type == "INTEGER") alias_ = static_cast<std::size_t>(pk.column_int64(0));
  }
  if (pk_columns > 1) alias_ = SIZE_MAX;
  if (pk_columns > 0 && alias_ == SIZE_MAX) return;  // a PRIMARY KEY index: bound INSERTs
  db_.exec("attach ':memory:' as uringmig_seg");
  segment_.emplace(o_.table, sql);
  empty_image_ =
      codecs::sqlite_image_builder("uringmig_empty", "CREATE TABLE uringmig_empty(x)").build();
  values_.resize(o_.columns.size());
}

void shard_writer::insert_segment(std::string& batch, std::int64_t rows) {
  codecs::row_batch_reader in(batch);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t source_rowid = in.rowid();
    if (in.next_is_record()) {
      // A record read raw from a SQLite file with this table's schema: copied as it is (its
      // INTEGER PRIMARY KEY, if any, is the rowid, stored NULL in the record).
      segment_->add(alias_ != SIZE_MAX ? source_rowid : ++segment_seq_, in.record());
      continue;
    }
    for (auto& v : values_)
      v = in.value();
    std::int64_t rowid = 0;
    if (alias_ != SIZE_MAX) {
      if (values_[alias_].kind != codecs::value_kind::integer)
        throw error(
            fmt::format("{}: a row's INTEGER PRIMARY KEY is not an integer", o_.file.string()),
            SQLITE_MISMATCH, SQLITE_MISMATCH);
      rowid = values_[alias_].i;
    } else {
      rowid = ++segment_seq_;
    }
    record_.clear();
    codecs::append_record(record_, values_, alias_);
    segment_->add(rowid, record_);
  }
  recycle(std::move(batch));
}

void shard_writer::flush_segment(const std::string& into) {
  if (!segment_ || segment_->rows() == 0) return;
  const std::string& image = segment_->build();
  if (!deserialize(db_, image))
    throw error(db_.message("loading a segment image", SQLITE_ERROR), SQLITE_ERROR, SQLITE_ERROR);
  // Prepared against this image's schema (root pages differ from image to image).
  statement transfer = db_.prepare((into.empty() ? insert_into_ : into) +
                                   " select * from uringmig_seg." + quote_ident(o_.table));
  transfer.run();
  rows_written_ += static_cast<std::int64_t>(segment_->rows());
  segment_->clear();
  segment_seq_ = 0;
}

void shard_writer::set_meta(std::string_view key, std::string_view value, bool replace) {
  statement s = db_.prepare(
      fmt::format("insert or {} into _uringmig_meta(tbl, key, value) values (?1, ?2, ?3)",
                  replace ? "replace" : "ignore"));
  s.bind_text(1, o_.table);
  s.bind_text(2, key);
  s.bind_text(3, value);
  s.run();
}

void shard_writer::clear_unfinished(const std::vector<chunk_range>& ranges) {
  // Shared: rows reach the table only with their chunk's mark, so none is unfinished (and what
  // looks so may be another process's chunk in flight).
  if (o_.shared) return;
  const std::string t = quote_ident(o_.table);
  db_.exec("begin");
  switch (o_.resume) {
    case shard_writer_options::resume_by::sequential: {
      statement s = db_.prepare("delete from " + t + " where rowid > ?1");
      s.bind_int64(1, table_rows_);
      s.run();
      break;
    }
    case shard_writer_options::resume_by::whole:
      if (done_.empty()) db_.exec("delete from " + t);
      break;
    case shard_writer_options::resume_by::ranges: {
      statement s = db_.prepare("delete from " + t + " where rowid between ?1 and ?2");
      for (const auto& r : ranges) {
        if (done_.count(r.chunk_no)) continue;
        s.bind_int64(1, r.lo);
        s.bind_int64(2, r.hi);
        s.run();
      }
      break;
    }
  }
  db_.exec("commit");
}

void shard_writer::begin_if_needed() {
  if (!in_tx_) {
    db_.exec("begin");
    in_tx_ = true;
  }
}

statement& shard_writer::insert_statement(std::size_t rows) {
  auto it = inserts_.find(rows);
  if (it != inserts_.end()) return it->second;
  std::string sql = insert_into_;
  if (!o_.shared) {  // the staging table has the batch's columns in order
    sql += "(";
    bool first = true;
    for (const auto& c : o_.columns) {
      if (!first) sql += ", ";
      sql += quote_ident(c);
      first = false;
    }
    sql += ")";
  }
  sql += " values ";
  std::string one = "(";
  for (std::size_t i = 0; i < params_per_row_; ++i)
    one += i ? ",?" : "?";
  one += ")";
  sql.reserve(sql.size() + rows * (one.size() + 1));
  for (std::size_t r = 0; r < rows; ++r) {
    if (r) sql += ',';
    sql += one;
  }
  return inserts_.emplace(rows, db_.prepare(sql)).first->second;
}

void shard_writer::run_rows(std::size_t count) {
  statement& s = insert_statement(count);
  sqlite3_stmt* st = s.get();
  const std::size_t ncols = o_.columns.size();
  // Bind `count` rows from the cursor on, across batches; the batches stay until the step ran.
  std::size_t bi = 0;
  const char* pos = cursor_;
  std::size_t left_in_batch = batches_[0].rows_left;
  int p = 1;
  int rc = SQLITE_OK;
  for (std::size_t r = 0; r < count; ++r) {
    if (left_in_batch == 0) {
      ++bi;
      pos = batches_[bi].bytes.data();
      left_in_batch = batches_[bi].rows_left;
    }
    codecs::row_batch_reader in(std::string_view(pos, SIZE_MAX / 2));
    (void)in.rowid();  // the source's; rowids here follow resume_by
    if (in.next_is_record())
      throw std::logic_error("shard_writer: a raw record reached a table loaded by INSERTs");
    for (std::size_t c = 0; c < ncols; ++c, ++p) {
      const codecs::value_view v = in.value();
      switch (v.kind) {
        case codecs::value_kind::null:
          rc |= sqlite3_bind_null(st, p);
          break;
        case codecs::value_kind::integer:
          rc |= sqlite3_bind_int64(st, p, v.i);
          break;
        case codecs::value_kind::real:
          rc |= sqlite3_bind_double(st, p, v.r);
          break;
        case codecs::value_kind::text:
          rc |= sqlite3_bind_text64(st, p, v.bytes.data(), v.bytes.size(), SQLITE_STATIC,
                                    SQLITE_UTF8);
          break;
        case codecs::value_kind::blob:
          rc |= sqlite3_bind_blob64(st, p, v.bytes.data(), v.bytes.size(), SQLITE_STATIC);
          break;
      }
    }
    pos = in.position();
    --left_in_batch;
  }
  if (rc != SQLITE_OK)
    throw error(db_.message("binding a row", rc), rc & 0xff, sqlite3_extended_errcode(db_.get()));
  s.step();
  s.reset();
  // Release the batches whose rows all ran; the cursor moves on.
  auto release = [this] {
    if (o_.recycle) o_.recycle(std::move(batches_.front().bytes));
    batches_.pop_front();
  };
  for (std::size_t i = 0; i < bi; ++i)
    release();
  batches_.front().rows_left = left_in_batch;
  if (left_in_batch == 0) {
    release();
    cursor_ = batches_.empty() ? nullptr : batches_.front().bytes.data();
  } else {
    cursor_ = pos;
  }
  pending_ -= count;
  rows_written_ += static_cast<std::int64_t>(count);
}

void shard_writer::insert(std::string batch, std::int64_t rows) {
  if (rows <= 0) return;
  begin_if_needed();
  if (segment_) {
    insert_segment(batch, rows);
    rows_in_tx_ += rows;
    return;
  }
  batches_.push_back(held_batch{std::move(batch), static_cast<std::size_t>(rows)});
  if (batches_.size() == 1) cursor_ = batches_.front().bytes.data();
  pending_ += static_cast<std::size_t>(rows);
  rows_in_tx_ += rows;
  while (pending_ >= rows_per_insert_)
    run_rows(rows_per_insert_);
}

void shard_writer::flush_pending() {
  // The remainder in statements of power-of-two sizes (few distinct statements to prepare).
  while (pending_ > 0) {
    std::size_t n = 1;
    while (n * 2 <= pending_ && n * 2 < rows_per_insert_)
      n *= 2;
    run_rows(n);
  }
}

void shard_writer::end_chunk(int chunk_no, std::int64_t rows) {
  if (o_.shared) {
    publish(chunk_no, rows);
    return;
  }
  begin_if_needed();
  mark_.bind_text(1, o_.table);
  mark_.bind_int64(2, chunk_no);
  mark_.bind_int64(3, rows);
  // With resume_by::sequential this file's rowids run 1..end_row after this chunk.
  const std::int64_t buffered = static_cast<std::int64_t>(pending_) +
                                (segment_ ? static_cast<std::int64_t>(segment_->rows()) : 0);
  mark_.bind_int64(4, table_rows_ + rows_written_ + buffered);
  mark_.run();
  ended_.push_back(chunk_no);
}

std::vector<int> shard_writer::maybe_commit() {
  // A segment is copied and committed as soon as it is full (an image can only be swapped
  // between transactions); rows of an unfinished chunk may commit without its mark (shared:
  // into the staging table).
  if (segment_ && segment_->bytes() >= o_.segment_bytes) return commit();
  if (rows_in_tx_ < o_.commit_rows && !(o_.shared && !ended_.empty())) return {};
  return commit();
}

void shard_writer::commit_tx() {
  if (!in_tx_) return;
  flush_pending();
  flush_segment();
  db_.exec("commit");
  in_tx_ = false;
  release_segment_image();
  rows_in_tx_ = 0;
}

void shard_writer::release_segment_image() {
  if (segment_ && !deserialize(db_, empty_image_))
    throw error(db_.message("releasing a segment image", SQLITE_ERROR), SQLITE_ERROR, SQLITE_ERROR);
}

std::vector<int> shard_writer::commit() {
  commit_tx();
  std::lock_guard lk(done_mu_);
  for (int c : ended_)
    done_.insert(c);
  return std::exchange(ended_, {});
}

void shard_writer::publish(int chunk_no, std::int64_t rows) {
  // Bound rows and full segments wait in the staging table; the chunk's last segment (a whole
  // chunk's share of a file, mostly) goes from its image straight into the table below: its
  // rows are written once, not twice.
  if (in_tx_) {
    flush_pending();
    db_.exec("commit");
    in_tx_ = false;
    rows_in_tx_ = 0;
  }
  // The mark first: a write as the transaction's first statement takes the file's write lock,
  // waiting (busy_timeout) while another process holds it (BEGIN IMMEDIATE would also want
  // the read-only segment image attached here). Not new: another process's copy of this chunk
  // is in already, and this one goes.
  db_.exec("begin");
  try {
    statement mark = db_.prepare(
        "insert or ignore into _uringmig_chunks(tbl, chunk_no, rows, end_row) values (?1, ?2, "
        "?3, 0)");
    mark.bind_text(1, o_.table);
    mark.bind_int64(2, chunk_no);
    mark.bind_int64(3, rows);
    mark.run();
    if (db_.changes() > 0) {
      std::string cols;
      for (const auto& c : o_.columns)
        cols += (cols.empty() ? "" : ", ") + quote_ident(c);
      const std::string into = "insert into main." + quote_ident(o_.table) + "(" + cols + ")";
      db_.exec(into + " select * from temp.uringmig_stage order by rowid");
      flush_segment(into);
      statement end =
          db_.prepare("update _uringmig_chunks set end_row = ?3 where tbl = ?1 and chunk_no = ?2");
      end.bind_text(1, o_.table);
      end.bind_int64(2, chunk_no);
      end.bind_int64(3, db_.last_insert_rowid());
      end.run();
    } else if (segment_) {  // another process's copy of the chunk is in: this one goes
      rows_written_ += static_cast<std::int64_t>(segment_->rows());
      segment_->clear();
      segment_seq_ = 0;
    }
    db_.exec("delete from temp.uringmig_stage");
    db_.exec("commit");
  } catch (...) {
    try {
      db_.exec("rollback");
    } catch (const error&) {  // rolled back already (SQLite ends some failed transactions)
    }
    throw;
  }
  release_segment_image();
  ended_.push_back(chunk_no);
}

void shard_writer::finish() {
  commit();
  // Index builds sort in memory up to the cache size and spill the rest to temporary files
  // (temp_store = file: memory stays bounded whatever the table's size). A bigger cache for
  // this step means fewer merge passes.
  if (!o_.index_sql.empty())
    db_.exec(fmt::format("pragma cache_size = -{}", std::max(o_.cache_mib, 16) * 1024));
  for (const auto& sql : o_.index_sql)
    db_.exec(sql);
  if (o_.shared) {
    // Complete before WAL: a process that opens the file meanwhile finds it finished.
    db_.exec("begin");
    set_meta("status", "complete");
    db_.exec("commit");
  }
  // Through delete: a switch from truncate straight to WAL would leave the empty journal behind.
  db_.exec("pragma journal_mode = delete; pragma journal_mode = wal; pragma synchronous = normal");
  db_.exec("begin");
  set_meta("status", "complete");
  db_.exec("commit");
  db_.exec("pragma wal_checkpoint(truncate)");
}

}  // namespace uringmig::connectors::sqlite
