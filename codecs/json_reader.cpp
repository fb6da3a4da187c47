#include "codecs/json_reader.hpp"

#include <cstdint>

namespace uringmig::codecs::json {

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

  // With the cursor on the opening quote.
  bool string(std::string& out) {
    const string_read r = read_string(s_.substr(i_), out);
    if (!r.error.empty() || r.incomplete) {
      i_ += r.error_at;
      return fail(r.incomplete ? "unterminated string" : r.error);
    }
    i_ += r.end;
    return true;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string err_;
};

}  // namespace

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void put_utf8(std::string& out, std::uint32_t cp) {
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

/// Reads string escapes from `s` at `i` (just past a backslash). 1: done, 0: `s` ended first,
/// -1: malformed (`why`).
int read_escape(std::string_view s, std::size_t& i, std::string& out, const char*& why) {
  static constexpr std::string_view simple_in = "\"\\/bfnrt";
  static constexpr std::string_view simple_out = "\"\\/\b\f\n\r\t";
  if (i >= s.size()) return 0;
  const char c = s[i];
  if (const auto k = simple_in.find(c); k != std::string_view::npos) {
    out += simple_out[k];
    ++i;
    return 1;
  }
  if (c != 'u') {
    why = "unknown escape";
    return -1;
  }
  auto hex4 = [&](std::size_t at, std::uint32_t& cp) {
    if (s.size() - at < 4) return 0;
    cp = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const int d = hex_digit(s[at + k]);
      if (d < 0) {
        why = "bad \\u escape";
        return -1;
      }
      cp = (cp << 4) | static_cast<std::uint32_t>(d);
    }
    return 1;
  };
  std::uint32_t cp = 0;
  if (const int r = hex4(i + 1, cp); r <= 0) return r;
  std::size_t next = i + 5;
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (s.size() - next < 2) return 0;
    if (s.substr(next, 2) != "\\u") {
      why = "lone high surrogate";
      return -1;
    }
    std::uint32_t low = 0;
    if (const int r = hex4(next + 2, low); r <= 0) return r;
    if (low < 0xDC00 || low > 0xDFFF) {
      why = "bad low surrogate";
      return -1;
    }
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    next += 6;
  } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
    why = "lone low surrogate";
    return -1;
  }
  put_utf8(out, cp);
  i = next;
  return 1;
}

}  // namespace

string_read read_string(std::string_view s, std::string& out) {
  string_read r;
  std::size_t i = 1;  // past the opening quote
  for (;;) {
    const std::size_t from = i;
    while (i < s.size() && s[i] != '"' && s[i] != '\\' && static_cast<unsigned char>(s[i]) >= 0x20)
      ++i;
    out.append(s.substr(from, i - from));
    if (i >= s.size()) {
      r.incomplete = true;
      r.error_at = i;
      return r;
    }
    if (s[i] == '"') {
      r.end = i + 1;
      return r;
    }
    if (s[i] != '\\') {
      r.error = "control character in a string";
      r.error_at = i;
      return r;
    }
    ++i;
    const char* why = "";
    const int e = read_escape(s, i, out, why);
    if (e == 0) {
      r.incomplete = true;
      r.error_at = s.size();
      return r;
    }
    if (e < 0) {
      r.error = why;
      r.error_at = i;
      return r;
    }
  }
}

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

}  // namespace uringmig::codecs::json
