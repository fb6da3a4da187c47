#include "codecs/sqlite_image.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace uringmig::codecs {

namespace {

constexpr std::uint32_t sqlite_version_number = 3040001;

int varint_len(std::uint64_t v) {
  if (v <= 0x7f) return 1;
  if (v > 0x00ffffffffffffffull) return 9;
  int n = 1;
  while (v > 0x7f) {
    v >>= 7;
    ++n;
  }
  return n;
}

/// Writes a SQLite varint at p; returns its length.
int put_varint(std::uint8_t* p, std::uint64_t v) {
  if (v > 0x00ffffffffffffffull) {
    p[8] = static_cast<std::uint8_t>(v);
    v >>= 8;
    for (int i = 7; i >= 0; --i) {
      p[i] = static_cast<std::uint8_t>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    return 9;
  }
  std::uint8_t tmp[10];
  int n = 0;
  do {
    tmp[n++] = static_cast<std::uint8_t>((v & 0x7f) | 0x80);
    v >>= 7;
  } while (v);
  tmp[0] &= 0x7f;
  for (int i = 0; i < n; ++i)
    p[i] = tmp[n - 1 - i];
  return n;
}

void append_varint(std::string& out, std::uint64_t v) {
  std::uint8_t b[9];
  const int n = put_varint(b, v);
  out.append(reinterpret_cast<const char*>(b), static_cast<std::size_t>(n));
}

void put16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

/// Serial type and body length of an integer (smallest that holds it).
std::pair<std::uint64_t, int> int_type(std::int64_t v) {
  if (v == 0) return {8, 0};
  if (v == 1) return {9, 0};
  if (v >= -128 && v <= 127) return {1, 1};
  if (v >= -32768 && v <= 32767) return {2, 2};
  if (v >= -8388608 && v <= 8388607) return {3, 3};
  if (v >= -2147483648ll && v <= 2147483647ll) return {4, 4};
  if (v >= -140737488355328ll && v <= 140737488355327ll) return {5, 6};
  return {6, 8};
}

}  // namespace

void append_record(std::string& out, const std::vector<value_view>& values,
                   std::size_t null_column) {
  // Header: its own size (a varint counting itself), then one serial type per value.
  std::uint64_t types_len = 0;
  std::uint64_t types[64];
  std::vector<std::uint64_t> many;
  std::uint64_t* t = values.size() <= 64 ? types : (many.resize(values.size()), many.data());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const value_view& v = values[i];
    std::uint64_t st = 0;
    if (i == null_column) {
      st = 0;
    } else {
      switch (v.kind) {
        case value_kind::null:
          st = 0;
          break;
        case value_kind::integer:
          st = int_type(v.i).first;
          break;
        case value_kind::real:
          st = 7;
          break;
        case value_kind::text:
          st = v.bytes.size() * 2 + 13;
          break;
        case value_kind::blob:
          st = v.bytes.size() * 2 + 12;
          break;
      }
    }
    t[i] = st;
    types_len += static_cast<std::uint64_t>(varint_len(st));
  }
  std::uint64_t header = types_len + 1;  // the size counts its own varint
  while (types_len + static_cast<std::uint64_t>(varint_len(header)) != header)
    header = types_len + static_cast<std::uint64_t>(varint_len(header));
  append_varint(out, header);
  for (std::size_t i = 0; i < values.size(); ++i)
    append_varint(out, t[i]);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const value_view& v = values[i];
    if (t[i] == 0 || t[i] == 8 || t[i] == 9) continue;
    if (v.kind == value_kind::integer) {
      const int len = int_type(v.i).second;
      auto u = static_cast<std::uint64_t>(v.i);
      char b[8];
      for (int k = len - 1; k >= 0; --k) {
        b[k] = static_cast<char>(u & 0xff);
        u >>= 8;
      }
      out.append(b, static_cast<std::size_t>(len));
    } else if (v.kind == value_kind::real) {
      std::uint64_t u;
      std::memcpy(&u, &v.r, sizeof u);
      char b[8];
      for (int k = 7; k >= 0; --k) {
        b[k] = static_cast<char>(u & 0xff);
        u >>= 8;
      }
      out.append(b, 8);
    } else {
      out.append(v.bytes);
    }
  }
}

sqlite_image_builder::sqlite_image_builder(std::string table, std::string create_sql,
                                           std::uint32_t page_size)
    : table_(std::move(table)), create_sql_(std::move(create_sql)), page_size_(page_size) {
  if (page_size_ < 512 || page_size_ > 65536 || (page_size_ & (page_size_ - 1)))
    throw std::invalid_argument("sqlite_image_builder: bad page size");
}

void sqlite_image_builder::add(std::int64_t rowid, std::string_view record) {
  index_.push_back({rowid, records_.size(), record.size()});
  records_.append(record);
}

void sqlite_image_builder::clear() {
  records_.clear();
  index_.clear();
}

std::uint32_t sqlite_image_builder::new_page() {
  ++pages_;
  image_.resize(static_cast<std::size_t>(pages_) * page_size_, '\0');
  return pages_;
}

std::uint8_t* sqlite_image_builder::page_ptr(std::uint32_t no) {
  return reinterpret_cast<std::uint8_t*>(image_.data()) +
         static_cast<std::size_t>(no - 1) * page_size_;
}

std::size_t sqlite_image_builder::cell_size(std::size_t payload) const {
  // Local part of a table-leaf payload (fileformat2.html): all of it up to U-35 bytes, else
  // between M and U-35 with the rest on overflow pages (plus the 4-byte first-overflow pointer).
  const std::size_t u = page_size_;
  const std::size_t x = u - 35;
  if (payload <= x) return payload;
  const std::size_t m = ((u - 12) * 32 / 255) - 23;
  const std::size_t k = m + ((payload - m) % (u - 4));
  return (k <= x ? k : m) + 4;
}

std::uint32_t sqlite_image_builder::write_leaves() {
  std::vector<std::pair<std::uint32_t, std::int64_t>> leaves;  // page, largest rowid
  std::uint32_t page = 0;
  std::size_t cells = 0, content = 0;
  auto start_leaf = [&] {
    page = new_page();
    cells = 0;
    content = page_size_;
    page_ptr(page)[0] = 0x0D;
  };
  auto finish_leaf = [&](std::int64_t last_rowid) {
    std::uint8_t* p = page_ptr(page);
    put16(p + 3, static_cast<std::uint32_t>(cells));
    put16(p + 5, static_cast<std::uint32_t>(content == 65536 ? 0 : content));
    leaves.emplace_back(page, last_rowid);
  };
  std::sort(index_.begin(), index_.end(),
            [](const entry& a, const entry& b) { return a.rowid < b.rowid; });
  start_leaf();
  for (std::size_t i = 0; i < index_.size(); ++i) {
    const entry& e = index_[i];
    const std::size_t local = cell_size(e.size);
    const std::size_t need =
        static_cast<std::size_t>(varint_len(e.size)) +
        static_cast<std::size_t>(varint_len(static_cast<std::uint64_t>(e.rowid))) + local;
    if (8 + 2 * (cells + 1) + need > content) {
      finish_leaf(index_[i - 1].rowid);
      start_leaf();
    }
    content -= need;
    std::uint8_t* p = page_ptr(page);
    put16(p + 8 + 2 * cells, static_cast<std::uint32_t>(content));
    ++cells;
    std::uint8_t* c = p + content;
    c += put_varint(c, e.size);
    c += put_varint(c, static_cast<std::uint64_t>(e.rowid));
    const auto* rec = reinterpret_cast<const std::uint8_t*>(records_.data() + e.offset);
    if (local == e.size) {
      std::memcpy(c, rec, e.size);
      continue;
    }
    // Overflow: the local part, the first overflow page's number, the rest in a chain.
    const std::size_t here = local - 4;
    std::memcpy(c, rec, here);
    std::size_t done = here;
    std::size_t pointer_at = static_cast<std::size_t>(c + here - page_ptr(page)) +
                             static_cast<std::size_t>(page - 1) * page_size_;
    while (done < e.size) {
      const std::uint32_t ov = new_page();  // may move image_: use offsets, not pointers
      put32(reinterpret_cast<std::uint8_t*>(image_.data()) + pointer_at, ov);
      const std::size_t take = std::min<std::size_t>(e.size - done, page_size_ - 4);
      std::memcpy(page_ptr(ov) + 4, rec + done, take);
      done += take;
      pointer_at = static_cast<std::size_t>(ov - 1) * page_size_;
    }
  }
  finish_leaf(index_.empty() ? 0 : index_.back().rowid);
  return write_interior(std::move(leaves));
}

std::uint32_t sqlite_image_builder::write_interior(
    std::vector<std::pair<std::uint32_t, std::int64_t>> level) {
  // Children per interior page at most: cells of 4 + up to 9 bytes and a 2-byte pointer, plus
  // the right-most child. Spread evenly, so no page is left with a lone right pointer.
  const std::size_t per_page = (page_size_ - 12) / 15 + 1;
  while (level.size() > 1) {
    std::vector<std::pair<std::uint32_t, std::int64_t>> up;
    const std::size_t pages = (level.size() + per_page - 1) / per_page;
    std::size_t i = 0;
    for (std::size_t pg = 0; pg < pages; ++pg) {
      const std::size_t count = level.size() / pages + (pg < level.size() % pages ? 1 : 0);
      const std::uint32_t page = new_page();
      std::uint8_t* p = page_ptr(page);
      p[0] = 0x05;
      std::size_t content = page_size_;
      for (std::size_t c = 0; c + 1 < count; ++c, ++i) {
        const std::size_t need =
            4 + static_cast<std::size_t>(varint_len(static_cast<std::uint64_t>(level[i].second)));
        content -= need;
        put16(p + 12 + 2 * c, static_cast<std::uint32_t>(content));
        put32(p + content, level[i].first);
        put_varint(p + content + 4, static_cast<std::uint64_t>(level[i].second));
      }
      put32(p + 8, level[i].first);
      put16(p + 3, static_cast<std::uint32_t>(count - 1));
      put16(p + 5, static_cast<std::uint32_t>(content == 65536 ? 0 : content));
      up.emplace_back(page, level[i].second);
      ++i;
    }
    level = std::move(up);
  }
  return level.front().first;
}

void sqlite_image_builder::write_schema_page(std::uint32_t root) {
  std::uint8_t* p = page_ptr(1);
  std::memcpy(p, "SQLite format 3", 16);
  put16(p + 16, page_size_ == 65536 ? 1 : page_size_);
  p[18] = 1;  // legacy (rollback journal) file format
  p[19] = 1;
  p[20] = 0;  // no reserved bytes
  p[21] = 64;
  p[22] = 32;
  p[23] = 32;
  put32(p + 24, 1);  // change counter
  put32(p + 28, pages_);
  put32(p + 40, ++generation_);  // schema cookie: differs per image, so cached plans re-prepare
  put32(p + 44, 4);              // schema format 4
  put32(p + 56, 1);              // UTF-8
  put32(p + 92, 1);              // version-valid-for = change counter: the size at 28 is valid
  put32(p + 96, sqlite_version_number);
  // sqlite_schema: one row (type, name, tbl_name, rootpage, sql) in a leaf at offset 100.
  std::string rec;
  std::vector<value_view> v(5);
  v[0].kind = value_kind::text;
  v[0].bytes = "table";
  v[1].kind = value_kind::text;
  v[1].bytes = table_;
  v[2].kind = value_kind::text;
  v[2].bytes = table_;
  v[3].kind = value_kind::integer;
  v[3].i = root;
  v[4].kind = value_kind::text;
  v[4].bytes = create_sql_;
  append_record(rec, v);
  const std::size_t need = static_cast<std::size_t>(varint_len(rec.size())) + 1 + rec.size();
  if (100 + 8 + 2 + need > page_size_)
    throw std::invalid_argument("sqlite_image_builder: CREATE TABLE too long for one page");
  std::uint8_t* h = p + 100;
  h[0] = 0x0D;
  put16(h + 3, 1);
  const std::size_t content = page_size_ - need;
  put16(h + 5, static_cast<std::uint32_t>(content));
  put16(h + 8, static_cast<std::uint32_t>(content));
  std::uint8_t* c = p + content;
  c += put_varint(c, rec.size());
  c += put_varint(c, 1);  // rowid 1
  std::memcpy(c, rec.data(), rec.size());
}

const std::string& sqlite_image_builder::build() {
  image_.clear();
  pages_ = 0;
  image_.reserve(records_.size() + records_.size() / 8 + 2 * page_size_);
  new_page();  // page 1: the schema, written last (it needs the root page and the page count)
  const std::uint32_t root = write_leaves();
  write_schema_page(root);
  return image_;
}

}  // namespace uringmig::codecs
