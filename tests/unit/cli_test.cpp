#include "cli/app.hpp"
#include "cli/logging.hpp"
#include "engine/core/job.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace uringmig;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "uringmig-cli-XXXXXX").string();
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
    std::ofstream(p) << text;
    return p;
  }
};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs cli::run with io_uring reported working, a fake engine and captured output.
struct harness {
  std::ostringstream out;
  std::ostringstream err;
  io::uring_probe_result probe{true, 0, "", ""};
  std::optional<engine::job_options> seen;  // what run_job received
  std::function<int(const engine::job_options&)> engine = [](const engine::job_options&) {
    return 0;
  };
  std::map<std::string, std::string> env;
  std::filesystem::path cwd = std::filesystem::temp_directory_path();

  int operator()(std::vector<std::string> args) {
    args.insert(args.begin(), "uringmig");
    cli::run_context ctx;
    ctx.out = &out;
    ctx.err = &err;
    ctx.probe_uring = [this] { return probe; };
    ctx.run_job = [this](const engine::job_options& o) {
      seen = o;
      return engine(o);
    };
    ctx.env = [this](const std::string& name) -> std::optional<std::string> {
      const auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    ctx.cwd = cwd;
    return cli::run(args, ctx);
  }

  /// stderr must be exactly one "uringmig: " line.
  std::string one_error_line() const {
    const auto text = err.str();
    EXPECT_THAT(text, StartsWith("uringmig: "));
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
    return text;
  }
};

const std::vector<std::string> pg_to_sqlite = {"--source", "postgresql://app:hunter2@h/db",
                                               "--target", "sqlite:///tmp/x.db"};

std::vector<std::string> args(std::initializer_list<std::string> head,
                              const std::vector<std::string>& tail = pg_to_sqlite) {
  std::vector<std::string> v(head);
  v.insert(v.end(), tail.begin(), tail.end());
  return v;
}

// ---- parsing and exit codes ---------------------------------------------------------------

TEST(cli, unknown_subcommand_is_a_usage_error) {
  harness h;
  EXPECT_EQ(h({"bogus"}), 2);
  EXPECT_EQ(h.err.str(),
            "uringmig: unknown command 'bogus' (valid: run, plan, follow, switchover, status, "
            "verify, doctor, top, version; see 'uringmig --help')\n");
  EXPECT_FALSE(h.seen);
}

TEST(cli, no_subcommand_is_a_usage_error) {
  harness h;
  EXPECT_EQ(h({}), 2);
  EXPECT_THAT(h.one_error_line(), HasSubstr("no command given"));
}

TEST(cli, unknown_flag_names_the_command_help) {
  harness h;
  EXPECT_EQ(h(args({"run", "--jobz", "3"})), 2);
  const auto line = h.one_error_line();
  EXPECT_THAT(line, HasSubstr("--jobz"));
  EXPECT_THAT(line, HasSubstr("uringmig run --help"));
  EXPECT_THAT(line, Not(HasSubstr("hunter2")));
}

TEST(cli, unknown_preset) {
  harness h;
  EXPECT_EQ(h(args({"run", "--preset", "nope"})), 2);
  EXPECT_EQ(h.err.str(), "uringmig: unknown preset 'nope' (valid: bulk, online, incremental)\n");
  EXPECT_FALSE(h.seen);
}

TEST(cli, bad_url_is_a_usage_error_without_the_password) {
  harness h;
  EXPECT_EQ(h({"run", "--source", "postgresql://app:hunter2@h:99999/db", "--target",
               "sqlite:///tmp/x.db"}),
            2);
  const auto line = h.one_error_line();
  EXPECT_THAT(line, HasSubstr("--source"));
  EXPECT_THAT(line, HasSubstr("invalid port"));
  EXPECT_THAT(line, Not(HasSubstr("99999")));  // nothing of the authority: it may be a password
  EXPECT_THAT(line, Not(HasSubstr("hunter2")));
  EXPECT_FALSE(h.seen);
}

TEST(cli, unknown_scheme_in_target) {
  harness h;
  EXPECT_EQ(h({"verify", "--source", "postgresql://h/db", "--target", "mysql://r:hunter2@h/db"}),
            2);
  const auto line = h.one_error_line();
  EXPECT_THAT(line, HasSubstr("--target"));
  EXPECT_THAT(line, Not(HasSubstr("hunter2")));
}

TEST(cli, missing_source) {
  harness h;
  EXPECT_EQ(h({"run", "--target", "sqlite:///tmp/x.db"}), 2);
  EXPECT_THAT(h.one_error_line(), HasSubstr("needs a source"));
}

TEST(cli, engine_usage_error_exits_2) {
  harness h;
  h.engine = [](const engine::job_options&) -> int {
    throw engine::usage_error("uringmig follow: not yet implemented");
  };
  EXPECT_EQ(h(args({"follow", "--dry-run"})), 2);
  EXPECT_EQ(h.err.str(), "uringmig: follow: not yet implemented\n");
  ASSERT_TRUE(h.seen);
  EXPECT_EQ(h.seen->command, "follow");
}

TEST(cli, job_error_exits_1_redacted) {
  harness h;
  h.engine = [](const engine::job_options&) -> int {
    throw engine::job_error("cannot connect to postgresql://app:hunter2@h/db:\nrefused");
  };
  temp_dir t;
  EXPECT_EQ(h(args({"run", "--state-dir", t.path.string()})), 1);
  const auto line = h.one_error_line();
  EXPECT_THAT(line, HasSubstr("cannot connect to postgresql://app:****@h/db"));
  EXPECT_THAT(line, HasSubstr("refused"));
  EXPECT_THAT(line, Not(HasSubstr("hunter2")));
}

TEST(cli, other_exceptions_exit_1) {
  harness h;
  h.engine = [](const engine::job_options&) -> int { throw std::logic_error("boom"); };
  temp_dir t;
  EXPECT_EQ(h(args({"plan", "--state-dir", t.path.string()})), 1);
  EXPECT_EQ(h.err.str(), "uringmig: boom\n");
}

TEST(cli, engine_exit_code_is_returned) {
  harness h;
  h.engine = [](const engine::job_options&) { return 1; };
  temp_dir t;
  EXPECT_EQ(h(args({"run", "--state-dir", t.path.string()})), 1);
}

// ---- io_uring gate ------------------------------------------------------------------------

TEST(cli, uring_gate_blocks_every_job_command) {
  for (const char* cmd : {"run", "plan", "follow", "switchover", "verify"}) {
    harness h;
    h.probe = {false, 1, "io_uring_setup failed: Operation not permitted", "allow it"};
    EXPECT_EQ(h(args({cmd})), 1) << cmd;
    EXPECT_EQ(h.err.str(), "uringmig: " + io::describe_uring_failure(h.probe) + "\n") << cmd;
    EXPECT_FALSE(h.seen) << cmd;
  }
}

TEST(cli, status_reads_state_offline_without_uring) {
  harness h;
  h.probe = {false, 1, "io_uring_setup failed: Operation not permitted", "allow it"};
  EXPECT_EQ(h({"status", "--state-dir", "/nonexistent", "--json"}), 0);
  ASSERT_TRUE(h.seen.has_value()) << "status must not be gated on io_uring";
  EXPECT_TRUE(h.seen->json);
}

TEST(cli, doctor_reports_then_fails_without_uring) {
  harness h;
  h.probe = {false, 1, "io_uring_setup failed: Operation not permitted", "allow it"};
  EXPECT_EQ(h({"doctor"}), 1);
  const auto report = h.out.str();
  for (const char* name :
       {"uringmig", "kernel", "io_uring", "liburing", "libpq", "SQLite", "libcurl", "Boost"}) {
    EXPECT_THAT("\n" + report, HasSubstr(std::string("\n") + name + " ")) << name;
  }
  EXPECT_THAT(report, HasSubstr("unavailable: io_uring_setup failed"));
  EXPECT_EQ(h.err.str(), "uringmig: " + io::describe_uring_failure(h.probe) + "\n");
}

TEST(cli, doctor_ok) {
  harness h;
  EXPECT_EQ(h({"doctor"}), 0);
  EXPECT_THAT(h.out.str(), HasSubstr("io_uring  ok\n"));
  EXPECT_TRUE(h.err.str().empty());
}

TEST(cli, doctor_security_says_where_credentials_come_from) {
  temp_dir t;
  const auto pw = t.write("pw", "from-a-file\n");
  const auto cfg = t.write("job.toml", "target = \"doris://root:${DPW}@fe:8030/db\"\n");
  harness h;
  h.env = {{"PGPASSWORD", "x"}, {"DPW", "hunter2"}};
  EXPECT_EQ(h({"doctor", "--source", "postgresql://app@db/x?sslmode=verify-full", "--config",
               cfg.string(), "--state-dir", (t.path / "st").string()}),
            0);
  const auto report = h.out.str();
  EXPECT_THAT(report, HasSubstr("\nsecurity\n"));
  EXPECT_THAT(report, HasSubstr("PGPASSWORD (environment)"));
  EXPECT_THAT(report, HasSubstr("sslmode=verify-full (TLS, certificate and host name verified)"));
  EXPECT_THAT(report, HasSubstr("in the URL, from the config file"));
  EXPECT_THAT(report, HasSubstr("missing: it will be created 0700"));
  EXPECT_THAT(report, Not(HasSubstr("hunter2")));
  EXPECT_FALSE(std::filesystem::exists(t.path / "st")) << "doctor must not create anything";

  harness h2;
  EXPECT_EQ(h2({"doctor", "--source", "postgresql://app:hunter2@db/x", "--target",
                "postgresql://app@db2/x", "--target-password-file", pw.string()}),
            0);
  EXPECT_THAT(h2.out.str(), HasSubstr("in the URL, from the command line (overwritten"));
  EXPECT_THAT(h2.out.str(), HasSubstr("the file " + pw.string()));
  EXPECT_THAT(h2.out.str(), HasSubstr("sslmode=prefer"));
  EXPECT_THAT(h2.out.str(), Not(HasSubstr("hunter2")));
  EXPECT_THAT(h2.out.str(), Not(HasSubstr("from-a-file")));

  harness h3;
  EXPECT_EQ(h3({"doctor", "--target", "doris+https://root@fe:8030/db?tls_ca=/etc/ca.pem"}), 0);
  EXPECT_THAT(h3.out.str(),
              HasSubstr("https, certificate and host name verified against /etc/ca.pem"));
  harness h4;
  EXPECT_EQ(h4({"doctor", "--target", "doris://root@fe:8030/db"}), 0);
  EXPECT_THAT(h4.out.str(), HasSubstr("none: http, credentials and data in clear"));
}

TEST(cli, version_skips_the_gate) {
  harness h;
  h.probe = {false, 1, "x", "y"};
  EXPECT_EQ(h({"version"}), 0);
  EXPECT_FALSE(cli::version().empty());
  EXPECT_EQ(h.out.str(), "uringmig " + std::string(cli::version()) + "\n");
}

TEST(cli, run_help_lists_presets) {
  harness h;
  h.probe = {false, 1, "x", "y"};
  EXPECT_EQ(h({"run", "--help"}), 0);
  EXPECT_THAT(h.out.str(), HasSubstr("bulk"));
  EXPECT_THAT(h.out.str(), HasSubstr("online"));
  EXPECT_THAT(h.out.str(), HasSubstr("--max-runtime"));
  EXPECT_TRUE(h.err.str().empty());
}

// ---- options reach the engine -------------------------------------------------------------

TEST(cli, flags_reach_the_engine) {
  harness h;
  temp_dir t;
  EXPECT_EQ(h(args({"run",
                    "--preset",
                    "bulk",
                    "--tables",
                    "public.a,public.b",
                    "--tables",
                    "sales.*",
                    "--exclude",
                    "public.tmp",
                    "--jobs",
                    "3",
                    "--index-jobs",
                    "1",
                    "--state-dir",
                    t.path.string(),
                    "--follow",
                    "--restart",
                    "--max-runtime",
                    "1h30m",
                    "--log-level",
                    "warn"})),
            0);
  ASSERT_TRUE(h.seen);
  const auto& o = *h.seen;
  EXPECT_EQ(o.command, "run");
  EXPECT_EQ(o.preset, "bulk");
  EXPECT_EQ(o.source_url, "postgresql://app:hunter2@h/db");  // verbatim for the engine
  EXPECT_EQ(o.target_url, "sqlite:///tmp/x.db");
  EXPECT_EQ(o.tables, (std::vector<std::string>{"public.a", "public.b", "sales.*"}));
  EXPECT_EQ(o.exclude, (std::vector<std::string>{"public.tmp"}));
  EXPECT_EQ(o.jobs, 3);
  EXPECT_EQ(o.index_jobs, 1);
  EXPECT_EQ(o.state_dir, t.path);
  EXPECT_TRUE(o.follow);
  EXPECT_TRUE(o.restart);
  EXPECT_FALSE(o.dry_run);
  EXPECT_EQ(o.max_runtime, std::chrono::seconds{5400});
}

TEST(cli, bad_flag_values_are_usage_errors) {
  for (const auto& extra : std::vector<std::vector<std::string>>{
           {"--max-runtime", "90"}, {"--jobs", "x"}, {"--jobs", "-1"}, {"--log-level", "loud"}}) {
    harness h;
    auto a = args({"run"});
    a.insert(a.end(), extra.begin(), extra.end());
    EXPECT_EQ(h(a), 2) << extra[0];
    EXPECT_THAT(h.one_error_line(), HasSubstr(extra[0]));
    EXPECT_FALSE(h.seen);
  }
}

TEST(cli, flags_over_config_over_preset) {
  harness h;
  temp_dir t;
  h.cwd = t.path;
  h.env = {{"PGPASS", "hunter2"}};
  t.write(".env", "TARGET_DIR=/from/dotenv\nPGPASS=from_dotenv\n");
  const auto config = t.write("app.toml", R"(
preset = "online"
source = "postgresql://app:${PGPASS}@h/db"
target = "sqlite://${TARGET_DIR}/x.db"
jobs = 6
index_jobs = 2
state_dir = ")" + (t.path / "state").string() +
                                              R"("

[tables."public.orders"]
chunk_column = "id"
)");
  EXPECT_EQ(h({"run", "--config", config.string(), "--jobs", "8"}), 0) << h.err.str();
  ASSERT_TRUE(h.seen);
  const auto& o = *h.seen;
  EXPECT_EQ(o.preset, "online");
  EXPECT_EQ(o.source_url, "postgresql://app:hunter2@h/db");  // real env over .env
  EXPECT_EQ(o.target_url, "sqlite:///from/dotenv/x.db");
  EXPECT_EQ(o.jobs, 8);        // flag
  EXPECT_EQ(o.index_jobs, 2);  // config
  EXPECT_TRUE(o.follow);       // preset
  EXPECT_EQ(o.settings.at("tables.public.orders.chunk_column"), "id");

  harness h2;
  h2.cwd = t.path;
  EXPECT_EQ(h2({"run", "--config", config.string(), "--preset", "bulk", "--no-follow"}), 0);
  ASSERT_TRUE(h2.seen);
  EXPECT_EQ(h2.seen->preset, "bulk");
  EXPECT_FALSE(h2.seen->follow);
  EXPECT_EQ(h2.seen->source_url, "postgresql://app:from_dotenv@h/db");
}

TEST(cli, config_errors_exit_2) {
  harness h;
  temp_dir t;
  h.cwd = t.path;
  const auto config = t.write("app.toml", "source = \"postgresql://u:${NOPE_PW}@h/db\"\n");
  EXPECT_EQ(h({"run", "--config", config.string()}), 2);
  EXPECT_THAT(h.one_error_line(), HasSubstr("NOPE_PW"));

  harness h2;
  EXPECT_EQ(h2({"run", "--config", (t.path / "missing.toml").string()}), 2);
  EXPECT_THAT(h2.one_error_line(), HasSubstr("missing.toml"));

  harness h3;
  h3.cwd = t.path;
  const auto bad_preset = t.write("p.toml", "preset = \"turbo\"\n");
  EXPECT_EQ(h3(args({"plan", "--config", bad_preset.string()})), 2);
  EXPECT_EQ(h3.err.str(), "uringmig: unknown preset 'turbo' (valid: bulk, online, incremental)\n");
}

// ---- state directory and logs -------------------------------------------------------------

TEST(cli, json_log_in_state_dir_is_redacted) {
  harness h;
  temp_dir t;
  const auto state = t.path / "state" / "nested";
  h.engine = [](const engine::job_options&) -> int {
    spdlog::info("connecting to {} with \"quotes\"", "postgresql://app:hunter2@h/db");
    spdlog::warn("conninfo host=h password='hunter 2'");
    throw engine::job_error("copy failed: password=hunter2");
  };
  EXPECT_EQ(h(args({"run", "--state-dir", state.string()})), 1);
  cli::flush_logs();
  const auto log = read_all(state / "uringmig.log");
  EXPECT_THAT(log, Not(HasSubstr("hunter")));
  EXPECT_THAT(log,
              HasSubstr(R"("msg":"connecting to postgresql://app:****@h/db with \"quotes\"")"));
  EXPECT_THAT(log, HasSubstr(R"("level":"warn")"));
  EXPECT_THAT(log, HasSubstr(R"("level":"error","msg":"uringmig: copy failed: password=****")"));
  std::istringstream lines(log);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_THAT(line, StartsWith(R"({"ts":")"));
    EXPECT_EQ(line.back(), '}');
  }
  EXPECT_GE(n, 3);
  EXPECT_THAT(h.err.str(), Not(HasSubstr("hunter")));
}

TEST(cli, dry_run_creates_no_state_dir) {
  harness h;
  temp_dir t;
  EXPECT_EQ(h(args({"run", "--dry-run", "--state-dir", (t.path / "s").string()})), 0);
  EXPECT_FALSE(std::filesystem::exists(t.path / "s"));
  ASSERT_TRUE(h.seen);
  EXPECT_TRUE(h.seen->dry_run);
}

TEST(cli, state_dir_that_cannot_be_created_exits_1) {
  harness h;
  temp_dir t;
  const auto file = t.write("plain-file", "x");
  EXPECT_EQ(h(args({"run", "--state-dir", (file / "state").string()})), 1);
  EXPECT_THAT(h.one_error_line(), HasSubstr("cannot create state directory"));
  EXPECT_FALSE(h.seen);
}

void lose_an_exception_in_a_thread() {
  std::vector<std::string> args{"uringmig", "version"};
  std::vector<char*> argv{args[0].data(), args[1].data(), nullptr};
  cli::main(2, argv.data());  // installs the terminate handler
  std::thread([] { throw std::runtime_error("lost postgresql://u:hunter2@h/db"); }).join();
}

TEST(cli_death, exceptions_escaping_a_thread_become_one_line_and_exit_1) {
  EXPECT_EXIT(lose_an_exception_in_a_thread(), ::testing::ExitedWithCode(1),
              "^uringmig: internal error: lost postgresql://u:[*]{4}@h/db\n$");
}

// ---- logging building blocks --------------------------------------------------------------

TEST(logging, redacting_sink_masks_before_formatting) {
  std::ostringstream os;
  auto inner = std::make_shared<spdlog::sinks::ostream_sink_mt>(os);
  inner->set_pattern("%v");
  spdlog::logger logger("t", cli::make_redacting_sink(inner));
  logger.info("url {} and {}", "doris://u:hunter2@fe/db", "password=hunter2");
  logger.flush();
  EXPECT_EQ(os.str(), "url doris://u:****@fe/db and password=****\n");
}

TEST(logging, json_formatter_escapes) {
  std::ostringstream os;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(os);
  sink->set_formatter(cli::make_json_formatter());
  spdlog::logger logger("t", sink);
  logger.error("a\"b\\c\nd\te\x01 \xff é");
  logger.flush();
  const auto line = os.str();
  EXPECT_THAT(line, StartsWith(R"({"ts":")"));
  EXPECT_THAT(
      line,
      HasSubstr("Z\",\"level\":\"error\",\"msg\":\"a\\\"b\\\\c\\nd\\te\\u0001 \\ufffd é\"}\n"));
}

TEST(logging, levels) {
  EXPECT_EQ(cli::to_spdlog_level("trace"), spdlog::level::trace);
  EXPECT_EQ(cli::to_spdlog_level("warn"), spdlog::level::warn);
  EXPECT_EQ(cli::to_spdlog_level("error"), spdlog::level::err);
  EXPECT_EQ(cli::to_spdlog_level("info"), spdlog::level::info);
}

}  // namespace
