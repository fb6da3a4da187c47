#include "connectors/sqlite/table_scan.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>
#include <system_error>

namespace uringmig::connectors::sqlite {

namespace {

constexpr char sqlite_magic[] = "SQLite format 3";  // 16 bytes with its terminating NUL
constexpr int max_depth = 40;

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}
std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

/// A SQLite varint (1-9 bytes, big-endian, 7 bits per byte, 8 in the ninth); false when it
/// would run past `end`.
bool varint(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t& v) {
  v = 0;
  for (int i = 0; i < 8; ++i) {
    if (p >= end) return false;
    const std::uint8_t b = *p++;
    v = (v << 7) | (b & 0x7fu);
    if (!(b & 0x80u)) return true;
  }
  if (p >= end) return false;
  v = (v << 8) | *p++;
  return true;
}

struct header_info {
  std::uint32_t page_size = 0;
  std::uint32_t reserved = 0;
  std::uint32_t encoding = 0;
};

bool read_header(const std::uint8_t* h, std::size_t size, header_info& out, std::string& why) {
  if (size < 100 || std::memcmp(h, sqlite_magic, 16) != 0) {
    why = "not a SQLite 3 file";
    return false;
  }
  out.page_size = be16(h + 16) == 1 ? 65536u : be16(h + 16);
  out.reserved = h[20];
  out.encoding = be32(h + 56);
  if (out.page_size < 512 || (out.page_size & (out.page_size - 1)) != 0) {
    why = "unexpected page size";
    return false;
  }
  if (out.encoding != 1) {
    why = "text is not UTF-8";
    return false;
  }
  if (out.page_size - out.reserved < 480) {
    why = "too many reserved bytes per page";
    return false;
  }
  return true;
}

bool contains_ci(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool eq = true;
    for (std::size_t j = 0; j < needle.size() && eq; ++j)
      eq = (hay[i + j] | 0x20) == (needle[j] | 0x20);
    if (eq) return true;
  }
  return false;
}

}  // namespace

bool has_real_affinity(std::string_view t) {
  // In rule order: INT wins, then CHAR/CLOB/TEXT (text), then BLOB or none, then REAL.
  if (contains_ci(t, "int")) return false;
  if (contains_ci(t, "char") || contains_ci(t, "clob") || contains_ci(t, "text")) return false;
  if (contains_ci(t, "blob") || t.empty()) return false;
  return contains_ci(t, "real") || contains_ci(t, "floa") || contains_ci(t, "doub");
}

bool table_scanner::usable(const std::filesystem::path& file,
                           const std::vector<scan_column>& columns, std::string& why) {
  for (const auto& c : columns)
    if (c.has_default) {
      why = "a column has a default value";
      return false;
    }
  std::error_code ec;
  const auto wal = std::filesystem::file_size(file.string() + "-wal", ec);
  if (!ec && wal > 0) {
    why = "the file has WAL content not yet checkpointed";
    return false;
  }
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = "cannot open";
    return false;
  }
  std::uint8_t h[100];
  const ssize_t n = ::pread(fd, h, sizeof h, 0);
  ::close(fd);
  header_info info;
  return n == static_cast<ssize_t>(sizeof h) && read_header(h, sizeof h, info, why);
}

table_scanner::table_scanner(const std::filesystem::path& file, std::uint32_t root_page,
                             std::vector<scan_column> columns)
    : file_(file), root_(root_page), columns_(std::move(columns)) {
  fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error("cannot open " + file.string());
  struct stat st {};
  std::uint8_t h[100];
  if (::fstat(fd_, &st) != 0 || st.st_size < 100 ||
      ::pread(fd_, h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
    ::close(fd_);
    throw std::runtime_error(file.string() + ": too small for a SQLite file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  header_info info;
  std::string why;
  if (!read_header(h, sizeof h, info, why)) {
    ::close(fd_);
    throw std::runtime_error(file.string() + ": " + why);
  }
  page_size_ = info.page_size;
  usable_ = info.page_size - info.reserved;
  pages_ = static_cast<std::uint32_t>(size_ / page_size_);
  values_.resize(columns_.size());
  levels_.resize(max_depth + 2);
}

table_scanner::~table_scanner() {
  if (fd_ >= 0) ::close(fd_);
}

void table_scanner::corrupt(const char* what) const {
  throw std::runtime_error(fmt::format("{}: malformed page ({})", file_.string(), what));
}

const std::uint8_t* table_scanner::read_page(std::uint32_t no,
                                             std::vector<std::uint8_t>& buf) const {
  if (no == 0 || no > pages_) corrupt("page number out of range");
  buf.resize(page_size_);
  const auto off = static_cast<off_t>(no - 1) * static_cast<off_t>(page_size_);
  std::size_t got = 0;
  while (got < page_size_) {
    const ssize_t n =
        ::pread(fd_, buf.data() + got, page_size_ - got, off + static_cast<off_t>(got));
    if (n <= 0) corrupt("short read");
    got += static_cast<std::size_t>(n);
  }
  return buf.data();
}

std::optional<std::int64_t> table_scanner::scan(std::int64_t lo, std::int64_t hi,
                                                const row_fn& row) {
  if (walk(root_, lo, hi, 0, row)) return std::nullopt;
  return stopped_at_;
}

bool table_scanner::walk(std::uint32_t page_no, std::int64_t lo, std::int64_t hi, int depth,
                         const row_fn& row) {
  if (depth > max_depth) corrupt("b-tree too deep (a cycle?)");
  const std::uint8_t* p = read_page(page_no, levels_[static_cast<std::size_t>(depth)]);
  const std::uint8_t* end = p + usable_;
  const std::uint8_t* hdr = p + (page_no == 1 ? 100 : 0);
  const std::uint8_t type = hdr[0];
  if (type != 5 && type != 13) corrupt("not a table b-tree page");
  const std::uint16_t cells = be16(hdr + 3);
  const std::uint8_t* ptrs = hdr + (type == 5 ? 12 : 8);
  if (ptrs + 2u * cells > end) corrupt("cell pointer array past the page");
  for (std::uint16_t i = 0; i < cells; ++i) {
    const std::uint16_t off = be16(ptrs + 2 * i);
    if (off < 8 || off >= usable_) corrupt("cell offset out of the page");
    const std::uint8_t* c = p + off;
    if (type == 5) {
      if (c + 4 > end) corrupt("interior cell past the page");
      const std::uint32_t child = be32(c);
      c += 4;
      std::uint64_t key = 0;
      if (!varint(c, end, key)) corrupt("interior key");
      const auto k = static_cast<std::int64_t>(key);
      if (k >= lo && !walk(child, lo, hi, depth + 1, row)) return false;  // rowids up to k
      if (k >= hi) return true;  // everything to the right is past hi
    } else {
      std::uint64_t size = 0, key = 0;
      if (!varint(c, end, size) || !varint(c, end, key)) corrupt("leaf cell header");
      const auto rowid = static_cast<std::int64_t>(key);
      if (rowid < lo) continue;
      if (rowid > hi) return true;
      if (!decode(rowid, payload(c, end, size), row)) {
        stopped_at_ = rowid;
        return false;
      }
    }
  }
  if (type == 5) return walk(be32(hdr + 8), lo, hi, depth + 1, row);
  return true;
}

std::string_view table_scanner::payload(const std::uint8_t* cell, const std::uint8_t* page_end,
                                        std::uint64_t size) {
  // How much of a table leaf cell's payload is on the page (fileformat2.html, "Cell Payload
  // Overflow Pages").
  const std::uint64_t u = usable_;
  const std::uint64_t x = u - 35;
  if (size <= x) {
    if (cell + size > page_end) corrupt("payload past the page");
    return {reinterpret_cast<const char*>(cell), static_cast<std::size_t>(size)};
  }
  const std::uint64_t m = ((u - 12) * 32 / 255) - 23;
  const std::uint64_t k = m + ((size - m) % (u - 4));
  const std::uint64_t local = k <= x ? k : m;
  if (cell + local + 4 > page_end) corrupt("payload past the page");
  if (size > size_) corrupt("payload larger than the file");
  overflow_.assign(reinterpret_cast<const char*>(cell), static_cast<std::size_t>(local));
  std::uint32_t next = be32(cell + local);
  std::uint32_t hops = 0;
  while (overflow_.size() < size) {
    if (next == 0 || ++hops > pages_) corrupt("overflow chain");
    const std::uint8_t* op = read_page(next, overflow_page_);
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(size - overflow_.size(), u - 4));
    overflow_.append(reinterpret_cast<const char*>(op + 4), take);
    next = be32(op);
  }
  return overflow_;
}

bool table_scanner::decode(std::int64_t rowid, std::string_view record, const row_fn& row) {
  const auto* start = reinterpret_cast<const std::uint8_t*>(record.data());
  const auto* end = start + record.size();
  const std::uint8_t* h = start;
  std::uint64_t header_size = 0;
  if (!varint(h, end, header_size) || header_size > record.size()) corrupt("record header");
  const std::uint8_t* header_end = start + header_size;
  const std::uint8_t* body = header_end;
  std::size_t col = 0;
  const std::size_t wanted = std::min(columns_.size(), decode_limit_);
  while (h < header_end && col < wanted) {
    std::uint64_t st = 0;
    if (!varint(h, header_end, st)) corrupt("record serial type");
    scan_value& v = values_[col];
    v = scan_value{};
    std::uint64_t len = 0;
    if (st >= 12) {
      len = (st - 12) / 2;
    } else if (st >= 1 && st <= 4) {
      len = st;
    } else if (st == 5) {
      len = 6;
    } else if (st == 6 || st == 7) {
      len = 8;
    } else if (st == 10 || st == 11) {
      corrupt("reserved serial type");
    }
    if (body + len > end) corrupt("record value past its payload");
    if (st == 0) {
      v.kind = codecs::value_kind::null;
    } else if (st <= 6) {
      std::int64_t n = static_cast<std::int8_t>(body[0]);  // sign from the first byte
      for (std::uint64_t b = 1; b < len; ++b)
        n = static_cast<std::int64_t>(static_cast<std::uint64_t>(n) << 8 | body[b]);
      v.kind = codecs::value_kind::integer;
      v.i = n;
    } else if (st == 7) {
      std::uint64_t bits = 0;
      for (int b = 0; b < 8; ++b)
        bits = (bits << 8) | body[b];
      double d;
      std::memcpy(&d, &bits, sizeof d);
      v.kind = codecs::value_kind::real;
      v.r = d;
    } else if (st == 8 || st == 9) {
      v.kind = codecs::value_kind::integer;
      v.i = st == 9 ? 1 : 0;
    } else {
      v.kind = (st & 1) ? codecs::value_kind::text : codecs::value_kind::blob;
      v.bytes =
          std::string_view(reinterpret_cast<const char*>(body), static_cast<std::size_t>(len));
    }
    if (columns_[col].real_affinity && v.kind == codecs::value_kind::integer) {
      v.kind = codecs::value_kind::real;
      v.r = static_cast<double>(v.i);
    }
    if (columns_[col].rowid_alias && v.kind == codecs::value_kind::null) {
      v.kind = codecs::value_kind::integer;
      v.i = rowid;
    }
    body += len;
    ++col;
  }
  // Columns added after the row was written are absent from its record: NULL (usable()
  // refused tables whose columns have defaults).
  for (; col < wanted; ++col) {
    values_[col] = scan_value{};
    if (columns_[col].rowid_alias) {
      values_[col].kind = codecs::value_kind::integer;
      values_[col].i = rowid;
    }
  }
  return row(rowid, values_, record);
}

}  // namespace uringmig::connectors::sqlite
