#include "cli/config.hpp"

#include "codecs/url.hpp"
#include "engine/core/config_keys.hpp"
#include "engine/core/job.hpp"

#include <toml++/toml.h>

#include <array>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

namespace uringmig::cli {

namespace {

using engine::usage_error;

bool is_name_start(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) noexcept {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

bool is_valid_name(std::string_view s) noexcept {
  if (s.empty() || !is_name_start(s.front())) return false;
  for (const char c : s) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string read_file(const std::filesystem::path& file, std::string_view what) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    throw usage_error(std::string(what) + " '" + file.string() + "' does not exist");
  }
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw usage_error(std::string(what) + " '" + file.string() + "' is not a regular file");
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    throw usage_error("cannot read " + std::string(what) + " '" + file.string() +
                      "' (check its permissions)");
  }
  return std::move(text).str();
}

// ---- TOML -> option_layer -------------------------------------------------------------------

class config_reader {
 public:
  config_reader(std::string_view origin, const env_lookup& env, key_check check)
      : origin_(origin), env_(env), check_(check) {}

  option_layer read(const toml::table& root) {
    option_layer l;
    for (auto&& [k, node] : root) {
      const std::string key(k.str());
      if (key == "source") {
        l.source = url_value(node, key);
      } else if (key == "target") {
        l.target = url_value(node, key);
      } else if (key == "preset") {
        l.preset = string_value(node, key);
      } else if (key == "source_password_file") {
        l.source_password_file = std::filesystem::path(string_value(node, key));
      } else if (key == "target_password_file") {
        l.target_password_file = std::filesystem::path(string_value(node, key));
      } else if (key == "state_dir") {
        l.state_dir = std::filesystem::path(string_value(node, key));
      } else if (key == "log_level") {
        auto level = string_value(node, key);
        if (!is_log_level(level)) {
          fail(node, "log_level '" + level + "' is not one of " + std::string(log_level_names));
        }
        l.log_level = std::move(level);
      } else if (key == "max_runtime") {
        l.max_runtime = duration_value(node, key);
      } else if (key == "jobs") {
        l.jobs = jobs_value(node, key);
      } else if (key == "index_jobs") {
        l.index_jobs = jobs_value(node, key);
      } else if (key == "follow") {
        l.follow = bool_value(node, key);
      } else if (key == "dry_run") {
        l.dry_run = bool_value(node, key);
      } else if (key == "restart") {
        l.restart = bool_value(node, key);
      } else if (key == "exclude") {
        append(l.exclude, patterns(node, key));
      } else if (key == "tables") {
        read_tables(node, l);
      } else if (const auto* table = node.as_table()) {
        flatten(*table, key, key, l.settings);
      } else {
        fail(node, engine::unknown_key_message("", key));
      }
    }
    return l;
  }

 private:
  [[noreturn]] void fail(const toml::node& node, const std::string& message) const {
    throw usage_error(location(node) + ": " + message);
  }

  std::string where(std::string_view key) const {
    return std::string(origin_) + ": " + std::string(key);
  }

  std::string string_value(const toml::node& node, std::string_view key) const {
    const auto* s = node.as_string();
    if (s == nullptr) fail(node, std::string(key) + " must be a string");
    return interpolate(s->get(), env_, where(key));
  }

  std::string url_value(const toml::node& node, std::string_view key) const {
    const auto* s = node.as_string();
    if (s == nullptr) fail(node, std::string(key) + " must be a string");
    return interpolate_url(s->get(), env_, where(key));
  }

  bool bool_value(const toml::node& node, std::string_view key) const {
    const auto* b = node.as_boolean();
    if (b == nullptr) fail(node, std::string(key) + " must be true or false");
    return b->get();
  }

  int jobs_value(const toml::node& node, std::string_view key) const {
    const auto* i = node.as_integer();
    if (i == nullptr || i->get() < 0 || i->get() > max_jobs) {
      fail(node, std::string(key) + " must be an integer from 0 to " + std::to_string(max_jobs) +
                     " (0: automatic)");
    }
    return static_cast<int>(i->get());
  }

  std::chrono::seconds duration_value(const toml::node& node, std::string_view key) const {
    if (const auto* i = node.as_integer()) {
      if (i->get() < 0) fail(node, std::string(key) + " must not be negative");
      return std::chrono::seconds{i->get()};
    }
    const auto text = string_value(node, key);
    const auto d = parse_duration(text);
    if (!d) {
      fail(node, std::string(key) + " '" + text +
                     "' is not a duration (examples: 90s, 14m, 2h, 1h30m; or seconds as a number)");
    }
    return *d;
  }

  std::vector<std::string> patterns(const toml::node& node, std::string_view key) const {
    std::vector<std::string> out;
    if (node.is_string()) {
      out.push_back(string_value(node, key));
      return out;
    }
    const auto* arr = node.as_array();
    if (arr == nullptr) fail(node, std::string(key) + " must be an array of strings");
    for (const auto& el : *arr) {
      if (!el.is_string()) fail(el, std::string(key) + " must be an array of strings");
      out.push_back(string_value(el, key));
    }
    return out;
  }

  static void append(std::optional<std::vector<std::string>>& into, std::vector<std::string> more) {
    if (!into) into.emplace();
    for (auto& m : more)
      into->push_back(std::move(m));
  }

  void read_tables(const toml::node& node, option_layer& l) const {
    const auto* table = node.as_table();
    if (const auto* arr = node.as_array();
        arr != nullptr && !arr->empty() && arr->is_array_of_tables()) {
      // [[tables]] entries of an incremental job: "tables[N].key".
      std::size_t n = 0;
      for (const auto& el : *arr) {
        flatten(*el.as_table(), engine::entry_section, "tables[" + std::to_string(n++) + "]",
                l.settings);
      }
      return;
    }
    if (table == nullptr) {
      append(l.tables, patterns(node, "tables"));
      return;
    }
    for (auto&& [k, sub] : *table) {
      const std::string name(k.str());
      const std::string key = "tables." + name;
      if (const auto* settings = sub.as_table()) {
        flatten(*settings, engine::per_table_section, key, l.settings);
      } else if (name == "include") {
        append(l.tables, patterns(sub, key));
      } else if (name == "exclude") {
        append(l.exclude, patterns(sub, key));
      } else {
        std::string message = key;
        message += ": expected include = [...], exclude = [...] or a [tables.\"";
        message += name;
        message += "\"] section of per-table settings";
        fail(sub, message);
      }
    }
  }

  std::string scalar(const toml::node& node, const std::string& key) const {
    if (const auto* s = node.as_string()) return interpolate(s->get(), env_, where(key));
    if (const auto* i = node.as_integer()) return std::to_string(i->get());
    if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
    if (const auto* f = node.as_floating_point()) {
      std::array<char, 64> buf{};
      const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), f->get());
      return std::string(buf.data(), res.ptr);
    }
    if (node.is_date() || node.is_time() || node.is_date_time()) {
      std::ostringstream s;
      node.visit([&s](const auto& v) { s << v; });
      return std::move(s).str();
    }
    fail(node, key + " must be a string, number, boolean, date or an array of those");
  }

  /// Copies `table` (the config's section `section`) into `out` as "prefix.key" -> text. With
  /// key_check::registered, every section and key must be in the registry and fit its type.
  void flatten(const toml::table& table, std::string_view section, const std::string& prefix,
               std::map<std::string, std::string>& out) const {
    const bool checked = check_ == key_check::registered;
    if (checked && !engine::is_config_section(section)) {
      fail(table, engine::unknown_section_message(section));
    }
    for (auto&& [k, node] : table) {
      const std::string name(k.str());
      const std::string key = prefix + "." + name;
      if (const auto* sub = node.as_table()) {
        flatten(*sub, std::string(section) + "." + name, key, out);
        continue;
      }
      const engine::config_key* spec = checked ? engine::find_config_key(section, name) : nullptr;
      if (checked && spec == nullptr) fail(node, engine::unknown_key_message(section, name));
      std::string text;
      if (const auto* arr = node.as_array()) {
        if (spec != nullptr && spec->type != engine::key_type::list) {
          fail(node, key + ": expected " + engine::type_text(*spec) + ", not an array");
        }
        for (const auto& el : *arr) {
          if (el.is_table() || el.is_array())
            fail(el, key + ": nested arrays and tables are not supported here");
          if (!text.empty()) text += ',';
          text += scalar(el, key);
        }
      } else {
        text = scalar(node, key);
      }
      if (spec != nullptr) {
        // The key first, as the engine words it; where in the file after.
        if (auto error = engine::check_value(*spec, key, text)) {
          throw usage_error(*error + " (" + location(node) + ")");
        }
      }
      out[key] = std::move(text);
    }
  }

  std::string location(const toml::node& node) const {
    std::string where = std::string(origin_);
    if (node.source().begin.line != 0) where += ":" + std::to_string(node.source().begin.line);
    return where;
  }

  std::string_view origin_;
  const env_lookup& env_;
  key_check check_;
};

// ---- .env -----------------------------------------------------------------------------------

/// The value part of a .env line (after '='), unquoted and unescaped.
std::optional<std::string> dotenv_value(std::string_view v) {
  v = trim(v);
  if (v.empty()) return std::string{};
  std::string out;
  std::size_t rest = 0;
  if (v.front() == '\'') {
    const auto close = v.find('\'', 1);
    if (close == std::string_view::npos) return std::nullopt;
    out = std::string(v.substr(1, close - 1));
    rest = close + 1;
  } else if (v.front() == '"') {
    std::size_t i = 1;
    bool closed = false;
    while (i < v.size()) {
      const char c = v[i];
      if (c == '"') {
        closed = true;
        ++i;
        break;
      }
      if (c == '\\' && i + 1 < v.size()) {
        const char e = v[i + 1];
        switch (e) {
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          case '\\':
          case '"':
          case '$':
            out += e;
            break;
          default:
            out += '\\';
            out += e;
            break;
        }
        i += 2;
        continue;
      }
      out += c;
      ++i;
    }
    if (!closed) return std::nullopt;
    rest = i;
  } else {
    // Unquoted: an inline comment starts at a '#' preceded by a blank.
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '#' && i > 0 && (v[i - 1] == ' ' || v[i - 1] == '\t')) {
        v = v.substr(0, i);
        break;
      }
    }
    return std::string(trim(v));
  }
  const auto tail = trim(v.substr(rest));
  if (!tail.empty() && tail.front() != '#') return std::nullopt;
  return out;
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read at start-up
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::map<std::string, std::string> parse_dotenv(std::string_view text, std::string_view origin) {
  std::map<std::string, std::string> vars;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    auto line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    if (line.substr(0, 7) == "export " || line.substr(0, 7) == "export\t") {
      line = trim(line.substr(7));
    }
    const auto where = std::string(origin) + ":" + std::to_string(line_no);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      throw usage_error(where + ": expected KEY=VALUE");
    }
    const auto key = trim(line.substr(0, eq));
    if (!is_valid_name(key)) {
      throw usage_error(where + ": invalid variable name (use letters, digits and _)");
    }
    auto value = dotenv_value(line.substr(eq + 1));
    if (!value) {
      throw usage_error(where + ": unterminated quote or text after the closing quote in the " +
                        "value of " + std::string(key));
    }
    vars[std::string(key)] = std::move(*value);
  }
  return vars;
}

std::vector<std::filesystem::path> find_dotenv_files(const std::filesystem::path& config_file,
                                                     const std::filesystem::path& cwd) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  const auto add = [&](const std::filesystem::path& dir) {
    auto candidate = dir / ".env";
    if (!std::filesystem::is_regular_file(candidate, ec)) return;
    for (const auto& existing : out) {
      if (std::filesystem::equivalent(existing, candidate, ec)) return;
    }
    out.push_back(std::move(candidate));
  };
  if (!config_file.empty()) {
    auto dir = config_file.parent_path();
    add(dir.empty() ? std::filesystem::path(".") : dir);
  }
  add(cwd.empty() ? std::filesystem::path(".") : cwd);
  return out;
}

env_lookup layered_env(env_lookup real, const std::vector<std::filesystem::path>& dotenv_files) {
  auto merged = std::make_shared<std::map<std::string, std::string>>();
  for (const auto& file : dotenv_files) {
    for (auto& [k, v] : parse_dotenv(read_file(file, ".env file"), file.string())) {
      merged->emplace(k, std::move(v));  // earlier files win
    }
  }
  return [real = std::move(real), merged](const std::string& name) -> std::optional<std::string> {
    if (real) {
      if (auto v = real(name)) return v;
    }
    if (const auto it = merged->find(name); it != merged->end()) return it->second;
    return std::nullopt;
  };
}

namespace {

/// Where `${` groups start and end in `text` ([open, close] of each), unterminated ones aside.
std::size_t skip_group(std::string_view text, std::size_t i) {
  if (text.substr(i, 3) == "$${") return i + 3;
  if (text.substr(i, 2) == "${") {
    const auto close = text.find('}', i + 2);
    if (close != std::string_view::npos) return close + 1;
  }
  return i + 1;
}

/// The user info of a URL template (`scheme://USER:PASS@host...`) as [begin, end) in `text`,
/// looking past `${...}` groups (their values are not known yet); {0, 0} when there is none.
std::pair<std::size_t, std::size_t> template_userinfo(std::string_view text) {
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return {0, 0};
  const std::size_t begin = sep + 3;
  std::size_t at = std::string_view::npos;
  for (std::size_t i = begin; i < text.size();) {
    const char c = text[i];
    if (c == '/' || c == '?' || c == '#') break;
    if (c == '@') at = i;
    i = c == '$' ? skip_group(text, i) : i + 1;
  }
  if (at == std::string_view::npos) return {0, 0};
  return {begin, at};
}

std::string interpolate_impl(std::string_view text, const env_lookup& env, std::string_view where,
                             std::pair<std::size_t, std::size_t> encode_range) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i, 3) == "$${") {
      out += "${";
      i += 3;
      continue;
    }
    if (text.substr(i, 2) != "${") {
      out += text[i++];
      continue;
    }
    const auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      throw usage_error(std::string(where) +
                        ": unterminated ${ (close it with }, or write $${ for a literal ${)");
    }
    const auto inner = text.substr(i + 2, close - i - 2);
    const auto sep = inner.find(":-");
    const auto name = inner.substr(0, sep);
    if (!is_valid_name(name)) {
      throw usage_error(std::string(where) +
                        ": invalid variable name in ${...} (use letters, digits and _)");
    }
    const auto value = env ? env(std::string(name)) : std::nullopt;
    std::string_view expanded;
    if (sep != std::string_view::npos) {
      expanded = (value && !value->empty()) ? std::string_view(*value) : inner.substr(sep + 2);
    } else if (value) {
      expanded = *value;
    } else {
      throw usage_error(std::string(where) + ": environment variable " + std::string(name) +
                        " is not set (export it, put it in a .env file, or write ${" +
                        std::string(name) + ":-default})");
    }
    const bool encode = i >= encode_range.first && i < encode_range.second;
    out += encode ? codecs::percent_encode(expanded) : std::string(expanded);
    i = close + 1;
  }
  return out;
}

}  // namespace

std::string interpolate(std::string_view text, const env_lookup& env, std::string_view where) {
  return interpolate_impl(text, env, where, {0, 0});
}

std::string interpolate_url(std::string_view text, const env_lookup& env, std::string_view where) {
  return interpolate_impl(text, env, where, template_userinfo(text));
}

option_layer parse_config(std::string_view toml_text, std::string_view origin,
                          const env_lookup& env, key_check check) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    const auto& pos = e.source().begin;
    // toml++ descriptions are one line and quote at most a few characters of the input.
    throw usage_error(std::string(origin) + ":" + std::to_string(pos.line) + ":" +
                      std::to_string(pos.column) +
                      ": invalid TOML: " + std::string(e.description()));
  }
  return config_reader(origin, env, check).read(root);
}

option_layer load_config(const std::filesystem::path& file, const env_lookup& env) {
  const auto text = read_file(file, "config file");
  return parse_config(text, file.string(), env, key_check::registered);
}

}  // namespace uringmig::cli
