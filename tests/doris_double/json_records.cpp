// JSON input of a Stream Load: a small validating reader, enough to split
// records and take their members' values as text.

#include "tests/doris_double/load_format.hpp"

namespace uringmig::test::doris_double {

namespace {

class json_reader {
 public:
  explicit json_reader(std::string_view s) : s_(s) {}

  std::size_t pos() const { return i_; }
  bool at_end() {
    ws();
    return i_ == s_.size();
  }

  void ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }

  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  char peek() {
    ws();
    return i_ < s_.size() ? s_[i_] : '\0';
  }

  std::optional<json_members> object() {
    if (!eat('{')) return std::nullopt;
    json_members out;
    if (eat('}')) return out;
    do {
      std::string key;
      ws();
      if (!string(key) || !eat(':')) return std::nullopt;
      field value;
      if (!member_value(value)) return std::nullopt;
      out.emplace_back(std::move(key), std::move(value));
    } while (eat(','));
    if (!eat('}')) return std::nullopt;
    return out;
  }

  // Validates one value of any kind and moves past it.
  bool skip_value(int depth = 0) {
    if (depth > 200) return false;
    char c = peek();
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++i_;
      if (eat(close)) return true;
      do {
        if (c == '{') {
          std::string key;
          ws();
          if (!string(key) || !eat(':')) return false;
        }
        if (!skip_value(depth + 1)) return false;
      } while (eat(','));
      return eat(close);
    }
    field ignored;
    return scalar(ignored);
  }

 private:
  bool member_value(field& out) {
    char c = peek();
    if (c == '{' || c == '[') {
      std::size_t start = i_;
      if (!skip_value()) return false;
      out = std::string(s_.substr(start, i_ - start));
      return true;
    }
    return scalar(out);
  }

  bool scalar(field& out) {
    ws();
    if (i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '"') {
      std::string v;
      if (!string(v)) return false;
      out = std::move(v);
      return true;
    }
    for (std::string_view lit : {"true", "false", "null"}) {
      if (s_.compare(i_, lit.size(), lit) == 0) {
        i_ += lit.size();
        if (lit == "null") {
          out = std::nullopt;
        } else {
          out = std::string(lit);
        }
        return true;
      }
    }
    std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    bool digits = false;
    while (i_ < s_.size() && ((s_[i_] >= '0' && s_[i_] <= '9') || s_[i_] == '.' || s_[i_] == 'e' ||
                              s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-')) {
      digits = digits || (s_[i_] >= '0' && s_[i_] <= '9');
      ++i_;
    }
    if (!digits) return false;
    out = std::string(s_.substr(start, i_ - start));
    return true;
  }

  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool hex4(unsigned& out) {
    if (i_ + 4 > s_.size()) return false;
    out = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      int v = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (v < 0) return false;
      out = out * 16 + static_cast<unsigned>(v);
    }
    return true;
  }

  bool string(std::string& out) {
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    ++i_;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(i_, 2, "\\u") == 0) {
            i_ += 2;
            unsigned lo = 0;
            if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

std::string_view trim_ws(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

// Each element of an outer array is one record.
void split_array(std::string_view text, const json_callback& on_record) {
  json_reader r(text);
  r.eat('[');
  if (r.eat(']')) return;
  do {
    r.ws();
    std::size_t start = r.pos();
    bool ok = r.skip_value();
    std::string_view raw = text.substr(start, r.pos() - start);
    if (!ok) {
      on_record(text.substr(start), std::nullopt);
      return;
    }
    on_record(raw, parse_json_object(raw));
  } while (r.eat(','));
}

}  // namespace

std::optional<json_members> parse_json_object(std::string_view text) {
  json_reader r(text);
  std::optional<json_members> out = r.object();
  if (!out || !r.at_end()) return std::nullopt;
  return out;
}

std::optional<std::string> parse_json_records(std::string_view body, const json_options& opts,
                                              const json_callback& on_record) {
  static constexpr std::string_view array_error =
      "[DATA_QUALITY_ERROR]JSON data is array-object, `strip_outer_array` must be TRUE.";
  auto one = [&](std::string_view text) -> std::optional<std::string> {
    text = trim_ws(text);
    if (text.empty()) return std::nullopt;
    if (text.front() == '[') {
      if (!opts.strip_outer_array) return std::string(array_error);
      split_array(text, on_record);
      return std::nullopt;
    }
    on_record(text, parse_json_object(text));
    return std::nullopt;
  };
  if (!opts.read_json_by_line) return one(body);
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    if (auto err = one(body.substr(pos, end - pos))) return err;
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace uringmig::test::doris_double
