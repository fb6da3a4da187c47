// The parallel applier's ordering decisions (cdc/apply_order.hpp): pure bookkeeping.
#include "engine/cdc/apply_order.hpp"

#include <algorithm>
#include <functional>
#include <string_view>

namespace uringmig::engine::cdc::detail {

namespace pgo = codecs::pgoutput;

namespace {

// splitmix64's finaliser: every input bit reaches every output bit.
dep_key mix(dep_key h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

dep_key mix(dep_key h, dep_key v) {
  return mix(h ^ mix(v + 0x9e3779b97f4a7c15ULL));
}

}  // namespace

std::optional<dep_key> row_key(std::uint32_t oid, const key_relation* rel,
                               std::span<const pgo::column_value> tuple) {
  if (rel == nullptr || tuple.size() != rel->key.size()) return std::nullopt;
  if (rel->identity == 'f' || rel->whole) return mix(1, oid);  // a row key starts from 2
  dep_key key = mix(2, oid);
  for (std::size_t i = 0; i < tuple.size(); ++i) {
    if (!rel->key[i]) continue;
    const pgo::column_value& v = tuple[i];
    if (v.is_null()) {
      key = mix(key, 0x6e756c6cULL);  // NULL: unlike any text value's digest below but by chance
    } else if (v.kind == pgo::value_kind::text) {
      key = mix(key, std::hash<std::string_view>{}(v.data) ^ v.data.size());
    } else {
      return std::nullopt;  // an unchanged TOASTed key: no value to track
    }
  }
  return key;
}

owner_map::owner owner_map::find(dep_key key) const {
  if (used_ == 0) return {};
  for (std::size_t i = home(key);; i = (i + 1) & mask_) {
    const slot& s = slots_[i];
    if (s.o.seq == 0) return {};
    if (s.key == key) return s.o.seq > committed_ ? s.o : owner{};
  }
}

void owner_map::set(dep_key key, owner o) {
  if ((used_ + 1) * 2 > slots_.size()) rebuild();
  std::size_t i = home(key);
  while (slots_[i].o.seq != 0 && slots_[i].key != key)
    i = (i + 1) & mask_;
  if (slots_[i].o.seq == 0) ++used_;
  slots_[i] = slot{key, o};
}

std::size_t owner_map::size() const {
  return static_cast<std::size_t>(std::count_if(
      slots_.begin(), slots_.end(), [this](const slot& s) { return s.o.seq > committed_; }));
}

void owner_map::rebuild() {
  // Only keys of transactions not committed move over; the table doubles when they still fill
  // a quarter of it.
  std::vector<slot> old = std::move(slots_);
  const std::size_t live = static_cast<std::size_t>(std::count_if(
      old.begin(), old.end(), [this](const slot& s) { return s.o.seq > committed_; }));
  std::size_t size = old.empty() ? 1024 : old.size();
  if ((live + 1) * 4 > size) size *= 2;
  slots_.assign(size, slot{});
  mask_ = size - 1;
  used_ = 0;
  for (const slot& s : old) {
    if (s.o.seq <= committed_) continue;
    std::size_t i = home(s.key);
    while (slots_[i].o.seq != 0)
      i = (i + 1) & mask_;
    slots_[i] = s;
    ++used_;
  }
}

apply_order::apply_order(std::size_t lanes, std::size_t chunk_limit)
    : lanes_(std::max<std::size_t>(lanes, 1)),
      chunk_limit_(std::max<std::size_t>(chunk_limit, 1)) {}

apply_order::placement apply_order::place(std::span<const dep_key> keys, std::size_t changes) {
  // The uncommitted transactions holding its keys must all be on one lane: it goes there.
  std::optional<std::size_t> only;
  for (const auto& key : keys) {
    const owner_map::owner o = owners_.find(key);
    if (o.seq == 0) continue;
    if (!only) only = o.lane;
    if (*only != o.lane) return {true, 0};
  }
  std::size_t lane = chunk_lane_;
  if (only) {
    lane = *only;
  } else if (chunk_changes_ >= chunk_limit_) {
    lane = (chunk_lane_ + 1) % lanes_.size();
  }
  if (lane != chunk_lane_) {
    chunk_lane_ = lane;
    chunk_changes_ = 0;
  }
  chunk_changes_ += std::max<std::size_t>(changes, 1);
  return {false, lane};
}

std::uint64_t apply_order::assign(std::size_t lane, lsn end, std::int64_t time,
                                  std::vector<dep_key> keys) {
  const std::uint64_t seq = next_seq_++;
  for (const auto& key : keys)
    owners_.set(key, {seq, lane});
  inflight_.push_back(txn{seq, end, time});
  return seq;
}

bool apply_order::must_commit_before(std::size_t lane, std::uint64_t seq) const {
  const lane_state& l = lanes_[lane];
  return seq != 0 && l.last != 0 && seq != l.last + 1;
}

void apply_order::took(std::size_t lane, std::uint64_t seq) {
  if (seq == 0) return;
  lane_state& l = lanes_[lane];
  if (l.first == 0) l.first = seq;
  l.last = seq;
}

bool apply_order::should_commit(std::size_t lane, bool dispatcher_waits) const {
  const lane_state& l = lanes_[lane];
  return l.last != 0 && (dispatcher_waits || next_seq_ > l.last + 1);
}

void apply_order::committed(std::size_t lane) {
  lane_state& l = lanes_[lane];
  committed_seq_ = std::max(committed_seq_, l.last);
  while (!inflight_.empty() && inflight_.front().seq <= committed_seq_) {
    committed_lsn_ = std::max(committed_lsn_, inflight_.front().end);
    inflight_.pop_front();
  }
  owners_.release_through(committed_seq_);
  l.first = 0;
  l.last = 0;
}

}  // namespace uringmig::engine::cdc::detail
