#include "codecs/pgoutput.hpp"

#include "codecs/pgoutput_reader.hpp"

#include <array>
#include <charconv>

namespace uringmig::codecs::pgoutput {

using detail::reader;

namespace {

constexpr std::uint32_t max_int32 = 0x7FFFFFFF;

// Field names of the old and the new TupleData, so an error says which tuple broke.
struct tuple_fields {
  const char* count;
  const char* kind;
  const char* length;
  const char* value;
};
constexpr tuple_fields old_fields{"old tuple column count", "old tuple column kind",
                                  "old tuple column length", "old tuple column value"};
constexpr tuple_fields new_fields{"new tuple column count", "new tuple column kind",
                                  "new tuple column length", "new tuple column value"};

// TupleData: Int16 count, then per column a kind byte and, for 't' / 'b', Int32 length + bytes.
// push_back (no resize from the count) keeps growth bounded by the bytes actually present.
bool read_tuple(reader& r, std::vector<column_value>& out, const tuple_fields& f) {
  out.clear();
  const std::uint16_t count = r.u16(f.count);
  for (std::uint16_t i = 0; i < count && r.ok(); ++i) {
    const std::int64_t index = i;
    const std::size_t at = r.offset();
    const std::uint8_t kind = r.u8(f.kind, index);
    switch (kind) {
      case 'n':
        out.push_back({value_kind::null, {}});
        break;
      case 'u':
        out.push_back({value_kind::unchanged_toast, {}});
        break;
      case 't':
      case 'b': {
        const std::size_t len_at = r.offset();
        const std::uint32_t len = r.u32(f.length, index);
        if (r.ok() && len > max_int32) {
          r.fail_value(f.length, len_at, len, index);
          break;
        }
        const std::string_view data = r.text(len, f.value, index);
        out.push_back({static_cast<value_kind>(kind), data});
        break;
      }
      default:
        if (r.ok()) r.fail_value(f.kind, at, kind, index);
    }
  }
  return r.ok();
}

std::optional<std::uint32_t> read_xid(reader& r, bool in_stream_block) {
  if (!in_stream_block) return std::nullopt;
  return r.u32("xid");
}

// Reads the 'N' / 'K' / 'O' tag that announces a tuple.
std::uint8_t read_tuple_tag(reader& r, const char* field, std::string_view allowed) {
  const std::size_t at = r.offset();
  const std::uint8_t tag = r.u8(field);
  if (r.ok() && allowed.find(static_cast<char>(tag)) == std::string_view::npos) {
    r.fail_value(field, at, tag);
  }
  return tag;
}

relation_message read_relation(reader& r, bool in_stream_block, decode_buffers& buf) {
  relation_message m;
  m.xid = read_xid(r, in_stream_block);
  m.oid = r.u32("relation oid");
  m.nspname = r.cstring("namespace");
  m.relname = r.cstring("relation name");
  const std::size_t ident_at = r.offset();
  const std::uint8_t ident = r.u8("replica identity");
  if (r.ok() && ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i') {
    r.fail_value("replica identity", ident_at, ident);
  }
  m.identity = static_cast<replica_identity>(ident);
  const std::uint16_t count = r.u16("column count");
  buf.relation_columns.clear();
  for (std::uint16_t i = 0; i < count && r.ok(); ++i) {
    relation_column c;
    c.flags = r.u8("column flags", i);
    c.name = r.cstring("column name", i);
    c.type_oid = r.u32("column type oid", i);
    c.type_modifier = static_cast<std::int32_t>(r.u32("column type modifier", i));
    buf.relation_columns.push_back(c);
  }
  m.columns = buf.relation_columns;
  return m;
}

type_message read_type(reader& r, bool in_stream_block) {
  type_message m;
  m.xid = read_xid(r, in_stream_block);
  m.oid = r.u32("type oid");
  m.nspname = r.cstring("namespace");
  m.typname = r.cstring("type name");
  return m;
}

insert_message read_insert(reader& r, bool in_stream_block, decode_buffers& buf) {
  insert_message m;
  m.xid = read_xid(r, in_stream_block);
  m.relation_oid = r.u32("relation oid");
  read_tuple_tag(r, "new tuple tag", "N");
  if (r.ok()) read_tuple(r, buf.new_tuple, new_fields);
  m.new_tuple = buf.new_tuple;
  return m;
}

update_message read_update(reader& r, bool in_stream_block, decode_buffers& buf) {
  update_message m;
  m.xid = read_xid(r, in_stream_block);
  m.relation_oid = r.u32("relation oid");
  const std::uint8_t tag = read_tuple_tag(r, "tuple tag", "KON");
  buf.old_tuple.clear();
  if (r.ok() && tag != 'N') {
    m.old_kind = static_cast<old_tuple_kind>(tag);
    read_tuple(r, buf.old_tuple, old_fields);
    read_tuple_tag(r, "new tuple tag", "N");
  }
  if (r.ok()) read_tuple(r, buf.new_tuple, new_fields);
  m.old_tuple = buf.old_tuple;
  m.new_tuple = buf.new_tuple;
  return m;
}

delete_message read_delete(reader& r, bool in_stream_block, decode_buffers& buf) {
  delete_message m;
  m.xid = read_xid(r, in_stream_block);
  m.relation_oid = r.u32("relation oid");
  const std::uint8_t tag = read_tuple_tag(r, "old tuple tag", "KO");
  if (r.ok()) {
    m.old_kind = static_cast<old_tuple_kind>(tag);
    read_tuple(r, buf.old_tuple, old_fields);
  }
  m.old_tuple = buf.old_tuple;
  return m;
}

truncate_message read_truncate(reader& r, bool in_stream_block, decode_buffers& buf) {
  truncate_message m;
  m.xid = read_xid(r, in_stream_block);
  const std::size_t count_at = r.offset();
  const std::uint32_t count = r.u32("relation count");
  if (r.ok() && count > max_int32) r.fail_value("relation count", count_at, count);
  m.flags = r.u8("truncate flags");
  buf.truncate_oids.clear();
  for (std::uint32_t i = 0; i < count && r.ok(); ++i) {
    const std::uint32_t oid = r.u32("truncated relation oid", i);
    if (r.ok()) buf.truncate_oids.push_back(oid);
  }
  m.relation_oids = buf.truncate_oids;
  return m;
}

logical_message read_logical_message(reader& r, bool in_stream_block) {
  logical_message m;
  m.xid = read_xid(r, in_stream_block);
  m.flags = r.u8("message flags");
  m.message_lsn = r.u64("message lsn");
  m.prefix = r.cstring("message prefix");
  const std::size_t len_at = r.offset();
  const std::uint32_t len = r.u32("message content length");
  if (r.ok() && len > max_int32) r.fail_value("message content length", len_at, len);
  m.content = r.text(len, "message content");
  return m;
}

message read_body(reader& r, char type, bool in_stream_block, decode_buffers& buf) {
  switch (type) {
    case 'B': {
      begin_message m;
      m.final_lsn = r.u64("final lsn");
      m.commit_time = r.i64("commit time");
      m.xid = r.u32("xid");
      return m;
    }
    case 'C': {
      commit_message m;
      m.flags = r.u8("commit flags");
      m.commit_lsn = r.u64("commit lsn");
      m.end_lsn = r.u64("end lsn");
      m.commit_time = r.i64("commit time");
      return m;
    }
    case 'O': {
      origin_message m;
      m.origin_lsn = r.u64("origin lsn");
      m.name = r.cstring("origin name");
      return m;
    }
    case 'R':
      return read_relation(r, in_stream_block, buf);
    case 'Y':
      return read_type(r, in_stream_block);
    case 'I':
      return read_insert(r, in_stream_block, buf);
    case 'U':
      return read_update(r, in_stream_block, buf);
    case 'D':
      return read_delete(r, in_stream_block, buf);
    case 'T':
      return read_truncate(r, in_stream_block, buf);
    case 'M':
      return read_logical_message(r, in_stream_block);
    case 'S': {
      stream_start_message m;
      m.xid = r.u32("xid");
      m.first_segment = r.u8("first segment flag") != 0;
      return m;
    }
    case 'E':
      return stream_stop_message{};
    case 'c': {
      stream_commit_message m;
      m.xid = r.u32("xid");
      m.flags = r.u8("commit flags");
      m.commit_lsn = r.u64("commit lsn");
      m.end_lsn = r.u64("end lsn");
      m.commit_time = r.i64("commit time");
      return m;
    }
    default: {  // 'A', checked by the caller
      stream_abort_message m;
      m.xid = r.u32("xid");
      m.subxid = r.u32("subtransaction xid");
      return m;
    }
  }
}

bool known_type(char type) noexcept {
  return std::string_view("BCORYIUDTMSEcA").find(type) != std::string_view::npos;
}

// What may come inside a stream block (Origin follows Stream Start for replicated origins).
bool allowed_in_stream_block(char type) noexcept {
  return std::string_view("ORYIUDTME").find(type) != std::string_view::npos;
}

decode_error state_error(char type, const char* what) {
  decode_error e;
  e.code = errc::bad_state;
  e.message_type = type;
  e.context = "pgoutput";
  e.field = what;
  return e;
}

}  // namespace

std::string_view message_name(char type) noexcept {
  switch (type) {
    case 'B':
      return "Begin";
    case 'C':
      return "Commit";
    case 'O':
      return "Origin";
    case 'R':
      return "Relation";
    case 'Y':
      return "Type";
    case 'I':
      return "Insert";
    case 'U':
      return "Update";
    case 'D':
      return "Delete";
    case 'T':
      return "Truncate";
    case 'M':
      return "Message";
    case 'S':
      return "Stream Start";
    case 'E':
      return "Stream Stop";
    case 'c':
      return "Stream Commit";
    case 'A':
      return "Stream Abort";
    default:
      return "unknown";
  }
}

result<message> decode_message(std::span<const std::byte> bytes, bool in_stream_block,
                               decode_buffers& buffers) {
  reader r(bytes, "pgoutput");
  const char type = static_cast<char>(r.u8("message type"));
  if (!r.ok()) return r.error();
  if (!known_type(type)) {
    decode_error e;
    e.code = errc::unknown_message;
    e.context = "pgoutput";
    e.message_type = type;
    e.field = "message type";
    e.value = static_cast<std::uint8_t>(type);
    return e;
  }
  r.set_message_type(type);
  message m = read_body(r, type, in_stream_block, buffers);
  if (!r.finish()) return r.error();
  return m;
}

result<message> decoder::decode(std::span<const std::byte> bytes) {
  const char type = bytes.empty() ? '\0' : static_cast<char>(bytes[0]);
  if (!bytes.empty() && known_type(type)) {
    if (in_stream_ && !allowed_in_stream_block(type)) {
      return state_error(type, "not allowed inside a stream block (between Stream Start and Stop)");
    }
    if (type == 'S' && proto_version_ < 2) {
      return state_error(type, "streaming needs proto_version 2 or later");
    }
    if (type == 'E' && !in_stream_) return state_error(type, "outside a stream block");
  }
  result<message> res = decode_message(bytes, in_stream_, buffers_);
  if (res) {
    if (const auto* start = std::get_if<stream_start_message>(&*res)) {
      in_stream_ = true;
      stream_xid_ = start->xid;
    } else if (std::holds_alternative<stream_stop_message>(*res)) {
      in_stream_ = false;
    }
  }
  return res;
}

std::optional<std::string> to_string(const column_value& value) {
  if (value.kind != value_kind::text) return std::nullopt;
  return std::string(value.data);
}

// ---------------------------------------------------------------- CopyBoth wrapper

result<copy_data> decode_copy_data(std::span<const std::byte> bytes) {
  reader r(bytes, "CopyData");
  const char type = static_cast<char>(r.u8("message type"));
  if (!r.ok()) return r.error();
  if (type == 'w') {
    r.set_context("CopyData XLogData");
    xlog_data d;
    d.wal_start = r.u64("wal start");
    d.wal_end = r.u64("wal end");
    d.send_time = r.i64("send time");
    if (!r.ok()) return r.error();
    d.payload = bytes.subspan(r.offset());
    return copy_data{d};
  }
  if (type == 'k') {
    r.set_context("CopyData keepalive");
    primary_keepalive k;
    k.wal_end = r.u64("wal end");
    k.send_time = r.i64("send time");
    k.reply_requested = r.u8("reply requested flag") != 0;
    if (!r.finish()) return r.error();
    return copy_data{k};
  }
  decode_error e;
  e.code = errc::unknown_message;
  e.context = "CopyData";
  e.message_type = type;
  e.field = "message type";
  e.value = static_cast<std::uint8_t>(type);
  return e;
}

void encode_standby_status(const standby_status& status,
                           std::span<std::byte, standby_status_size> out) noexcept {
  std::size_t pos = 0;
  auto put64 = [&](std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      out[pos++] = static_cast<std::byte>((v >> shift) & 0xFF);
    }
  };
  out[pos++] = std::byte{'r'};
  put64(status.write);
  put64(status.flush);
  put64(status.apply);
  put64(static_cast<std::uint64_t>(status.client_time));
  out[pos] = status.reply_requested ? std::byte{1} : std::byte{0};
}

// ---------------------------------------------------------------- LSNs and times

std::string format_lsn(lsn value) {
  std::array<char, 17> buf{};
  auto hex = [](char* first, char* last, std::uint32_t half) {
    char* end = std::to_chars(first, last, half, 16).ptr;
    for (char* p = first; p != end; ++p) {
      if (*p >= 'a' && *p <= 'f') *p = static_cast<char>(*p - 'a' + 'A');
    }
    return end;
  };
  char* p = hex(buf.data(), buf.data() + 8, static_cast<std::uint32_t>(value >> 32));
  *p++ = '/';
  p = hex(p, buf.data() + buf.size(), static_cast<std::uint32_t>(value));
  return std::string(buf.data(), p);
}

std::optional<lsn> parse_lsn(std::string_view text) noexcept {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto half = [](std::string_view part) -> std::optional<std::uint32_t> {
    if (part.empty() || part.size() > 8) return std::nullopt;
    std::uint32_t v = 0;
    for (char c : part) {
      std::uint32_t digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
      v = v << 4 | digit;
    }
    return v;
  };
  const auto hi = half(text.substr(0, slash));
  const auto lo = half(text.substr(slash + 1));
  if (!hi || !lo) return std::nullopt;
  return static_cast<lsn>(*hi) << 32 | *lo;
}

namespace {
constexpr std::int64_t pg_epoch_unix_micros = 946'684'800'000'000;
}

std::int64_t to_pg_time(std::chrono::system_clock::time_point t) noexcept {
  using std::chrono::microseconds;
  return std::chrono::duration_cast<microseconds>(t.time_since_epoch()).count() -
         pg_epoch_unix_micros;
}

std::chrono::system_clock::time_point from_pg_time(std::int64_t micros) noexcept {
  using std::chrono::microseconds;
  using clock_duration = std::chrono::system_clock::duration;
  // Saturate: a wild value from the wire must not overflow the clock's duration.
  constexpr std::int64_t max_us =
      std::chrono::duration_cast<microseconds>(clock_duration::max()).count();
  constexpr std::int64_t min_us =
      std::chrono::duration_cast<microseconds>(clock_duration::min()).count();
  std::int64_t unix_us = 0;
  if (micros > max_us - pg_epoch_unix_micros) {
    unix_us = max_us;
  } else if (micros < min_us - pg_epoch_unix_micros) {
    unix_us = min_us;
  } else {
    unix_us = micros + pg_epoch_unix_micros;
  }
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<clock_duration>(microseconds(unix_us)));
}

// ---------------------------------------------------------------- errors

std::string decode_error::to_string() const {
  std::string out(context);
  if (message_type != 0 && code != errc::unknown_message) {
    out += ' ';
    out += message_name(message_type);
  }
  out += ": ";
  auto with_index = [&] {
    std::string f(field);
    if (index >= 0) f += " #" + std::to_string(index);
    return f;
  };
  switch (code) {
    case errc::truncated:
      out += "truncated at offset " + std::to_string(offset) + " reading " + with_index();
      if (needed == 0) {
        out += " (no terminating NUL in the " + std::to_string(available) + " bytes left)";
      } else {
        out +=
            " (need " + std::to_string(needed) + " bytes, " + std::to_string(available) + " left)";
      }
      break;
    case errc::bad_value:
      out += "bad " + with_index() + " at offset " + std::to_string(offset) + ": " +
             std::to_string(value);
      if (value >= 0x20 && value < 0x7F) {
        out += " ('";
        out += static_cast<char>(value);
        out += "')";
      }
      break;
    case errc::unknown_message:
      out += "unknown message type " + std::to_string(value);
      if (value >= 0x20 && value < 0x7F) {
        out += " ('";
        out += static_cast<char>(value);
        out += "')";
      }
      break;
    case errc::trailing_bytes:
      out += std::to_string(value) + " unexpected bytes after the message at offset " +
             std::to_string(offset);
      break;
    case errc::bad_state:
      out += field;
      break;
  }
  return out;
}

}  // namespace uringmig::codecs::pgoutput
