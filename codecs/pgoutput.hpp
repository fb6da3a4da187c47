#pragma once

// The pgoutput logical replication protocol (versions 1 and 2) and its CopyBoth wrapper,
// decoded from bytes without I/O. Every view in a decoded message (names, values, spans of
// columns) points into the input buffer or into the caller's `decode_buffers`: it stays valid
// while the input lives and until the next decode with the same buffers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace uringmig::codecs::pgoutput {

// ---------------------------------------------------------------- errors and results

enum class errc : std::uint8_t {
  truncated,        // the message ends before a field does
  bad_value,        // a field holds a value the protocol does not allow
  unknown_message,  // unknown first byte
  trailing_bytes,   // bytes left after a complete message
  bad_state,        // a message that cannot come here (stream stop outside a stream block...)
};

/// What went wrong, where. Holds no allocation; `to_string()` builds the one-line text.
struct decode_error {
  errc code = errc::truncated;
  const char* context = "pgoutput";  // static: "pgoutput", "CopyData XLogData"...
  char message_type = 0;             // first byte of the message being decoded, 0 when unknown
  const char* field = "";            // static text naming what was being read ("column 3 length")
  std::size_t offset = 0;            // byte offset inside the message where it happened
  std::size_t needed = 0;            // truncated: bytes the field needs
  std::size_t available = 0;         // truncated: bytes that were left
  std::int64_t value = 0;            // bad_value / trailing_bytes: the offending value or count
  std::int64_t index = -1;  // the column or relation index the field belongs to, -1 if none

  /// "pgoutput Insert: truncated at offset 12 reading column 2 length (need 4 bytes, 1 left)".
  std::string to_string() const;
};

/// A value or a decode_error (std::expected is not in GCC 12).
template <class T>
class result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  result(decode_error error) : v_(std::in_place_index<1>, error) {}  // NOLINT: implicit

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  /// Throws std::bad_variant_access when it holds an error: check first.
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const decode_error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, decode_error> v_;
};

// ---------------------------------------------------------------- LSNs and times

using lsn = std::uint64_t;

/// "16/B374D848": the two 32-bit halves in upper-case hex, as PostgreSQL prints pg_lsn.
std::string format_lsn(lsn value);
/// Parses "16/B374D848" (1-8 hex digits each side, any case); nullopt for anything else.
std::optional<lsn> parse_lsn(std::string_view text) noexcept;

/// Protocol timestamps: microseconds since 2000-01-01 00:00:00 UTC.
std::int64_t to_pg_time(std::chrono::system_clock::time_point t) noexcept;
std::chrono::system_clock::time_point from_pg_time(std::int64_t micros) noexcept;

// ---------------------------------------------------------------- tuples and relations

enum class value_kind : char { null = 'n', unchanged_toast = 'u', text = 't', binary = 'b' };

/// One column of a TupleData. `data` views the value's bytes (empty for null / unchanged).
struct column_value {
  value_kind kind = value_kind::null;
  std::string_view data;

  bool is_null() const noexcept { return kind == value_kind::null; }
  bool is_unchanged_toast() const noexcept { return kind == value_kind::unchanged_toast; }
};

/// The value as an owned string when it is in text format; nullopt for NULL, unchanged TOAST and
/// binary values.
std::optional<std::string> to_string(const column_value& value);

enum class replica_identity : char { default_key = 'd', nothing = 'n', full = 'f', index = 'i' };

struct relation_column {
  std::uint8_t flags = 0;  // 1: part of the replica identity key
  std::string_view name;
  std::uint32_t type_oid = 0;
  std::int32_t type_modifier = -1;

  bool is_key() const noexcept { return (flags & 1) != 0; }
};

enum class old_tuple_kind : char { none = 0, key = 'K', full = 'O' };

// ---------------------------------------------------------------- messages

/// The optional `xid` members are set only inside a stream block (proto >= 2): there DML,
/// Relation, Type, Truncate and Message lead with the xid of the (sub)transaction they belong to.
struct begin_message {
  lsn final_lsn = 0;
  std::int64_t commit_time = 0;
  std::uint32_t xid = 0;
};
struct commit_message {
  std::uint8_t flags = 0;
  lsn commit_lsn = 0;
  lsn end_lsn = 0;
  std::int64_t commit_time = 0;
};
struct origin_message {
  lsn origin_lsn = 0;
  std::string_view name;
};
struct relation_message {
  std::optional<std::uint32_t> xid;
  std::uint32_t oid = 0;
  std::string_view nspname;
  std::string_view relname;
  replica_identity identity = replica_identity::default_key;
  std::span<const relation_column> columns;
};
struct type_message {
  std::optional<std::uint32_t> xid;
  std::uint32_t oid = 0;
  std::string_view nspname;
  std::string_view typname;
};
struct insert_message {
  std::optional<std::uint32_t> xid;
  std::uint32_t relation_oid = 0;
  std::span<const column_value> new_tuple;
};
struct update_message {
  std::optional<std::uint32_t> xid;
  std::uint32_t relation_oid = 0;
  old_tuple_kind old_kind = old_tuple_kind::none;
  std::span<const column_value> old_tuple;  // empty when old_kind is none
  std::span<const column_value> new_tuple;
};
struct delete_message {
  std::optional<std::uint32_t> xid;
  std::uint32_t relation_oid = 0;
  old_tuple_kind old_kind = old_tuple_kind::key;  // key or full, never none
  std::span<const column_value> old_tuple;
};
struct truncate_message {
  std::optional<std::uint32_t> xid;
  std::uint8_t flags = 0;  // 1: CASCADE, 2: RESTART IDENTITY
  std::span<const std::uint32_t> relation_oids;

  bool cascade() const noexcept { return (flags & 1) != 0; }
  bool restart_identity() const noexcept { return (flags & 2) != 0; }
};
/// `M`: pg_logical_emit_message.
struct logical_message {
  std::optional<std::uint32_t> xid;
  std::uint8_t flags = 0;  // 1: transactional
  lsn message_lsn = 0;
  std::string_view prefix;
  std::string_view content;  // may be binary

  bool transactional() const noexcept { return (flags & 1) != 0; }
};
struct stream_start_message {
  std::uint32_t xid = 0;
  bool first_segment = false;
};
struct stream_stop_message {};
struct stream_commit_message {
  std::uint32_t xid = 0;
  std::uint8_t flags = 0;
  lsn commit_lsn = 0;
  lsn end_lsn = 0;
  std::int64_t commit_time = 0;
};
struct stream_abort_message {
  std::uint32_t xid = 0;
  std::uint32_t subxid = 0;  // equal to xid when the whole transaction aborted
};

using message = std::variant<begin_message, commit_message, origin_message, relation_message,
                             type_message, insert_message, update_message, delete_message,
                             truncate_message, logical_message, stream_start_message,
                             stream_stop_message, stream_commit_message, stream_abort_message>;

/// "Begin", "Stream Commit"...; "unknown" for other bytes.
std::string_view message_name(char type) noexcept;

/// Storage reused from message to message, so decoding allocates only while it grows.
struct decode_buffers {
  std::vector<relation_column> relation_columns;
  std::vector<column_value> old_tuple;
  std::vector<column_value> new_tuple;
  std::vector<std::uint32_t> truncate_oids;
};

/// Decodes one pgoutput message (the payload of an XLogData). `in_stream_block`: between Stream
/// Start and Stream Stop, where DML, Relation, Type, Truncate and Message carry an xid first.
/// Spans in the result point into `bytes` and `buffers`.
result<message> decode_message(std::span<const std::byte> bytes, bool in_stream_block,
                               decode_buffers& buffers);

/// A pgoutput stream reader that keeps the stream-block state between messages. One per
/// replication connection; call reset() when the connection restarts.
class decoder {
 public:
  /// `proto_version`: what START_REPLICATION asked for (1 or 2; streams need 2).
  explicit decoder(std::uint32_t proto_version = 1) noexcept : proto_version_(proto_version) {}

  /// As decode_message, tracking Stream Start / Stream Stop. The result's views stay valid
  /// until the next decode() and while `bytes` lives. An error leaves the state unchanged.
  result<message> decode(std::span<const std::byte> bytes);

  bool in_stream_block() const noexcept { return in_stream_; }
  /// The xid of the current stream block; meaningful only while in_stream_block().
  std::uint32_t stream_xid() const noexcept { return stream_xid_; }
  std::uint32_t proto_version() const noexcept { return proto_version_; }
  void reset() noexcept {
    in_stream_ = false;
    stream_xid_ = 0;
  }

 private:
  std::uint32_t proto_version_;
  bool in_stream_ = false;
  std::uint32_t stream_xid_ = 0;
  decode_buffers buffers_;
};

// ---------------------------------------------------------------- CopyBoth wrapper

/// `w`: WAL data carrying one pgoutput message (`payload` views the input).
struct xlog_data {
  lsn wal_start = 0;
  lsn wal_end = 0;
  std::int64_t send_time = 0;
  std::span<const std::byte> payload;
};
/// `k`: primary keepalive. Answer at once with a standby status when reply_requested.
struct primary_keepalive {
  lsn wal_end = 0;
  std::int64_t send_time = 0;
  bool reply_requested = false;
};
using copy_data = std::variant<xlog_data, primary_keepalive>;

/// Decodes one CopyData message of START_REPLICATION (as PQgetCopyData returns it).
result<copy_data> decode_copy_data(std::span<const std::byte> bytes);

/// `r`: standby status update, client to server.
struct standby_status {
  lsn write = 0;
  lsn flush = 0;  // advances the slot's confirmed_flush_lsn: only what is durably applied
  lsn apply = 0;
  std::int64_t client_time = 0;
  bool reply_requested = false;
};
inline constexpr std::size_t standby_status_size = 34;

/// Writes the 34-byte `r` message into `out`.
void encode_standby_status(const standby_status& status,
                           std::span<std::byte, standby_status_size> out) noexcept;

/// Views text as bytes (libpq hands out char buffers).
inline std::span<const std::byte> as_bytes(std::string_view text) noexcept {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

}  // namespace uringmig::codecs::pgoutput
