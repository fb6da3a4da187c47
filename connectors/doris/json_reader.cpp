#include "connectors/doris/json_reader.hpp"

#include <cstdint>

namespace uringmig::connectors::doris::json {

namespace {

constexpr int max_depth = 64;

class reader {
 public:
  explicit reader(std::string_view s) : s_(s) {}

  object_result top() {
    object_result r;
    object o;
    skip_ws();
    if (!members(o, 0)) {
      r.error = err_;
      return r;
    }
    skip_ws();
    if (i_ != s_.size()) {
      fail("unexpected text after the object");
      r.error = err_;
      return r;
    }
    r.value = std::move(o);
    return r;
  }

  /// The whole text is one array: its elements into `out`.
  std::optional<std::vector<value>> top_array() {
    std::vector<value> out;
    skip_ws();
    if (!elements(0, &out)) return std::nullopt;
    skip_ws();
    if (i_ != s_.size()) return std::nullopt;
    return out;
  }

 private:
  bool fail(std::string_view what) {
    if (err_.empty()) err_ = std::string(what) + " at offset " + std::to_string(i_);
    return false;
  }
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[i_]; }
  void skip_ws() {
    while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool expect(char c) {
    if (peek() != c) return fail(std::string("expected '") + c + "'");
    ++i_;
    return true;
  }

  // '{' members '}' with the cursor on '{'.
  bool members(object& o, int depth) {
    if (depth > max_depth) return fail("nesting too deep");
    if (!expect('{')) return false;
    skip_ws();
    if (peek() == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      std::string key;
      if (peek() != '"') return fail("expected a member name");
      if (!string(key)) return false;
      skip_ws();
      if (!expect(':')) return false;
      skip_ws();
      value v;
      if (!any(v, depth + 1)) return false;
      o.members.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      return expect('}');
    }
  }

  bool elements(int depth, std::vector<value>* out = nullptr) {
    if (depth > max_depth) return fail("nesting too deep");
    if (!expect('[')) return false;
    skip_ws();
    if (peek() == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      value v;
      if (!any(v, depth + 1)) return false;
      if (out != nullptr) out->push_back(std::move(v));
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      return expect(']');
    }
  }

  bool any(value& v, int depth) {
    const std::size_t start = i_;
    switch (peek()) {
      case '"':
        v.kind = kind::string;
        return string(v.text);
      case '{': {
        object nested;
        if (!members(nested, depth)) return false;
        v.kind = kind::object;
        v.text = std::string(s_.substr(start, i_ - start));
        return true;
      }
      case '[':
        if (!elements(depth)) return false;
        v.kind = kind::array;
        v.text = std::string(s_.substr(start, i_ - start));
        return true;
      case 't':
        v.kind = kind::boolean;
        v.text = "true";
        return word("true");
      case 'f':
        v.kind = kind::boolean;
        v.text = "false";
        return word("false");
      case 'n':
        v.kind = kind::null;
        return word("null");
      default:
        v.kind = kind::number;
        return number(v.text);
    }
  }

  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return fail("unknown literal");
    i_ += w.size();
    return true;
  }

  bool digits() {
    const std::size_t from = i_;
    while (!at_end() && s_[i_] >= '0' && s_[i_] <= '9')
      ++i_;
    return i_ > from;
  }

  bool number(std::string& out) {
    const std::size_t start = i_;
    if (peek() == '-') ++i_;
    if (peek() == '0') {
      ++i_;
    } else if (!digits()) {
      return fail("expected a value");
    }
    if (peek() == '.') {
      ++i_;
      if (!digits()) return fail("malformed number");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!digits()) return fail("malformed number");
    }
    out = std::string(s_.substr(start, i_ - start));
    return true;
  }

  bool hex4(std::uint32_t& cp) {
    if (s_.size() - i_ < 4) return fail("short \\u escape");
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      cp <<= 4;
      if (c >= '0' && c <= '9') {
        cp |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        cp |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        cp |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return fail("bad \\u escape");
      }
    }
    return true;
  }

  static void utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool escape(std::string& out) {
    const char c = s_[i_++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out += c;
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u': {
        std::uint32_t cp = 0;
        if (!hex4(cp)) return false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          std::uint32_t low = 0;
          if (s_.substr(i_, 2) != "\\u") return fail("lone high surrogate");
          i_ += 2;
          if (!hex4(low)) return false;
          if (low < 0xDC00 || low > 0xDFFF) return fail("bad low surrogate");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail("lone low surrogate");
        }
        utf8(out, cp);
        return true;
      }
      default:
        --i_;
        return fail("unknown escape");
    }
  }

  // With the cursor on the opening quote.
  bool string(std::string& out) {
    ++i_;
    for (;;) {
      if (at_end()) return fail("unterminated string");
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
      ++i_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) return fail("unterminated string");
      if (!escape(out)) return false;
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string err_;
};

}  // namespace

const value* object::find(std::string_view key) const {
  for (const auto& [k, v] : members) {
    if (k == key) return &v;
  }
  return nullptr;
}

object_result read_object(std::string_view text) {
  return reader(text).top();
}

std::optional<std::vector<value>> read_array(std::string_view text) {
  return reader(text).top_array();
}

}  // namespace uringmig::connectors::doris::json
