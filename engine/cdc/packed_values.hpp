#pragma once

// Internal to engine/cdc/apply*: the values of many rows in one buffer, for a group's net rows and
// runs of inserts, so that a change costs no allocation per value (a string per value was most
// of the applier's allocations). What a pipelined statement sends is packed the same way
// (connectors::postgres::statement::packed).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::engine::cdc::detail {

class packed_values {
 public:
  static constexpr std::int64_t null = -1;
  static constexpr std::int64_t unset = -2;  // no value: the target keeps its own

  std::size_t size() const { return at_.size(); }
  bool is_set(std::size_t i) const { return at_[i] != unset; }
  /// Set and not NULL: text(i) is its value.
  bool has_text(std::size_t i) const { return at_[i] >= 0; }
  /// Appends a value (nullopt: NULL).
  void push(std::optional<std::string_view> v) {
    at_.push_back(null);
    if (v) put(at_.size() - 1, *v);
  }
  void push_unset() { at_.push_back(unset); }
  /// Appends a value that `write(std::string&)` appends in place (no copy of its text).
  template <class F>
  void push_written(F&& write) {
    at_.push_back(static_cast<std::int64_t>(bytes_.size()));
    write(bytes_);
    bytes_.push_back('\0');
  }
  /// Replaces value `i`, in its old place when the new text fits there (a hot row's values do not
  /// pile up); returns the bytes the buffer holds unused from now on.
  std::size_t set(std::size_t i, std::optional<std::string_view> v) {
    const std::size_t old = at_[i] >= 0 ? length(i) : 0;
    if (!v) {
      at_[i] = null;
      return old;
    }
    if (at_[i] >= 0 && v->size() <= old) {
      auto* p = bytes_.data() + at_[i];
      v->copy(p, v->size());
      p[v->size()] = '\0';
      return old - v->size();
    }
    put(i, *v);
    return old;
  }
  void reset(std::size_t i) { at_[i] = unset; }
  /// Appends value `i` of `from` (set) to this buffer.
  void push_from(const packed_values& from, std::size_t i) {
    if (from.at_[i] < 0) {
      push(std::nullopt);
    } else {
      push(from.text(i));
    }
  }
  /// A set, not NULL value's text.
  std::string_view text(std::size_t i) const { return {bytes_.data() + at_[i], length(i)}; }
  std::size_t bytes() const { return bytes_.size(); }
  void clear() {
    bytes_.clear();
    at_.clear();
  }
  void reserve(std::size_t values, std::size_t bytes) {
    at_.reserve(values);
    bytes_.reserve(bytes);
  }
  /// Gives the buffer and the offsets away (a statement's parameters); empty afterwards.
  void release(std::string& bytes, std::vector<std::int64_t>& at) {
    bytes = std::move(bytes_);
    at = std::move(at_);
    clear();
  }

 private:
  void put(std::size_t i, std::string_view v) {
    at_[i] = static_cast<std::int64_t>(bytes_.size());
    bytes_.append(v);
    bytes_.push_back('\0');
  }
  // Text values hold no NUL (PostgreSQL's text never does): the NUL after one ends it.
  std::size_t length(std::size_t i) const {
    return std::char_traits<char>::length(bytes_.data() + at_[i]);
  }

  std::string bytes_;
  std::vector<std::int64_t> at_;
};

}  // namespace uringmig::engine::cdc::detail
