// message_batch: decoded messages stay intact after their input bytes and the decoder's buffers
// are reused, and a cleared batch reuses its blocks.

#include "codecs/pgoutput_batch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgo = uringmig::codecs::pgoutput;

namespace {

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

// One of each message the applier gets, with distinct values ("n" varies them).
std::vector<std::vector<std::byte>> messages(int n) {
  const std::string s = std::to_string(n);
  std::vector<std::vector<std::byte>> out;
  out.push_back(wire{}.u8('B').u64(0x100 + n).u64(7000 + n).u32(42).b);
  out.push_back(wire{}.u8('O').u64(0x1ABC).str("origin" + s).b);
  out.push_back(wire{}
                    .u8('R')
                    .u32(16390)
                    .str("ns" + s)
                    .str("rel" + s)
                    .u8('f')
                    .u16(2)
                    .u8(1)
                    .str("id" + s)
                    .u32(23)
                    .u32(0xFFFFFFFF)
                    .u8(0)
                    .str("v" + s)
                    .u32(25)
                    .u32(0xFFFFFFFF)
                    .b);
  out.push_back(wire{}.u8('I').u32(16390).u8('N').u16(2).value("i" + s).u8('n').b);
  out.push_back(wire{}
                    .u8('U')
                    .u32(16390)
                    .u8('O')
                    .u16(2)
                    .value("old" + s)
                    .u8('u')
                    .u8('N')
                    .u16(2)
                    .value("new" + s)
                    .value("x" + s)
                    .b);
  out.push_back(wire{}.u8('D').u32(16390).u8('K').u16(2).value("d" + s).u8('n').b);
  out.push_back(wire{}.u8('T').u32(2).u8(1).u32(16390 + n).u32(16391).b);
  out.push_back(
      wire{}.u8('M').u8(1).u64(0x55).str("prefix" + s).u32(4).raw("c" + s.substr(0, 1) + "xy").b);
  out.push_back(wire{}.u8('C').u8(0).u64(0x10).u64(0x20 + n).u64(7000 + n).b);
  return out;
}

std::string tuple_text(std::span<const pgo::column_value> t) {
  std::string out;
  for (const auto& v : t)
    out += std::string(1, static_cast<char>(v.kind)) + std::string(v.data) + ";";
  return out;
}

// Every field of a message as text.
std::string describe(const pgo::message& m) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, pgo::begin_message>) {
          return "B" + std::to_string(x.final_lsn) + "/" + std::to_string(x.commit_time);
        } else if constexpr (std::is_same_v<T, pgo::origin_message>) {
          return "O" + std::string(x.name);
        } else if constexpr (std::is_same_v<T, pgo::relation_message>) {
          std::string s = "R" + std::string(x.nspname) + "." + std::string(x.relname) +
                          static_cast<char>(x.identity);
          for (const auto& c : x.columns)
            s += "," + std::string(c.name) + ":" + std::to_string(c.type_oid) +
                 (c.is_key() ? "k" : "");
          return s;
        } else if constexpr (std::is_same_v<T, pgo::insert_message>) {
          return "I" + tuple_text(x.new_tuple);
        } else if constexpr (std::is_same_v<T, pgo::update_message>) {
          return "U" + tuple_text(x.old_tuple) + "|" + tuple_text(x.new_tuple);
        } else if constexpr (std::is_same_v<T, pgo::delete_message>) {
          return "D" + tuple_text(x.old_tuple);
        } else if constexpr (std::is_same_v<T, pgo::truncate_message>) {
          std::string s = "T";
          for (auto oid : x.relation_oids)
            s += std::to_string(oid) + ",";
          return s;
        } else if constexpr (std::is_same_v<T, pgo::logical_message>) {
          return "M" + std::string(x.prefix) + "=" + std::string(x.content);
        } else if constexpr (std::is_same_v<T, pgo::commit_message>) {
          return "C" + std::to_string(x.end_lsn);
        } else {
          return "other";
        }
      },
      m);
}

}  // namespace

TEST(pgoutput_batch, messages_outlive_their_input_and_the_decoder_buffers) {
  pgo::message_batch batch;
  std::vector<std::string> want;
  pgo::decoder d(2);
  for (int round = 0; round < 200; ++round) {  // enough to fill several blocks
    for (auto& bytes : messages(round)) {
      auto m = d.decode(bytes);
      ASSERT_TRUE(m) << m.error().to_string();
      want.push_back(describe(*m));
      batch.add(*m, bytes);
      bytes.assign(bytes.size(), std::byte{0x5A});  // the input is gone
    }
  }
  ASSERT_EQ(batch.size(), want.size());
  const auto first = messages(0);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(describe(batch.entries()[i].m), want[i]) << i;
  }
  // The payload is kept as well (the spool of a streamed transaction writes it).
  const auto& p = batch.entries()[0].payload;
  ASSERT_EQ(p.size(), first[0].size());
  EXPECT_TRUE(std::equal(p.begin(), p.end(), first[0].begin()));
}

TEST(pgoutput_batch, clear_keeps_the_blocks) {
  pgo::message_batch batch;
  pgo::decoder d(2);
  auto fill = [&](int n) {
    for (int round = 0; round < 100; ++round) {
      for (auto& bytes : messages(n + round)) {
        auto m = d.decode(bytes);
        ASSERT_TRUE(m);
        batch.add(*m, bytes);
      }
    }
  };
  fill(0);
  const std::size_t bytes = batch.payload_bytes();
  EXPECT_GT(bytes, 0U);
  const std::size_t footprint = batch.footprint();
  batch.clear();
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(batch.payload_bytes(), 0U);
  fill(0);
  EXPECT_EQ(batch.footprint(), footprint);  // nothing allocated the second time
  EXPECT_EQ(batch.payload_bytes(), bytes);
}

TEST(pgoutput_batch, a_payload_bigger_than_a_block_gets_its_own) {
  pgo::message_batch batch;
  const std::string big(200 * 1024, 'q');
  auto bytes = wire{}.u8('I').u32(1).u8('N').u16(1).value(big).b;
  pgo::decoder d(2);
  auto m = d.decode(bytes);
  ASSERT_TRUE(m);
  batch.add(*m, bytes);
  bytes.clear();
  const auto& ins = std::get<pgo::insert_message>(batch.entries()[0].m);
  ASSERT_EQ(ins.new_tuple.size(), 1U);
  EXPECT_EQ(ins.new_tuple[0].data, big);
}
