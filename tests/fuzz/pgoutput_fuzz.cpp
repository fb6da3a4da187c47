// libFuzzer harness for the pgoutput decoder (codecs/pgoutput.hpp). Every input is tried as:
//   1. one pgoutput message, outside and inside a stream block;
//   2. one CopyData message of START_REPLICATION (`w` / `k`): the XLogData payload decoded on,
//      a keepalive answered with an encoded standby status;
//   3. a sequence of messages, each prefixed by a one-byte length, fed to one stateful decoder
//      (stream start/stop tracking; proto 2 for inputs of even length, else 1);
//   4. LSN text: parse, then format and parse again must give the same value.
// Checks beyond "no crash": views lie inside the input, errors point inside it and print.

#include "codecs/pgoutput.hpp"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace pg = uringmig::codecs::pgoutput;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

void check_view(std::string_view view, std::span<const std::byte> input) {
  if (view.empty()) return;
  const char* lo = reinterpret_cast<const char*>(input.data());
  require(view.data() >= lo && view.data() + view.size() <= lo + input.size());
}

void check_tuple(std::span<const pg::column_value> cols, std::span<const std::byte> input) {
  for (const auto& c : cols) {
    check_view(c.data, input);
    require(c.data.empty() || c.kind == pg::value_kind::text || c.kind == pg::value_kind::binary);
    if (auto text = pg::to_string(c)) require(text->size() == c.data.size());
  }
}

void check(const pg::result<pg::message>& res, std::span<const std::byte> input) {
  if (!res) {
    require(res.error().offset <= input.size());
    require(!res.error().to_string().empty());
    return;
  }
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, pg::origin_message>) check_view(m.name, input);
        if constexpr (std::is_same_v<T, pg::relation_message>) {
          check_view(m.nspname, input);
          check_view(m.relname, input);
          for (const auto& c : m.columns)
            check_view(c.name, input);
        }
        if constexpr (std::is_same_v<T, pg::type_message>) {
          check_view(m.nspname, input);
          check_view(m.typname, input);
        }
        if constexpr (std::is_same_v<T, pg::insert_message>) check_tuple(m.new_tuple, input);
        if constexpr (std::is_same_v<T, pg::update_message>) {
          require((m.old_kind == pg::old_tuple_kind::none) == m.old_tuple.empty() ||
                  m.old_kind != pg::old_tuple_kind::none);
          check_tuple(m.old_tuple, input);
          check_tuple(m.new_tuple, input);
        }
        if constexpr (std::is_same_v<T, pg::delete_message>) check_tuple(m.old_tuple, input);
        if constexpr (std::is_same_v<T, pg::truncate_message>) {
          require(m.relation_oids.size() * 4 <= input.size());
        }
        if constexpr (std::is_same_v<T, pg::logical_message>) {
          check_view(m.prefix, input);
          check_view(m.content, input);
        }
      },
      *res);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = std::as_bytes(std::span<const std::uint8_t>(data, size));
  static pg::decode_buffers buffers;

  for (bool in_stream : {false, true})
    check(pg::decode_message(input, in_stream, buffers), input);

  if (auto copy = pg::decode_copy_data(input)) {
    if (const auto* x = std::get_if<pg::xlog_data>(&*copy)) {
      require(x->payload.data() >= input.data() &&
              x->payload.data() + x->payload.size() == input.data() + input.size());
      pg::decoder dec(2);
      check(dec.decode(x->payload), x->payload);
    } else {
      // Answer a keepalive as a client would: the reply echoes wal_end big-endian.
      const auto& k = std::get<pg::primary_keepalive>(*copy);
      std::array<std::byte, pg::standby_status_size> reply{};
      pg::encode_standby_status({k.wal_end, k.wal_end, k.wal_end, k.send_time, false}, reply);
      require(reply[0] == std::byte{'r'} && std::memcmp(&reply[1], &data[1], 8) == 0);
    }
  } else {
    require(!copy.error().to_string().empty());
  }

  pg::decoder dec(size % 2 == 0 ? 2 : 1);  // proto 1 refuses streams
  for (std::size_t pos = 0; pos < size;) {
    const std::size_t len = std::min<std::size_t>(data[pos], size - pos - 1);
    const auto one = input.subspan(pos + 1, len);
    const bool was_in_stream = dec.in_stream_block();
    auto res = dec.decode(one);
    check(res, one);
    if (!res) require(dec.in_stream_block() == was_in_stream);  // errors change no state
    pos += 1 + len;
  }

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto lsn = pg::parse_lsn(text)) require(pg::parse_lsn(pg::format_lsn(*lsn)) == lsn);
  if (size >= 8) {
    std::int64_t micros = 0;
    std::memcpy(&micros, data, sizeof micros);
    (void)pg::to_pg_time(pg::from_pg_time(micros));
  }
  return 0;
}
