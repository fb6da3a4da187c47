#include "cli/config.hpp"
#include "cli/options.hpp"
#include "cli/presets.hpp"
#include "codecs/url.hpp"
#include "engine/core/job.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

namespace {

using namespace uringmig::cli;
using ::testing::HasSubstr;
using ::testing::Not;
using uringmig::engine::usage_error;

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "uringmig-unit-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    const auto p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
};

env_lookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

/// The message of the usage_error `f` throws; fails the test when it does not throw one.
template <typename F>
std::string usage_error_of(F&& f) {
  try {
    f();
  } catch (const usage_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no usage_error thrown";
  return {};
}

// ---- interpolation ------------------------------------------------------------------------

TEST(interpolate, variables_and_defaults) {
  const auto env = fake_env({{"USER_NAME", "app"}, {"EMPTY", ""}});
  EXPECT_EQ(interpolate("u=${USER_NAME}!", env, "k"), "u=app!");
  EXPECT_EQ(interpolate("${MISSING:-dflt}", env, "k"), "dflt");
  EXPECT_EQ(interpolate("${EMPTY:-dflt}", env, "k"), "dflt");
  EXPECT_EQ(interpolate("${USER_NAME:-dflt}", env, "k"), "app");
  EXPECT_EQ(interpolate("${EMPTY}", env, "k"), "");
  EXPECT_EQ(interpolate("${MISSING:-}", env, "k"), "");
  EXPECT_EQ(interpolate("cost $5 $${USER_NAME}", env, "k"), "cost $5 ${USER_NAME}");
}

TEST(interpolate, unset_variable_is_named) {
  const auto msg =
      usage_error_of([] { interpolate("x${DB_PASS}y", fake_env({}), "app.toml: source"); });
  EXPECT_THAT(msg, HasSubstr("app.toml: source"));
  EXPECT_THAT(msg, HasSubstr("DB_PASS"));
  EXPECT_THAT(msg, HasSubstr("not set"));
}

TEST(interpolate, malformed) {
  EXPECT_THAT(usage_error_of([] { interpolate("${OPEN", fake_env({}), "k"); }),
              HasSubstr("unterminated"));
  EXPECT_THAT(usage_error_of([] { interpolate("${1BAD}", fake_env({}), "k"); }),
              HasSubstr("invalid variable name"));
  EXPECT_THAT(usage_error_of([] { interpolate("${}", fake_env({}), "k"); }),
              HasSubstr("invalid variable name"));
}

TEST(interpolate, url_user_info_is_percent_encoded) {
  const auto env = fake_env({{"PW", "p@ss/w?rd#50%&x=y:z"}, {"U", "a@b"}, {"DB", "d/b"}});
  // In the user info a value is encoded; in the host, path and query it is pasted as it is.
  EXPECT_EQ(interpolate_url("doris://${U}:${PW}@fe:8030/${DB}", env, "k"),
            "doris://a%40b:p%40ss%2Fw%3Frd%2350%25%26x%3Dy%3Az@fe:8030/d/b");
  EXPECT_EQ(interpolate_url("postgresql://h/db?password=${DB}", env, "k"),
            "postgresql://h/db?password=d/b");
  EXPECT_EQ(interpolate_url("postgresql://${PW}", env, "k"), "postgresql://p@ss/w?rd#50%&x=y:z");
  EXPECT_EQ(interpolate_url("postgresql://u:${X:-a/b}@h/db", env, "k"),
            "postgresql://u:a%2Fb@h/db");
  // Plain interpolation is unchanged.
  EXPECT_EQ(interpolate("doris://u:${PW}@fe/db", env, "k"), "doris://u:p@ss/w?rd#50%&x=y:z@fe/db");
}

TEST(config, source_and_target_passwords_from_variables_survive_the_url) {
  const std::string hard = "p@ss/w?rd#50%&x=y:z";
  const auto l = parse_config(
      "source = \"doris://root:${PW}@fe:8030/db\"\n"
      "target = \"doris://u:${PW}@fe:8030/db2\"\n",
      "app.toml", fake_env({{"PW", hard}}));
  for (const auto& url : {*l.source, *l.target}) {
    const auto parsed = uringmig::codecs::parse_endpoint(url);
    ASSERT_TRUE(parsed) << parsed.error;
    EXPECT_EQ(std::get<uringmig::codecs::doris_endpoint>(parsed.value->spec).password, hard);
  }
}

TEST(config, password_files) {
  temp_dir t;
  const auto pw = t.write("pw", "s3:/?@#%\nsecond line\n");
  EXPECT_EQ(url_with_password_file("doris://root@fe:8030/db", pw, "target"),
            "doris://root:s3%3A%2F%3F%40%23%25@fe:8030/db");
  EXPECT_EQ(url_with_password_file("doris://root:old@fe:8030/db", pw, "target"),
            "doris://root:s3%3A%2F%3F%40%23%25@fe:8030/db");
  EXPECT_EQ(url_with_password_file("postgresql:///db?host=/sock", pw, "source"),
            "postgresql:///db?host=/sock&password=s3%3A%2F%3F%40%23%25");
  EXPECT_THAT(usage_error_of([&] { url_with_password_file("sqlite:///x.db", pw, "source"); }),
              HasSubstr("no user info"));
  const auto missing =
      usage_error_of([&] { url_with_password_file("doris://fe/db", t.path / "nope", "source"); });
  EXPECT_THAT(missing, HasSubstr("source_password_file"));
  const auto empty = t.write("empty", "\n");
  EXPECT_THAT(usage_error_of([&] { url_with_password_file("doris://fe/db", empty, "target"); }),
              HasSubstr("empty"));
}

// ---- .env ---------------------------------------------------------------------------------

TEST(dotenv, parses_keys_quotes_and_comments) {
  const auto vars = parse_dotenv(
      "# comment\n"
      "\n"
      "A=plain value  # trailing comment\n"
      "export B='single # kept'\n"
      "C=\"dq \\\"x\\\" \\n end\"\n"
      "D=\n"
      "E=a#b\r\n"
      "  F = spaced  \n",
      ".env");
  EXPECT_EQ(vars.at("A"), "plain value");
  EXPECT_EQ(vars.at("B"), "single # kept");
  EXPECT_EQ(vars.at("C"), "dq \"x\" \n end");
  EXPECT_EQ(vars.at("D"), "");
  EXPECT_EQ(vars.at("E"), "a#b");
  EXPECT_EQ(vars.at("F"), "spaced");
  EXPECT_EQ(vars.size(), 6U);
}

TEST(dotenv, malformed_line_is_located_without_its_value) {
  const auto msg = usage_error_of([] { parse_dotenv("A=1\nhunter2\n", "/x/.env"); });
  EXPECT_THAT(msg, HasSubstr("/x/.env:2"));
  EXPECT_THAT(msg, Not(HasSubstr("hunter2")));
  const auto quote = usage_error_of([] { parse_dotenv("PW='hunter2\n", ".env"); });
  EXPECT_THAT(quote, HasSubstr(".env:1"));
  EXPECT_THAT(quote, Not(HasSubstr("hunter2")));
}

TEST(dotenv, real_environment_wins_then_config_dir_then_cwd) {
  temp_dir t;
  t.write("conf/.env", "A=from_conf_dir\nB=from_conf_dir\n");
  t.write("work/.env", "A=from_cwd\nB=from_cwd\nC=from_cwd\n");
  const auto config = t.write("conf/app.toml", "");
  const auto files = find_dotenv_files(config, t.path / "work");
  ASSERT_EQ(files.size(), 2U);
  const auto env = layered_env(fake_env({{"A", "from_env"}}), files);
  EXPECT_EQ(env("A"), "from_env");
  EXPECT_EQ(env("B"), "from_conf_dir");
  EXPECT_EQ(env("C"), "from_cwd");
  EXPECT_EQ(env("D"), std::nullopt);
}

TEST(dotenv, same_directory_counts_once_and_missing_files_are_skipped) {
  temp_dir t;
  t.write(".env", "A=1\n");
  const auto config = t.write("app.toml", "");
  EXPECT_EQ(find_dotenv_files(config, t.path).size(), 1U);
  temp_dir empty;
  EXPECT_TRUE(find_dotenv_files(empty.path / "app.toml", empty.path).empty());
}

// ---- config file --------------------------------------------------------------------------

TEST(config, top_level_keys_and_settings) {
  const auto env = fake_env({{"PGPASS", "hunter2"}});
  const auto l = parse_config(R"(
source = "postgresql://app:${PGPASS}@db/app"
target = "sqlite:///data/x.db"
preset = "online"
tables = ["public.*", "sales.orders"]
exclude = "public.tmp_*"
jobs = 6
index_jobs = 2
state_dir = "${STATE:-/var/lib/uringmig}"
follow = false
max_runtime = "1h30m"
log_level = "debug"

[copy]
buffer_size = 262144
ratio = 0.5
binary = true
columns = ["a", "b"]

[copy.retry]
max = 3
)",
                              "app.toml", env);
  EXPECT_EQ(l.source, "postgresql://app:hunter2@db/app");
  EXPECT_EQ(l.target, "sqlite:///data/x.db");
  EXPECT_EQ(l.preset, "online");
  EXPECT_EQ(l.tables, (std::vector<std::string>{"public.*", "sales.orders"}));
  EXPECT_EQ(l.exclude, (std::vector<std::string>{"public.tmp_*"}));
  EXPECT_EQ(l.jobs, 6);
  EXPECT_EQ(l.index_jobs, 2);
  EXPECT_EQ(l.state_dir, std::filesystem::path("/var/lib/uringmig"));
  EXPECT_EQ(l.follow, false);
  EXPECT_EQ(l.dry_run, std::nullopt);
  EXPECT_EQ(l.max_runtime, std::chrono::seconds{5400});
  EXPECT_EQ(l.log_level, "debug");
  EXPECT_EQ(l.settings.at("copy.buffer_size"), "262144");
  EXPECT_EQ(l.settings.at("copy.ratio"), "0.5");
  EXPECT_EQ(l.settings.at("copy.binary"), "true");
  EXPECT_EQ(l.settings.at("copy.columns"), "a,b");
  EXPECT_EQ(l.settings.at("copy.retry.max"), "3");
}

TEST(config, per_table_sections_and_patterns_inside_tables) {
  const auto l = parse_config(R"(
[tables]
include = ["public.*"]
exclude = ["public.audit"]

[tables."public.orders"]
chunk_column = "${COL:-id}"
chunks = 16
)",
                              "app.toml", fake_env({}));
  EXPECT_EQ(l.tables, (std::vector<std::string>{"public.*"}));
  EXPECT_EQ(l.exclude, (std::vector<std::string>{"public.audit"}));
  EXPECT_EQ(l.settings.at("tables.public.orders.chunk_column"), "id");
  EXPECT_EQ(l.settings.at("tables.public.orders.chunks"), "16");
}

TEST(config, max_runtime_as_seconds) {
  const auto l = parse_config("max_runtime = 90", "c.toml", fake_env({}));
  EXPECT_EQ(l.max_runtime, std::chrono::seconds{90});
}

TEST(config, missing_variable_names_key_and_variable) {
  const auto msg = usage_error_of([] {
    parse_config("source = \"postgresql://u:${DB_PASSWORD}@h/db\"", "app.toml", fake_env({}));
  });
  EXPECT_THAT(msg, HasSubstr("app.toml: source"));
  EXPECT_THAT(msg, HasSubstr("DB_PASSWORD"));
}

TEST(config, errors) {
  const auto env = fake_env({});
  EXPECT_THAT(usage_error_of([&] { parse_config("sorce = \"x\"", "c.toml", env); }),
              HasSubstr("c.toml:1: unknown key 'sorce'"));
  EXPECT_THAT(usage_error_of([&] { parse_config("jobs = \"four\"", "c.toml", env); }),
              HasSubstr("jobs must be an integer"));
  EXPECT_THAT(usage_error_of([&] { parse_config("jobs = -1", "c.toml", env); }),
              HasSubstr("jobs must be an integer"));
  EXPECT_THAT(usage_error_of([&] { parse_config("follow = \"yes\"", "c.toml", env); }),
              HasSubstr("follow must be true or false"));
  EXPECT_THAT(usage_error_of([&] { parse_config("log_level = \"loud\"", "c.toml", env); }),
              HasSubstr("log_level 'loud'"));
  EXPECT_THAT(usage_error_of([&] { parse_config("max_runtime = \"soon\"", "c.toml", env); }),
              HasSubstr("max_runtime 'soon'"));
  EXPECT_THAT(usage_error_of([&] { parse_config("tables = [1]", "c.toml", env); }),
              HasSubstr("tables must be an array of strings"));
  EXPECT_THAT(usage_error_of([&] { parse_config("\n\nsource = ", "c.toml", env); }),
              HasSubstr("c.toml:3:"));
}

TEST(config, load_missing_file) {
  temp_dir t;
  const auto msg = usage_error_of([&] { load_config(t.path / "nope.toml", fake_env({})); });
  EXPECT_THAT(msg, HasSubstr("nope.toml"));
  EXPECT_THAT(msg, HasSubstr("does not exist"));
}

TEST(config, load_file) {
  temp_dir t;
  const auto file = t.write("app.toml", "jobs = 3\n");
  EXPECT_EQ(load_config(file, fake_env({})).jobs, 3);
}

// ---- presets and precedence ---------------------------------------------------------------

TEST(presets, unknown_preset_lists_the_valid_ones) {
  EXPECT_EQ(usage_error_of([] { preset_layer("nope"); }),
            "unknown preset 'nope' (valid: bulk, online, incremental)");
  EXPECT_EQ(preset_names(), "bulk, online, incremental");
}

TEST(presets, online_is_bulk_plus_follow) {
  const auto bulk = preset_layer("bulk");
  const auto online = preset_layer("online");
  EXPECT_EQ(bulk.follow, false);
  EXPECT_EQ(online.follow, true);
  EXPECT_EQ(online.jobs, bulk.jobs);
  EXPECT_EQ(online.index_jobs, bulk.index_jobs);
  EXPECT_GT(bulk.jobs.value_or(0), 0);
  EXPECT_THAT(preset_help(), HasSubstr("online"));
}

TEST(precedence, flags_over_config_over_preset) {
  option_layer preset = preset_layer("online");  // jobs 4, index_jobs 4, follow true
  option_layer config;
  config.jobs = 6;
  config.index_jobs = 2;
  config.source = "postgresql://config/db";
  config.settings = {{"copy.a", "config"}, {"copy.b", "config"}};
  option_layer flags;
  flags.jobs = 8;
  flags.follow = false;
  flags.settings = {{"copy.b", "flag"}};

  const auto r = merge_layers("run", preset, config, flags);
  EXPECT_EQ(r.job.command, "run");
  EXPECT_EQ(r.job.preset, "online");
  EXPECT_EQ(r.job.jobs, 8);        // flag
  EXPECT_EQ(r.job.index_jobs, 2);  // config
  EXPECT_FALSE(r.job.follow);      // flag over preset
  EXPECT_EQ(r.job.source_url, "postgresql://config/db");
  EXPECT_EQ(r.job.settings.at("copy.a"), "config");
  EXPECT_EQ(r.job.settings.at("copy.b"), "flag");
  EXPECT_EQ(r.log_level, "info");
  EXPECT_EQ(r.job.state_dir, std::filesystem::path("uringmig-state"));  // engine default kept
}

TEST(precedence, preset_alone_applies) {
  const auto r = merge_layers("run", preset_layer("online"), {}, {});
  EXPECT_TRUE(r.job.follow);
  EXPECT_EQ(r.job.jobs, 4);
}

// ---- durations ----------------------------------------------------------------------------

TEST(duration, accepted_forms) {
  using std::chrono::seconds;
  EXPECT_EQ(parse_duration("90s"), seconds{90});
  EXPECT_EQ(parse_duration("14m"), seconds{14 * 60});
  EXPECT_EQ(parse_duration("2h"), seconds{7200});
  EXPECT_EQ(parse_duration("1h30m"), seconds{5400});
  EXPECT_EQ(parse_duration("1d2h3m4s"), seconds{86400 + 7200 + 180 + 4});
  EXPECT_EQ(parse_duration("0s"), seconds{0});
}

TEST(duration, rejected_forms) {
  for (const char* s : {"", "90", "h", "1x", "30m1h", "1h1h", "-5s", "1.5h", "1h 30m", "s90"}) {
    EXPECT_EQ(parse_duration(s), std::nullopt) << s;
  }
}

}  // namespace
