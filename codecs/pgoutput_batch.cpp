#include "codecs/pgoutput_batch.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <variant>

namespace uringmig::codecs::pgoutput {

namespace {

// Moves views from a payload to its copy.
struct rebase {
  const std::byte* from;
  std::size_t size;
  const std::byte* to;

  std::string_view operator()(std::string_view v) const {
    const auto* p = reinterpret_cast<const std::byte*>(v.data());
    if (p < from || p > from + size) return v;  // not into the payload (empty, static)
    return {reinterpret_cast<const char*>(to + (p - from)), v.size()};
  }
};

template <class T>
std::span<const T> copy_span(detail::block_arena<T>& arena, std::span<const T> in) {
  if (in.empty()) return {};
  T* out = arena.allocate(in.size());
  std::copy(in.begin(), in.end(), out);
  return {out, in.size()};
}

std::span<const column_value> copy_tuple(detail::block_arena<column_value>& arena,
                                         std::span<const column_value> in, const rebase& r) {
  if (in.empty()) return {};
  column_value* out = arena.allocate(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    out[i].kind = in[i].kind;
    out[i].data = r(in[i].data);
  }
  return {out, in.size()};
}

}  // namespace

void message_batch::add(const message& m, std::span<const std::byte> payload) {
  std::byte* copy = payload.empty() ? nullptr : bytes_.allocate(payload.size());
  if (copy != nullptr) std::memcpy(copy, payload.data(), payload.size());
  payload_bytes_ += payload.size();
  const rebase r{payload.data(), payload.size(), copy};
  message out = std::visit(
      [&](const auto& in) -> message {
        using T = std::decay_t<decltype(in)>;
        T o = in;
        if constexpr (std::is_same_v<T, origin_message>) {
          o.name = r(in.name);
        } else if constexpr (std::is_same_v<T, relation_message>) {
          o.nspname = r(in.nspname);
          o.relname = r(in.relname);
          if (!in.columns.empty()) {
            relation_column* cols = columns_.allocate(in.columns.size());
            for (std::size_t i = 0; i < in.columns.size(); ++i) {
              cols[i] = in.columns[i];
              cols[i].name = r(in.columns[i].name);
            }
            o.columns = {cols, in.columns.size()};
          }
        } else if constexpr (std::is_same_v<T, type_message>) {
          o.nspname = r(in.nspname);
          o.typname = r(in.typname);
        } else if constexpr (std::is_same_v<T, insert_message>) {
          o.new_tuple = copy_tuple(values_, in.new_tuple, r);
        } else if constexpr (std::is_same_v<T, update_message>) {
          o.old_tuple = copy_tuple(values_, in.old_tuple, r);
          o.new_tuple = copy_tuple(values_, in.new_tuple, r);
        } else if constexpr (std::is_same_v<T, delete_message>) {
          o.old_tuple = copy_tuple(values_, in.old_tuple, r);
        } else if constexpr (std::is_same_v<T, truncate_message>) {
          o.relation_oids = copy_span(oids_, in.relation_oids);
        } else if constexpr (std::is_same_v<T, logical_message>) {
          o.prefix = r(in.prefix);
          o.content = r(in.content);
        }
        return o;
      },
      m);
  entries_.push_back(entry{std::move(out), {copy, payload.size()}});
}

std::size_t message_batch::footprint() const noexcept {
  return bytes_.capacity() + values_.capacity() * sizeof(column_value) +
         columns_.capacity() * sizeof(relation_column) + oids_.capacity() * sizeof(std::uint32_t) +
         entries_.capacity() * sizeof(entry);
}

void message_batch::clear() noexcept {
  bytes_.clear();
  values_.clear();
  columns_.clear();
  oids_.clear();
  entries_.clear();
  payload_bytes_ = 0;
}

}  // namespace uringmig::codecs::pgoutput
