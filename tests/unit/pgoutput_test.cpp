// The pgoutput decoder on hand-built bytes: every message type, every truncation point,
// garbage, the stream-block state, the CopyBoth wrapper, LSNs and times. Captured messages from
// a real server are in pgoutput_capture_test.cpp.

#include "codecs/pgoutput.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <vector>

namespace pg = uringmig::codecs::pgoutput;

namespace {

// Big-endian message builder.
struct wire {
  std::vector<std::byte> b;

  wire& u8(unsigned v) {
    b.push_back(static_cast<std::byte>(v & 0xFF));
    return *this;
  }
  wire& u16(unsigned v) { return u8(v >> 8).u8(v); }
  wire& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xFFFF); }
  wire& u64(std::uint64_t v) {
    return u32(static_cast<std::uint32_t>(v >> 32)).u32(static_cast<std::uint32_t>(v));
  }
  wire& raw(std::string_view s) {
    for (char c : s)
      u8(static_cast<unsigned char>(c));
    return *this;
  }
  wire& str(std::string_view s) { return raw(s).u8(0); }
  wire& value(std::string_view s) {
    return u8('t').u32(static_cast<std::uint32_t>(s.size())).raw(s);
  }
};

struct sample {
  const char* name;
  bool in_stream;
  std::vector<std::byte> bytes;
};

constexpr std::uint32_t xid = 0x1234;

// One valid message of every type and variant, for the loops below.
std::vector<sample> samples() {
  std::vector<sample> out;
  auto add = [&](const char* name, bool in_stream, wire w) {
    out.push_back({name, in_stream, std::move(w.b)});
  };
  auto rel = [](bool s) {
    wire w;
    w.u8('R');
    if (s) w.u32(xid);
    w.u32(16390).str("Sales").str("Order Items").u8('d').u16(2);
    w.u8(1).str("id").u32(23).u32(0xFFFFFFFF);
    w.u8(0).str("näme").u32(1043).u32(36);
    return w;
  };
  auto tuple = [](wire& w) {
    w.u16(4).value("42").u8('n').u8('u').u8('b').u32(3).raw(std::string_view("\0\1\2", 3));
  };
  add("begin", false, wire{}.u8('B').u64(0x16B374D848).u64(700000000).u32(xid));
  add("commit", false, wire{}.u8('C').u8(0).u64(0x10).u64(0x20).u64(700000001));
  add("origin", false, wire{}.u8('O').u64(0x1ABCDEF).str("upstream"));
  add("relation", false, rel(false));
  add("relation in stream", true, rel(true));
  add("type", false, wire{}.u8('Y').u32(16400).str("public").str("mood"));
  add("type in stream", true, wire{}.u8('Y').u32(xid).u32(16400).str("public").str("mood"));
  for (bool s : {false, true}) {
    wire ins;
    ins.u8('I');
    if (s) ins.u32(xid);
    ins.u32(16390).u8('N');
    tuple(ins);
    add(s ? "insert in stream" : "insert", s, ins);
  }
  for (char old : {'\0', 'K', 'O'}) {
    wire up;
    up.u8('U').u32(16390);
    if (old) {
      up.u8(static_cast<unsigned char>(old)).u16(2).value("1").u8('n');
    }
    up.u8('N');
    tuple(up);
    add(old == 0 ? "update" : old == 'K' ? "update old key" : "update old row", false, up);
  }
  add("delete key", false, wire{}.u8('D').u32(16390).u8('K').u16(2).value("1").u8('n'));
  add("delete row", true, wire{}.u8('D').u32(xid).u32(16390).u8('O').u16(1).value("1"));
  add("truncate", false, wire{}.u8('T').u32(2).u8(3).u32(16390).u32(16391));
  add("truncate in stream", true, wire{}.u8('T').u32(xid).u32(1).u8(0).u32(16390));
  add("message", false, wire{}.u8('M').u8(1).u64(0x30).str("uringmig").u32(4).raw("done"));
  add("message in stream", true, wire{}.u8('M').u32(xid).u8(1).u64(0x30).str("p").u32(0));
  add("stream start", false, wire{}.u8('S').u32(xid).u8(1));
  add("stream stop", true, wire{}.u8('E'));
  add("stream commit", false, wire{}.u8('c').u32(xid).u8(0).u64(0x40).u64(0x50).u64(7));
  add("stream abort", false, wire{}.u8('A').u32(xid).u32(xid + 1));
  return out;
}

pg::result<pg::message> decode(const std::vector<std::byte>& bytes, bool in_stream = false) {
  static pg::decode_buffers buffers;
  return pg::decode_message(bytes, in_stream, buffers);
}

// Decodes a copy of the bytes kept for the whole test run, so the views stay valid.
template <class T>
T decode_as(const wire& w, bool in_stream = false) {
  static std::deque<std::pair<std::vector<std::byte>, pg::decode_buffers>> kept;
  auto& [bytes, buffers] = kept.emplace_back(w.b, pg::decode_buffers{});
  auto res = pg::decode_message(bytes, in_stream, buffers);
  EXPECT_TRUE(res) << res.error().to_string();
  if (!res) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*res));
  return std::holds_alternative<T>(*res) ? std::get<T>(*res) : T{};
}

bool inside(std::string_view view, std::span<const std::byte> buffer) {
  if (view.empty()) return true;
  const char* lo = reinterpret_cast<const char*>(buffer.data());
  return view.data() >= lo && view.data() + view.size() <= lo + buffer.size();
}

// Every view of a decoded message lies inside the input buffer.
bool views_inside(const pg::message& msg, std::span<const std::byte> buffer) {
  bool ok = true;
  auto tuple = [&](std::span<const pg::column_value> cols) {
    for (const auto& c : cols)
      ok = ok && inside(c.data, buffer);
  };
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, pg::origin_message>) ok = inside(m.name, buffer);
        if constexpr (std::is_same_v<T, pg::relation_message>) {
          ok = inside(m.nspname, buffer) && inside(m.relname, buffer);
          for (const auto& c : m.columns)
            ok = ok && inside(c.name, buffer);
        }
        if constexpr (std::is_same_v<T, pg::type_message>) {
          ok = inside(m.nspname, buffer) && inside(m.typname, buffer);
        }
        if constexpr (std::is_same_v<T, pg::insert_message>) tuple(m.new_tuple);
        if constexpr (std::is_same_v<T, pg::update_message>) {
          tuple(m.old_tuple);
          tuple(m.new_tuple);
        }
        if constexpr (std::is_same_v<T, pg::delete_message>) tuple(m.old_tuple);
        if constexpr (std::is_same_v<T, pg::logical_message>) {
          ok = inside(m.prefix, buffer) && inside(m.content, buffer);
        }
      },
      msg);
  return ok;
}

}  // namespace

TEST(pgoutput, every_sample_decodes_with_views_into_the_input) {
  for (const auto& s : samples()) {
    auto res = decode(s.bytes, s.in_stream);
    ASSERT_TRUE(res) << s.name << ": " << res.error().to_string();
    EXPECT_TRUE(views_inside(*res, s.bytes)) << s.name;
  }
}

TEST(pgoutput, begin_commit_origin_fields) {
  auto b = decode_as<pg::begin_message>(wire{}.u8('B').u64(0x16B374D848).u64(-5).u32(77));
  EXPECT_EQ(b.final_lsn, 0x16B374D848u);
  EXPECT_EQ(b.commit_time, -5);
  EXPECT_EQ(b.xid, 77u);
  auto c = decode_as<pg::commit_message>(wire{}.u8('C').u8(0).u64(1).u64(2).u64(3));
  EXPECT_EQ(c.commit_lsn, 1u);
  EXPECT_EQ(c.end_lsn, 2u);
  EXPECT_EQ(c.commit_time, 3);
  auto o = decode_as<pg::origin_message>(wire{}.u8('O').u64(0x1ABCDEF).str("up"));
  EXPECT_EQ(o.origin_lsn, 0x1ABCDEFu);
  EXPECT_EQ(o.name, "up");
}

TEST(pgoutput, relation_columns_and_stream_xid) {
  const auto all = samples();
  for (const auto& s : all) {
    if (std::string_view(s.name).rfind("relation", 0) != 0) continue;
    auto res = decode(s.bytes, s.in_stream);
    ASSERT_TRUE(res);
    const auto& r = std::get<pg::relation_message>(*res);
    EXPECT_EQ(r.xid, s.in_stream ? std::optional<std::uint32_t>(xid) : std::nullopt);
    EXPECT_EQ(r.oid, 16390u);
    EXPECT_EQ(r.nspname, "Sales");
    EXPECT_EQ(r.relname, "Order Items");
    EXPECT_EQ(r.identity, pg::replica_identity::default_key);
    ASSERT_EQ(r.columns.size(), 2u);
    EXPECT_TRUE(r.columns[0].is_key());
    EXPECT_EQ(r.columns[0].type_modifier, -1);
    EXPECT_FALSE(r.columns[1].is_key());
    EXPECT_EQ(r.columns[1].name, "näme");
    EXPECT_EQ(r.columns[1].type_oid, 1043u);
    EXPECT_EQ(r.columns[1].type_modifier, 36);
  }
}

TEST(pgoutput, tuple_kinds_and_text_conversion) {
  wire w;
  w.u8('I').u32(9).u8('N').u16(5).value("héllo").u8('n').u8('u');
  w.u8('b').u32(2).raw(std::string_view("\0\xff", 2)).value("");
  auto ins = decode_as<pg::insert_message>(w);
  EXPECT_EQ(ins.relation_oid, 9u);
  ASSERT_EQ(ins.new_tuple.size(), 5u);
  EXPECT_EQ(pg::to_string(ins.new_tuple[0]), "héllo");
  EXPECT_TRUE(ins.new_tuple[1].is_null());
  EXPECT_FALSE(pg::to_string(ins.new_tuple[1]));
  EXPECT_TRUE(ins.new_tuple[2].is_unchanged_toast());
  EXPECT_EQ(ins.new_tuple[3].kind, pg::value_kind::binary);
  EXPECT_EQ(ins.new_tuple[3].data, std::string_view("\0\xff", 2));
  EXPECT_FALSE(pg::to_string(ins.new_tuple[3]));
  EXPECT_EQ(pg::to_string(ins.new_tuple[4]), "");  // empty text is not NULL
}

TEST(pgoutput, update_delete_old_tuples) {
  for (const auto& s : samples()) {
    auto res = decode(s.bytes, s.in_stream);
    ASSERT_TRUE(res);
    if (const auto* u = std::get_if<pg::update_message>(&*res)) {
      EXPECT_EQ(u->new_tuple.size(), 4u) << s.name;
      EXPECT_EQ(u->old_tuple.size(), u->old_kind == pg::old_tuple_kind::none ? 0u : 2u);
    }
  }
  auto k = decode_as<pg::update_message>(
      wire{}.u8('U').u32(1).u8('K').u16(1).value("7").u8('N').u16(1).value("8"));
  EXPECT_EQ(k.old_kind, pg::old_tuple_kind::key);
  EXPECT_EQ(k.old_tuple[0].data, "7");
  EXPECT_EQ(k.new_tuple[0].data, "8");
  auto d = decode_as<pg::delete_message>(wire{}.u8('D').u32(1).u8('O').u16(1).value("x"));
  EXPECT_EQ(d.old_kind, pg::old_tuple_kind::full);
  EXPECT_EQ(d.old_tuple[0].data, "x");
}

TEST(pgoutput, truncate_message_and_stream_messages) {
  auto t = decode_as<pg::truncate_message>(wire{}.u8('T').u32(2).u8(3).u32(5).u32(6));
  EXPECT_TRUE(t.cascade());
  EXPECT_TRUE(t.restart_identity());
  EXPECT_EQ(std::vector<std::uint32_t>(t.relation_oids.begin(), t.relation_oids.end()),
            (std::vector<std::uint32_t>{5, 6}));
  auto m = decode_as<pg::logical_message>(
      wire{}.u8('M').u32(xid).u8(0).u64(9).str("pre").u32(2).raw("ab"), true);
  EXPECT_EQ(m.xid, xid);
  EXPECT_FALSE(m.transactional());
  EXPECT_EQ(m.message_lsn, 9u);
  EXPECT_EQ(m.prefix, "pre");
  EXPECT_EQ(m.content, "ab");
  auto s = decode_as<pg::stream_start_message>(wire{}.u8('S').u32(xid).u8(0));
  EXPECT_EQ(s.xid, xid);
  EXPECT_FALSE(s.first_segment);
  auto c = decode_as<pg::stream_commit_message>(wire{}.u8('c').u32(xid).u8(0).u64(4).u64(5).u64(6));
  EXPECT_EQ(c.commit_lsn, 4u);
  EXPECT_EQ(c.end_lsn, 5u);
  EXPECT_EQ(c.commit_time, 6);
  auto a = decode_as<pg::stream_abort_message>(wire{}.u8('A').u32(xid).u32(xid + 1));
  EXPECT_EQ(a.subxid, xid + 1);
}

// Cut every sample at every length: always a "truncated" error that points inside the prefix,
// never a crash or a read past it (the copy is exactly as long as the prefix, for ASan).
TEST(pgoutput, every_truncation_point_of_every_message_is_an_error) {
  std::size_t cuts = 0;
  for (const auto& s : samples()) {
    for (std::size_t len = 0; len < s.bytes.size(); ++len) {
      std::vector<std::byte> prefix(s.bytes.begin(), s.bytes.begin() + static_cast<long>(len));
      auto res = decode(prefix, s.in_stream);
      ASSERT_FALSE(res) << s.name << " cut at " << len;
      EXPECT_EQ(res.error().code, pg::errc::truncated) << res.error().to_string();
      EXPECT_LE(res.error().offset, len) << res.error().to_string();
      EXPECT_NE(res.error().to_string().find("truncated at offset"), std::string::npos);
      ++cuts;
    }
    auto longer = s.bytes;
    longer.push_back(std::byte{0});
    auto res = decode(longer, s.in_stream);
    ASSERT_FALSE(res) << s.name;
    EXPECT_EQ(res.error().code, pg::errc::trailing_bytes);
    EXPECT_EQ(res.error().offset, s.bytes.size());
  }
  EXPECT_GT(cuts, 500u);
}

TEST(pgoutput, error_lines_name_the_field_and_offset) {
  auto cut = wire{}.u8('I').u32(9).u8('N').u16(2).u8('n').u8('t').u16(0).b;
  auto res = decode(cut);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().to_string(),
            "pgoutput Insert: truncated at offset 10 reading new tuple column length #1 "
            "(need 4 bytes, 2 left)");
  auto no_nul = wire{}.u8('Y').u32(1).str("public").raw("mo").b;
  EXPECT_EQ(decode(no_nul).error().to_string(),
            "pgoutput Type: truncated at offset 12 reading type name "
            "(no terminating NUL in the 2 bytes left)");
  auto unknown = wire{}.u8('Z').b;
  EXPECT_EQ(decode(unknown).error().code, pg::errc::unknown_message);
  EXPECT_EQ(decode(unknown).error().to_string(), "pgoutput: unknown message type 90 ('Z')");
  EXPECT_EQ(decode({}).error().to_string(),
            "pgoutput: truncated at offset 0 reading message type (need 1 bytes, 0 left)");
}

TEST(pgoutput, bad_values_are_errors) {
  struct bad {
    wire w;
    const char* field;
    std::size_t offset;
  };
  const bad cases[] = {
      {wire{}.u8('I').u32(1).u8('N').u16(1).u8('x'), "new tuple column kind", 8},
      {wire{}.u8('I').u32(1).u8('X').u16(0), "new tuple tag", 5},
      {wire{}.u8('U').u32(1).u8('X').u16(0), "tuple tag", 5},
      {wire{}.u8('U').u32(1).u8('K').u16(0).u8('K').u16(0), "new tuple tag", 8},
      {wire{}.u8('D').u32(1).u8('N').u16(0), "old tuple tag", 5},
      {wire{}.u8('R').u32(1).str("s").str("t").u8('q').u16(0), "replica identity", 9},
      {wire{}.u8('I').u32(1).u8('N').u16(1).u8('t').u32(0x80000000), "new tuple column length", 9},
      {wire{}.u8('T').u32(0xFFFFFFFF).u8(0), "relation count", 1},
      {wire{}.u8('M').u8(1).u64(0).str("p").u32(0x80000000), "message content length", 12},
  };
  for (const auto& c : cases) {
    auto res = decode(c.w.b);
    ASSERT_FALSE(res) << c.field;
    EXPECT_EQ(res.error().code, pg::errc::bad_value) << res.error().to_string();
    EXPECT_STREQ(res.error().field, c.field);
    EXPECT_EQ(res.error().offset, c.offset) << res.error().to_string();
  }
}

// Counts from the wire never size an allocation: a huge column or relation count with few bytes
// behind it fails without growing the buffers past what the bytes hold.
TEST(pgoutput, huge_counts_do_not_allocate) {
  pg::decode_buffers buffers;
  auto cols = wire{}.u8('I').u32(1).u8('N').u16(0xFFFF).u8('n').u8('n').b;
  auto res = pg::decode_message(cols, false, buffers);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().index, 2);
  EXPECT_LE(buffers.new_tuple.size(), 2u);
  auto rels = wire{}.u8('T').u32(0x7FFFFFFF).u8(0).u32(5).b;
  ASSERT_FALSE(pg::decode_message(rels, false, buffers));
  EXPECT_LE(buffers.truncate_oids.size(), 1u);
  auto big = wire{}.u8('I').u32(1).u8('N').u16(1).u8('b').u32(0x7FFFFFFF).raw("ab").b;
  res = pg::decode_message(big, false, buffers);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().needed, 0x7FFFFFFFu);
  EXPECT_EQ(res.error().available, 2u);
}

// Deterministic garbage: random bytes behind every valid type byte, and every byte of every
// sample replaced by interesting values. Never a crash; every success has views in bounds.
TEST(pgoutput, garbage_never_crashes) {
  std::uint64_t state = 0x9E3779B97F4A7C15u;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const std::string_view types = "BCORYIUDTMSEcA";
  pg::decode_buffers buffers;
  std::size_t decoded = 0, failed = 0;
  auto run = [&](const std::vector<std::byte>& bytes) {
    for (bool in_stream : {false, true}) {
      auto res = pg::decode_message(bytes, in_stream, buffers);
      if (res) {
        ++decoded;
        EXPECT_TRUE(views_inside(*res, bytes));
      } else {
        ++failed;
        EXPECT_FALSE(res.error().to_string().empty());
      }
    }
  };
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::byte> bytes(next() % 48 + 1);
    for (auto& b : bytes)
      b = static_cast<std::byte>(next() % 8 == 0 ? 0 : next());
    bytes[0] = static_cast<std::byte>(types[next() % types.size()]);
    run(bytes);
  }
  for (const auto& s : samples()) {
    for (std::size_t at = 0; at < s.bytes.size(); ++at) {
      for (unsigned v : {0x00u, 0x01u, 0x7Fu, 0x80u, 0xFFu, 0x6Eu, 0x74u, 0x4Eu, 0x4Bu}) {
        auto bytes = s.bytes;
        bytes[at] = static_cast<std::byte>(v);
        run(bytes);
      }
    }
  }
  EXPECT_GT(decoded, 100u);  // the mutations must reach the decoders, not only fail fast
  EXPECT_GT(failed, 1000u);
}

// ---------------------------------------------------------------- decoder state

TEST(pgoutput_decoder, tracks_stream_blocks_and_the_xid_prefix) {
  pg::decoder dec(2);
  const auto start = wire{}.u8('S').u32(xid).u8(1).b;
  const auto stop = wire{}.u8('E').b;
  const auto begin = wire{}.u8('B').u64(1).u64(2).u32(3).b;
  const auto streamed_insert = wire{}.u8('I').u32(xid).u32(9).u8('N').u16(0).b;
  const auto plain_insert = wire{}.u8('I').u32(9).u8('N').u16(0).b;

  auto bad = dec.decode(stop);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, pg::errc::bad_state);
  EXPECT_EQ(bad.error().to_string(), "pgoutput Stream Stop: outside a stream block");

  ASSERT_TRUE(dec.decode(start));
  EXPECT_TRUE(dec.in_stream_block());
  EXPECT_EQ(dec.stream_xid(), xid);
  auto ins = dec.decode(streamed_insert);
  ASSERT_TRUE(ins) << ins.error().to_string();
  EXPECT_EQ(std::get<pg::insert_message>(*ins).xid, xid);
  EXPECT_EQ(std::get<pg::insert_message>(*ins).relation_oid, 9u);
  // Without its xid the message is too short inside a block.
  EXPECT_FALSE(dec.decode(plain_insert));
  // Nested Stream Start and a Begin inside a block are protocol errors; the state survives.
  EXPECT_EQ(dec.decode(start).error().code, pg::errc::bad_state);
  EXPECT_EQ(dec.decode(begin).error().code, pg::errc::bad_state);
  EXPECT_TRUE(dec.in_stream_block());

  ASSERT_TRUE(dec.decode(stop));
  EXPECT_FALSE(dec.in_stream_block());
  ins = dec.decode(plain_insert);
  ASSERT_TRUE(ins);
  EXPECT_FALSE(std::get<pg::insert_message>(*ins).xid);
  // Outside a block the streamed layout reads the xid as the oid and fails on the tag.
  EXPECT_FALSE(dec.decode(streamed_insert));

  ASSERT_TRUE(dec.decode(start));
  dec.reset();
  EXPECT_FALSE(dec.in_stream_block());
}

TEST(pgoutput_decoder, proto_1_has_no_streams) {
  pg::decoder dec(1);
  auto res = dec.decode(wire{}.u8('S').u32(xid).u8(1).b);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, pg::errc::bad_state);
  EXPECT_FALSE(dec.in_stream_block());
  EXPECT_EQ(dec.proto_version(), 1u);
}

TEST(pgoutput_decoder, reuses_its_buffers_from_message_to_message) {
  pg::decoder dec(1);
  wire w;
  w.u8('I').u32(9).u8('N').u16(3).value("a").value("b").value("c");
  auto first = dec.decode(w.b);
  ASSERT_TRUE(first);
  const auto* storage = std::get<pg::insert_message>(*first).new_tuple.data();
  auto second = dec.decode(w.b);
  ASSERT_TRUE(second);
  EXPECT_EQ(std::get<pg::insert_message>(*second).new_tuple.data(), storage);
  EXPECT_EQ(std::get<pg::insert_message>(*second).new_tuple[2].data, "c");
}

// ---------------------------------------------------------------- CopyBoth wrapper

TEST(pgoutput_copy_data, xlog_data_wraps_one_message) {
  const auto msg = wire{}.u8('E').b;
  wire w;
  w.u8('w').u64(0x100).u64(0x200).u64(123456);
  w.b.insert(w.b.end(), msg.begin(), msg.end());
  auto res = pg::decode_copy_data(w.b);
  ASSERT_TRUE(res) << res.error().to_string();
  const auto& x = std::get<pg::xlog_data>(*res);
  EXPECT_EQ(x.wal_start, 0x100u);
  EXPECT_EQ(x.wal_end, 0x200u);
  EXPECT_EQ(x.send_time, 123456);
  ASSERT_EQ(x.payload.size(), 1u);
  EXPECT_EQ(x.payload.data(), w.b.data() + 25);
  for (std::size_t len = 0; len < 25; ++len) {
    std::vector<std::byte> prefix(w.b.begin(), w.b.begin() + static_cast<long>(len));
    auto cut = pg::decode_copy_data(prefix);
    ASSERT_FALSE(cut) << len;
    EXPECT_EQ(cut.error().code, pg::errc::truncated);
  }
  EXPECT_EQ(pg::decode_copy_data(std::vector<std::byte>(w.b.begin(), w.b.begin() + 20))
                .error()
                .to_string(),
            "CopyData XLogData: truncated at offset 17 reading send time (need 8 bytes, 3 left)");
}

TEST(pgoutput_copy_data, keepalive_and_unknown) {
  auto w = wire{}.u8('k').u64(0x16B374D848).u64(99).u8(1);
  auto res = pg::decode_copy_data(w.b);
  ASSERT_TRUE(res);
  const auto& k = std::get<pg::primary_keepalive>(*res);
  EXPECT_EQ(k.wal_end, 0x16B374D848u);
  EXPECT_EQ(k.send_time, 99);
  EXPECT_TRUE(k.reply_requested);
  for (std::size_t len = 0; len < w.b.size(); ++len) {
    std::vector<std::byte> prefix(w.b.begin(), w.b.begin() + static_cast<long>(len));
    EXPECT_FALSE(pg::decode_copy_data(prefix)) << len;
  }
  w.u8(0);
  EXPECT_EQ(pg::decode_copy_data(w.b).error().code, pg::errc::trailing_bytes);
  auto unknown = pg::decode_copy_data(wire{}.u8('B').u64(0).b);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().to_string(), "CopyData: unknown message type 66 ('B')");
}

TEST(pgoutput_copy_data, standby_status_is_34_bytes) {
  std::array<std::byte, pg::standby_status_size> out{};
  pg::encode_standby_status({0x16B374D848, 0x0102030405060708, 3, -1, true}, out);
  const auto expected = wire{}
                            .u8('r')
                            .u64(0x16B374D848)
                            .u64(0x0102030405060708)
                            .u64(3)
                            .u64(0xFFFFFFFFFFFFFFFF)
                            .u8(1)
                            .b;
  EXPECT_EQ(std::vector<std::byte>(out.begin(), out.end()), expected);
  pg::encode_standby_status({}, out);
  EXPECT_EQ(out[0], std::byte{'r'});
  EXPECT_EQ(out[33], std::byte{0});
}

// ---------------------------------------------------------------- LSNs and times

TEST(pgoutput_lsn, format_and_parse) {
  EXPECT_EQ(pg::format_lsn(0x16B374D848), "16/B374D848");
  EXPECT_EQ(pg::format_lsn(0), "0/0");
  EXPECT_EQ(pg::format_lsn(std::numeric_limits<std::uint64_t>::max()), "FFFFFFFF/FFFFFFFF");
  EXPECT_EQ(pg::format_lsn(0x100000000), "1/0");
  EXPECT_EQ(pg::parse_lsn("16/B374D848"), 0x16B374D848u);
  EXPECT_EQ(pg::parse_lsn("16/b374d848"), 0x16B374D848u);
  EXPECT_EQ(pg::parse_lsn("0/0"), 0u);
  EXPECT_EQ(pg::parse_lsn("FFFFFFFF/FFFFFFFF"), std::numeric_limits<std::uint64_t>::max());
  for (const char* bad : {"", "/", "1/", "/1", "123456789/0", "0/123456789", "1/2/3", "g/0", " 1/0",
                          "1/0 ", "1-0", "+1/0", "0x1/0"}) {
    EXPECT_FALSE(pg::parse_lsn(bad)) << bad;
  }
  for (std::uint64_t v : {1ull, 0xFFFFFFFFull, 0x123456789ABCDEFull}) {
    EXPECT_EQ(pg::parse_lsn(pg::format_lsn(v)), v);
  }
}

TEST(pgoutput_time, microseconds_since_2000) {
  using namespace std::chrono;
  const system_clock::time_point y2k{seconds(946684800)};
  EXPECT_EQ(pg::to_pg_time(y2k), 0);
  EXPECT_EQ(pg::to_pg_time(y2k + microseconds(1500)), 1500);
  EXPECT_EQ(pg::from_pg_time(-1000000), y2k - seconds(1));
  const auto now = time_point_cast<microseconds>(system_clock::now());
  EXPECT_EQ(pg::from_pg_time(pg::to_pg_time(now)), now);
  // Wild values from the wire saturate instead of overflowing.
  EXPECT_EQ(pg::from_pg_time(std::numeric_limits<std::int64_t>::max()),
            pg::from_pg_time(std::numeric_limits<std::int64_t>::max() - 1));
  EXPECT_LT(pg::from_pg_time(std::numeric_limits<std::int64_t>::min()), y2k);
}
