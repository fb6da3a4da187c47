// The parallel applier's ordering decisions without PostgreSQL: dependency keys of rows, which
// lane a source transaction goes to, when it waits, when a lane's target transaction ends and
// when its COMMIT may go (strictly in source commit order).

#include "engine/cdc/apply_order.hpp"
#include "engine/cdc/key_index.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cdc = uringmig::engine::cdc::detail;
namespace pgo = uringmig::codecs::pgoutput;

namespace {

pgo::column_value text(std::string_view v) {
  return {pgo::value_kind::text, v};
}
pgo::column_value null() {
  return {pgo::value_kind::null, {}};
}

// (id key, v): a table keyed by its first column.
cdc::key_relation keyed() {
  cdc::key_relation r;
  r.names = {"id", "v"};
  r.types = {23, 23};
  r.key = {true, false};
  return r;
}

cdc::dep_key key_of(std::uint32_t oid, const cdc::key_relation& r, std::string_view id,
                    std::string_view v = "0") {
  const std::vector<pgo::column_value> row = {text(id), text(v)};
  return cdc::row_key(oid, &r, row).value();
}

}  // namespace

TEST(cdc_row_key, follows_the_key_columns_only) {
  const cdc::key_relation r = keyed();
  EXPECT_EQ(key_of(1, r, "7", "a"), key_of(1, r, "7", "b"));
  EXPECT_NE(key_of(1, r, "7"), key_of(1, r, "8"));
  EXPECT_NE(key_of(1, r, "7"), key_of(2, r, "7"));  // another table
  const std::vector<pgo::column_value> with_null = {null(), text("0")};
  const std::vector<pgo::column_value> empty = {text(""), text("0")};
  EXPECT_NE(cdc::row_key(1, &r, with_null).value(), cdc::row_key(1, &r, empty).value());
}

TEST(cdc_row_key, whole_and_full_identity_tables_have_one_key) {
  cdc::key_relation full = keyed();
  full.identity = 'f';
  EXPECT_EQ(key_of(1, full, "7"), key_of(1, full, "8"));
  cdc::key_relation whole = keyed();
  whole.whole = true;
  EXPECT_EQ(key_of(1, whole, "7"), key_of(1, whole, "8"));
  EXPECT_EQ(key_of(1, whole, "7"), key_of(1, full, "7"));  // both: the relation itself
  EXPECT_NE(key_of(1, whole, "7"), key_of(1, keyed(), "7"));
}

TEST(cdc_row_key, none_without_a_usable_key) {
  const cdc::key_relation r = keyed();
  const std::vector<pgo::column_value> row = {text("1"), text("2")};
  EXPECT_FALSE(cdc::row_key(1, nullptr, row));  // unknown relation
  const std::vector<pgo::column_value> narrow = {text("1")};
  EXPECT_FALSE(cdc::row_key(1, &r, narrow));
  const std::vector<pgo::column_value> toast = {{pgo::value_kind::unchanged_toast, {}}, text("2")};
  EXPECT_FALSE(cdc::row_key(1, &r, toast));
  const std::vector<pgo::column_value> toast_value = {text("1"),
                                                      {pgo::value_kind::unchanged_toast, {}}};
  EXPECT_TRUE(cdc::row_key(1, &r, toast_value));  // not a key column
}

TEST(cdc_apply_order, independent_transactions_fill_a_lane_then_the_next) {
  cdc::apply_order o(2, 10);
  std::vector<std::size_t> lanes;
  for (cdc::dep_key k = 1; k <= 6; ++k) {
    const auto p = o.place(std::vector<cdc::dep_key>{k}, 4);
    ASSERT_FALSE(p.wait);
    lanes.push_back(p.lane);
    o.assign(p.lane, 100 * k, 0, {k});
  }
  // 4 + 4 + 4 changes reach the limit of 10: the fourth starts lane 1's chunk, then back to 0.
  EXPECT_EQ(lanes, (std::vector<std::size_t>{0, 0, 0, 1, 1, 1}));
  const auto p = o.place(std::vector<cdc::dep_key>{99}, 1);
  EXPECT_EQ(p.lane, 0U);
}

TEST(cdc_apply_order, a_held_key_sends_the_transaction_to_its_owner) {
  cdc::apply_order o(2, 1);
  auto p = o.place(std::vector<cdc::dep_key>{5}, 1);
  EXPECT_EQ(p.lane, 0U);
  o.assign(p.lane, 10, 0, {5});
  p = o.place(std::vector<cdc::dep_key>{6}, 1);  // the chunk is full: lane 1
  EXPECT_EQ(p.lane, 1U);
  o.assign(p.lane, 20, 0, {6});
  // Holds 5 (lane 0) and a new key: lane 0, after the first, although lane 1's chunk is open.
  p = o.place(std::vector<cdc::dep_key>{7, 5}, 1);
  EXPECT_FALSE(p.wait);
  EXPECT_EQ(p.lane, 0U);
}

TEST(cdc_apply_order, keys_held_on_two_lanes_wait_for_a_commit) {
  cdc::apply_order o(2, 1);
  o.assign(o.place(std::vector<cdc::dep_key>{5}, 1).lane, 10, 0, {5});  // lane 0
  o.assign(o.place(std::vector<cdc::dep_key>{6}, 1).lane, 20, 0, {6});  // lane 1
  EXPECT_TRUE(o.place(std::vector<cdc::dep_key>{5, 6}, 1).wait);
  o.took(0, 1);
  o.took(1, 2);
  ASSERT_TRUE(o.turn(0));
  o.committed(0);  // releases 5
  const auto p = o.place(std::vector<cdc::dep_key>{5, 6}, 1);
  EXPECT_FALSE(p.wait);
  EXPECT_EQ(p.lane, 1U);
}

TEST(cdc_apply_order, commits_go_in_source_order) {
  cdc::apply_order o(2, 1);
  o.set_committed_lsn(5);
  const std::uint64_t s1 = o.assign(0, 10, 1000, {1});
  const std::uint64_t s2 = o.assign(1, 20, 2000, {2});
  const std::uint64_t s3 = o.assign(0, 30, 3000, {3});
  EXPECT_EQ(s1, 1U);
  EXPECT_EQ(s2, 2U);
  EXPECT_EQ(s3, 3U);
  EXPECT_EQ(o.in_flight(), 3U);
  EXPECT_EQ(o.oldest_time(), 1000);
  o.took(1, s2);
  EXPECT_FALSE(o.turn(1));  // seq 1 is not committed yet
  o.took(0, s1);
  // Lane 0 holds 1; seq 3 does not follow it: its target transaction commits first.
  EXPECT_TRUE(o.must_commit_before(0, s3));
  EXPECT_FALSE(o.must_commit_before(0, 0));  // raw messages join whatever is open
  EXPECT_TRUE(o.turn(0));
  o.committed(0);
  EXPECT_EQ(o.committed_lsn(), 10U);
  EXPECT_EQ(o.oldest_time(), 2000);
  EXPECT_TRUE(o.turn(1));
  o.committed(1);
  EXPECT_EQ(o.committed_lsn(), 20U);
  o.took(0, s3);
  EXPECT_FALSE(o.all_committed());
  o.committed(0);
  EXPECT_TRUE(o.all_committed());
  EXPECT_EQ(o.committed_lsn(), 30U);
  EXPECT_EQ(o.in_flight(), 0U);
  EXPECT_EQ(o.oldest_time(), 0);
  // Keys are free again: a transaction on key 2 goes wherever the chunk is.
  EXPECT_FALSE(o.place(std::vector<cdc::dep_key>{2}, 1).wait);
}

TEST(cdc_apply_order, consecutive_transactions_share_a_target_transaction) {
  cdc::apply_order o(2, 100);
  const auto s1 = o.assign(0, 10, 0, {});
  const auto s2 = o.assign(0, 20, 0, {});
  o.took(0, s1);
  EXPECT_FALSE(o.must_commit_before(0, s2));  // s2 joins s1's target transaction
  o.took(0, s2);
  // The lane's queue is empty (should_commit is asked then): nothing after s2 yet, more may come.
  EXPECT_FALSE(o.should_commit(0, false));
  EXPECT_TRUE(o.should_commit(0, true));  // unless the dispatcher waits for commits
  o.assign(1, 30, 0, {});
  EXPECT_TRUE(o.should_commit(0, false));   // the next went to lane 1: commit now
  EXPECT_FALSE(o.should_commit(1, false));  // lane 1 took nothing
  EXPECT_TRUE(o.pending(0));
  o.committed(0);
  EXPECT_FALSE(o.pending(0));
  EXPECT_EQ(o.committed_lsn(), 20U);
}

TEST(cdc_apply_order, a_commit_only_releases_keys_it_still_owns) {
  cdc::apply_order o(2, 100);
  o.assign(0, 10, 0, {7});  // seq 1 holds 7 ...
  o.assign(0, 20, 0, {7});  // ... until seq 2, later on the same lane, holds it
  o.took(0, 1);
  o.committed(0);
  // Seq 2 (lane 0) still holds 7: a transaction on 7 and on a key of lane 1 must wait.
  o.assign(1, 30, 0, {8});
  EXPECT_TRUE(o.place(std::vector<cdc::dep_key>{7, 8}, 1).wait);
}

TEST(cdc_owner_map, agrees_with_a_map_over_random_operations) {
  // Keys chosen to collide (few distinct low bits) so probe runs are long; transactions take
  // keys in seq order and commit in seq order, often enough that the table drops what committed
  // instead of growing.
  cdc::owner_map m;
  std::unordered_map<cdc::dep_key, cdc::owner_map::owner> ref;
  std::uint64_t x = 88172645463325252ULL;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::uint64_t seq = 1;
  std::uint64_t committed = 0;
  for (int step = 0; step < 60000; ++step) {
    const cdc::dep_key key = (next() % 3000) * 4096;  // same home bits for many keys
    if (next() % 8 == 0) ++seq;                       // the next transaction
    if (next() % 3 != 0) {
      m.set(key, {seq, static_cast<std::size_t>(seq % 4)});
      ref[key] = {seq, static_cast<std::size_t>(seq % 4)};
    } else if (committed + 1 < seq && next() % 10 == 0) {
      // Up to a transaction between the last committed and the current one.
      committed += 1 + next() % (seq - committed - 1);
      m.release_through(committed);
      std::erase_if(ref, [&](const auto& e) { return e.second.seq <= committed; });
    }
    if (step % 2000 == 0) {
      ASSERT_EQ(m.size(), ref.size()) << step;
      for (cdc::dep_key k = 0; k < 3000; ++k) {
        const auto got = m.find(k * 4096);
        auto it = ref.find(k * 4096);
        ASSERT_EQ(got.seq, it == ref.end() ? 0 : it->second.seq) << step << " key " << k;
        if (it != ref.end()) {
          ASSERT_EQ(got.lane, it->second.lane);
        }
      }
    }
  }
}

TEST(cdc_owner_map, a_commit_releases_its_keys_and_they_can_be_taken_again) {
  // 200 000 keys through the map, a thousand held at a time: what committed is dropped when
  // the table fills, and a key taken again after its commit belongs to the new transaction.
  cdc::owner_map m;
  for (std::uint64_t t = 1; t <= 200; ++t) {
    for (std::uint64_t k = 0; k < 1000; ++k)
      m.set(t * 1000003 + k * 7919, {t, 0});
    EXPECT_EQ(m.find(t * 1000003).seq, t);
    m.release_through(t);
    EXPECT_EQ(m.find(t * 1000003).seq, 0U);
  }
  EXPECT_EQ(m.size(), 0U);
  m.set(5, {201, 1});
  EXPECT_EQ(m.find(5).lane, 1U);
}

TEST(cdc_key_index, finds_what_was_inserted_and_clears) {
  cdc::key_index idx;
  EXPECT_EQ(idx.find("a"), cdc::key_index::npos);
  std::vector<std::string> keys;
  for (int i = 0; i < 50000; ++i)
    keys.push_back("k" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 40), 'x'));
  keys.push_back("");  // an empty key is a key too
  for (std::size_t i = 0; i < keys.size(); ++i)
    idx.insert(keys[i], i);
  EXPECT_EQ(idx.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i)
    ASSERT_EQ(idx.find(keys[i]), i) << keys[i];
  EXPECT_EQ(idx.find("k1"), cdc::key_index::npos);  // "k1x" is there, not "k1"
  idx.clear();
  EXPECT_TRUE(idx.empty());
  EXPECT_EQ(idx.find(keys[7]), cdc::key_index::npos);
  idx.insert(keys[7], 3);
  EXPECT_EQ(idx.find(keys[7]), 3U);
}

TEST(cdc_key_index, keys_differing_in_their_last_byte_only) {
  // Such keys share a block of slots (the last byte's low bits place them in it): every last
  // byte, also those equal modulo 16, is told apart, across blocks that overflow into others.
  cdc::key_index idx;
  std::size_t n = 0;
  for (int p = 0; p < 64; ++p) {
    for (int b = 0; b < 256; ++b)
      idx.insert("id" + std::to_string(p) + static_cast<char>(b), n++);
  }
  EXPECT_EQ(idx.size(), n);
  n = 0;
  for (int p = 0; p < 64; ++p) {
    for (int b = 0; b < 256; ++b)
      ASSERT_EQ(idx.find("id" + std::to_string(p) + static_cast<char>(b)), n++) << p << " " << b;
  }
  EXPECT_EQ(idx.find("id64x"), cdc::key_index::npos);
  EXPECT_EQ(idx.find("id1"), cdc::key_index::npos);  // "id1" and a byte are there, not "id1"
}
