#include "cli/app.hpp"

#include "cli/config.hpp"
#include "cli/doctor.hpp"
#include "cli/logging.hpp"
#include "cli/options.hpp"
#include "cli/presets.hpp"
#include "cli/top.hpp"
#include "codecs/url.hpp"
#include "engine/core/job_spec.hpp"
#include "engine/core/state_store.hpp"
#include "engine/run_job.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <system_error>
#include <vector>

namespace uringmig::cli {

namespace {

// Which flags a job command offers, beyond --source/--target/--config/--preset/--state-dir/
// --log-level (all of them have those).
constexpr unsigned with_selection = 1U;  // --tables, --exclude
constexpr unsigned with_jobs = 2U;       // --jobs, --index-jobs
constexpr unsigned with_follow = 4U;     // --follow / --no-follow, --restart
constexpr unsigned with_dry_run = 8U;    // --dry-run
constexpr unsigned with_deadline = 16U;  // --max-runtime, --http (the long commands)
constexpr unsigned with_cdc = 32U;       // --publication, --keep-slot
constexpr unsigned with_timeout = 64U;   // --timeout, --verify (switchover)

struct job_command {
  std::string_view name;
  engine::job_command kind;  // none: doctor, which runs no job
  std::string_view description;
  unsigned flags = 0;
  bool needs_endpoints = true;
  bool writes_log = true;  // keeps a JSON log in the state directory
};

constexpr job_command job_commands[] = {
    {"run", engine::job_command::run,
     "Copy tables from --source to --target; --follow keeps them in sync",
     with_selection | with_jobs | with_follow | with_dry_run | with_deadline | with_cdc},
    {"plan", engine::job_command::plan,
     "Show the tables, chunks and order a run would use; copy nothing", with_selection | with_jobs,
     true, false},
    {"follow", engine::job_command::follow,
     "Apply the source's changes (CDC) to the target until stopped",
     with_selection | with_deadline | with_dry_run | with_cdc},
    {"switchover", engine::job_command::switchover,
     "Wait until the target has caught up, then hand over to it",
     with_deadline | with_dry_run | with_timeout},
    {"status", engine::job_command::status,
     "Show the progress recorded in the state directory (offline)", 0, false, false},
    {"verify", engine::job_command::verify,
     "Compare row counts and checksums of source and target tables",
     with_selection | with_jobs | with_deadline},
    {"doctor", engine::job_command::none,
     "Check io_uring and the libraries, and where credentials come from; say how to fix", 0, false,
     false},
};

constexpr std::string_view command_names[] = {"run",    "plan",   "follow", "switchover", "status",
                                              "verify", "doctor", "top",    "version"};

/// Values bound to CLI11; only the options a user actually gave are read back.
struct flag_values {
  std::string source;
  std::string target;
  std::string source_password_file;
  std::string target_password_file;
  std::string preset;
  std::string config;
  std::string state_dir;
  std::string state_url;
  std::string job_name;
  std::string max_runtime;
  std::string http;
  std::string log_level;
  std::vector<std::string> tables;
  std::vector<std::string> exclude;
  int jobs = 0;
  int index_jobs = 0;
  bool follow = false;
  bool dry_run = false;
  bool restart = false;
  bool json = false;
  std::string publication;
  bool keep_slot = false;
  std::string timeout;
  bool verify = false;
  bool skip_large_objects = false;
  std::string worker;
  bool allow_inconsistent = false;
};

struct bound_command {
  const job_command* spec = nullptr;
  CLI::App* app = nullptr;
  CLI::Option* source = nullptr;
  CLI::Option* target = nullptr;
  CLI::Option* source_password_file = nullptr;
  CLI::Option* target_password_file = nullptr;
  CLI::Option* preset = nullptr;
  CLI::Option* config = nullptr;
  CLI::Option* state_dir = nullptr;
  CLI::Option* state_url = nullptr;
  CLI::Option* job_name = nullptr;
  CLI::Option* log_level = nullptr;
  CLI::Option* tables = nullptr;
  CLI::Option* exclude = nullptr;
  CLI::Option* jobs = nullptr;
  CLI::Option* index_jobs = nullptr;
  CLI::Option* follow = nullptr;
  CLI::Option* restart = nullptr;
  CLI::Option* dry_run = nullptr;
  CLI::Option* max_runtime = nullptr;
  CLI::Option* http = nullptr;
  CLI::Option* json = nullptr;
  CLI::Option* publication = nullptr;
  CLI::Option* keep_slot = nullptr;
  CLI::Option* timeout = nullptr;
  CLI::Option* skip_large_objects = nullptr;
  CLI::Option* verify = nullptr;
  CLI::Option* worker = nullptr;
  CLI::Option* allow_inconsistent = nullptr;
};

bool given(const CLI::Option* o) {
  return o != nullptr && o->count() > 0;
}

bound_command add_job_command(CLI::App& app, const job_command& spec, flag_values& v) {
  bound_command b;
  b.spec = &spec;
  b.app = app.add_subcommand(std::string(spec.name), std::string(spec.description));
  auto* s = b.app;
  b.source = s->add_option("--source", v.source,
                           "Source URL (postgresql://, sqlite://, snowflake:// for "
                           "--preset incremental); keep passwords out of it: PGPASSWORD, "
                           "~/.pgpass, PGSERVICE or --source-password-file ([snowflake] "
                           "private_key_file or oauth_token for Snowflake)");
  b.target = s->add_option("--target", v.target,
                           "Target URL (postgresql://, sqlite://, doris://); passwords as for "
                           "--source, or --target-password-file");
  b.source_password_file =
      s->add_option("--source-password-file", v.source_password_file,
                    "File whose first line is the source's password (chmod 600)");
  b.target_password_file =
      s->add_option("--target-password-file", v.target_password_file,
                    "File whose first line is the target's password (chmod 600)");
  b.preset = s->add_option("--preset", v.preset, "Defaults to start from: " + preset_names());
  b.config = s->add_option("--config", v.config, "TOML file with settings; flags override it");
  b.state_dir =
      s->add_option("--state-dir", v.state_dir, "Where progress and logs live (./uringmig-state)");
  b.state_url = s->add_option("--state-url", v.state_url,
                              "Keep the job's state in schema uringmig_state of this PostgreSQL "
                              "database (\"target\": the target) instead of --state-dir");
  b.job_name = s->add_option("--job", v.job_name,
                             "The job's name in a --state-url database (default: made from "
                             "--source, --target and the tables)");
  b.log_level = s->add_option("--log-level", v.log_level, "trace, debug, info, warn or error")
                    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  if ((spec.flags & with_selection) != 0U) {
    b.tables = s->add_option("--tables", v.tables, "Only tables matching these schema.table globs")
                   ->delimiter(',');
    b.exclude =
        s->add_option("--exclude", v.exclude, "Skip tables matching these globs")->delimiter(',');
  }
  if ((spec.flags & with_jobs) != 0U) {
    b.jobs = s->add_option("--jobs", v.jobs, "Parallel copy jobs (0: one per core, at most 4)")
                 ->check(CLI::Range(0, max_jobs));
    b.index_jobs = s->add_option("--index-jobs", v.index_jobs, "Parallel index builds")
                       ->check(CLI::Range(0, max_jobs));
  }
  if ((spec.flags & with_follow) != 0U) {
    b.follow = s->add_flag("--follow,!--no-follow", v.follow,
                           "After the copy, keep the target in sync (CDC)");
    b.restart = s->add_flag("--restart", v.restart, "Discard saved progress and start over");
  }
  if ((spec.flags & with_dry_run) != 0U) {
    b.dry_run = s->add_flag("--dry-run", v.dry_run, "Show what would happen; change nothing");
  }
  if ((spec.flags & with_deadline) != 0U) {
    b.max_runtime = s->add_option("--max-runtime", v.max_runtime,
                                  "Stop cleanly after this long: 90s, 14m, 2h, 1h30m");
    b.http = s->add_option("--http", v.http,
                           "Serve the HTTP API, /metrics and a dashboard on HOST:PORT while it "
                           "runs (127.0.0.1:7654); as [http] listen");
  }
  if ((spec.flags & with_cdc) != 0U) {
    b.publication = s->add_option("--publication", v.publication,
                                  "Use this publication (else one is created for the tables)");
    b.keep_slot = s->add_flag("--keep-slot", v.keep_slot,
                              "Keep the replication slot and publication after switchover");
  }
  if ((spec.flags & with_timeout) != 0U) {
    b.timeout = s->add_option("--timeout", v.timeout,
                              "How long to wait for the follower to catch up (default 60s)");
    b.verify = s->add_flag("--verify", v.verify,
                           "Once caught up, compare every migrated table on both sides (counts "
                           "and checksums) and print them; stop writes on the source first");
  }
  if (spec.kind == engine::job_command::run) {
    b.skip_large_objects = s->add_flag("--skip-large-objects", v.skip_large_objects,
                                       "PostgreSQL targets: do not copy large objects");
    b.worker =
        s->add_option("--worker", v.worker,
                      "Bulk, shards, Doris and incremental loads with --state-url: this process is "
                      "worker N of M on the job (any number of copies of one command work "
                      "together; N/M names it in the state)");
    b.allow_inconsistent = s->add_flag(
        "--allow-inconsistent", v.allow_inconsistent,
        "Bulk, shard and Doris workers: go on under fresh snapshots when the coordinator (holding "
        "the job's snapshot) dies, instead of stopping");
  }
  if (spec.kind == engine::job_command::status)
    b.json = s->add_flag("--json", v.json, "Print one JSON object");
  return b;
}

option_layer flags_layer(const bound_command& b, const flag_values& v) {
  option_layer l;
  if (given(b.source)) l.source = v.source;
  if (given(b.target)) l.target = v.target;
  if (given(b.source_password_file)) l.source_password_file = v.source_password_file;
  if (given(b.target_password_file)) l.target_password_file = v.target_password_file;
  if (given(b.preset)) l.preset = v.preset;
  if (given(b.state_dir)) l.state_dir = std::filesystem::path(v.state_dir);
  if (given(b.state_url)) l.settings["state.url"] = v.state_url;
  if (given(b.job_name)) l.settings["state.job"] = v.job_name;
  if (given(b.log_level)) l.log_level = v.log_level;
  if (given(b.tables)) l.tables = v.tables;
  if (given(b.exclude)) l.exclude = v.exclude;
  if (given(b.jobs)) l.jobs = v.jobs;
  if (given(b.index_jobs)) l.index_jobs = v.index_jobs;
  if (given(b.follow)) l.follow = v.follow;
  if (given(b.restart)) l.restart = v.restart;
  if (given(b.dry_run)) l.dry_run = v.dry_run;
  if (given(b.publication)) l.settings["online.publication"] = v.publication;
  if (given(b.skip_large_objects))
    l.settings["large_objects.skip"] = v.skip_large_objects ? "true" : "false";
  if (given(b.keep_slot)) l.settings["online.keep_slot"] = v.keep_slot ? "true" : "false";
  if (given(b.verify)) l.settings["online.verify"] = v.verify ? "true" : "false";
  if (given(b.worker)) l.settings["state.worker"] = v.worker;
  if (given(b.allow_inconsistent))
    l.settings["copy.allow_inconsistent"] = v.allow_inconsistent ? "true" : "false";
  if (given(b.timeout)) {
    const auto d = parse_duration(v.timeout);
    if (!d)
      throw engine::usage_error("--timeout '" + v.timeout +
                                "' is not a duration (examples: 90s, 14m, 2h, 1h30m)");
    l.settings["online.timeout_s"] = std::to_string(d->count());
  }
  if (given(b.http)) l.settings["http.listen"] = v.http;
  if (given(b.max_runtime)) {
    const auto d = parse_duration(v.max_runtime);
    if (!d) {
      throw engine::usage_error("--max-runtime '" + v.max_runtime +
                                "' is not a duration (examples: 90s, 14m, 2h, 1h30m)");
    }
    l.max_runtime = *d;
  }
  return l;
}

/// A command that needs an endpoint has one; `role` is "source" or "target". (engine::job_spec
/// parses it.)
void check_endpoint(std::string_view command, std::string_view role, const std::string& url,
                    bool required) {
  if (url.empty() && required) {
    throw engine::usage_error(std::string(command) + " needs a " + std::string(role) + ": pass --" +
                              std::string(role) + " URL or set " + std::string(role) +
                              " in the --config file");
  }
}

/// One line, "uringmig: " once, no secrets.
std::string error_line(std::string_view message) {
  std::string text = codecs::redact(message);
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::string_view body = text;
  if (body.substr(0, 10) == "uringmig: ") {
    body.remove_prefix(10);
  } else if (body.substr(0, 9) == "uringmig ") {
    body.remove_prefix(9);
  }
  while (!body.empty() && body.back() == ' ')
    body.remove_suffix(1);
  return "uringmig: " + std::string(body);
}

void report(std::ostream& err, std::string_view message) {
  const auto line = error_line(message);
  err << line << '\n';
  err.flush();
  log_to_file_only(spdlog::level::err, line);
}

/// `doctor`: the platform, then (with --source/--target/--config) where credentials come from.
int run_doctor_command(const option_layer& flags, const resolved_options& resolved,
                       const run_context& ctx, std::ostream& out, std::ostream& err) {
  const auto probe = ctx.probe_uring ? ctx.probe_uring() : io::probe_uring();
  const int rc = run_doctor(probe, out, err);
  std::vector<endpoint_origin> endpoints;
  const auto add = [&](std::string role, const std::string& url, bool from_flags,
                       const std::optional<std::filesystem::path>& file) {
    if (url.empty()) return;
    endpoints.push_back(
        {std::move(role), url, from_flags ? "the command line" : "the config file", file});
  };
  add("source", resolved.job.source_url, flags.source.has_value(), resolved.source_password_file);
  add("target", resolved.job.target_url, flags.target.has_value(), resolved.target_password_file);
  const env_lookup env = ctx.env ? ctx.env : env_lookup(process_env);
  print_security(security_report(endpoints, resolved.job.state_dir, env), out);
  out.flush();
  return rc;
}

int run_job_command(const bound_command& b, const flag_values& v, const run_context& ctx,
                    std::ostream& out, std::ostream& err) {
  const auto& spec = *b.spec;
  const option_layer flags = flags_layer(b, v);

  option_layer config;
  if (given(b.config)) {
    const std::filesystem::path file(v.config);
    const auto cwd = ctx.cwd.empty() ? std::filesystem::current_path() : ctx.cwd;
    const env_lookup real = ctx.env ? ctx.env : env_lookup(process_env);
    config = load_config(file, layered_env(real, find_dotenv_files(file, cwd)));
  }

  option_layer preset;
  const std::string preset_name = flags.preset ? *flags.preset : config.preset.value_or("");
  if (!preset_name.empty()) preset = preset_layer(preset_name);

  auto resolved = merge_layers(spec.name, preset, config, flags);
  resolved.job.json = given(b.json);
  if (resolved.source_password_file && !resolved.job.source_url.empty()) {
    resolved.job.source_url =
        url_with_password_file(resolved.job.source_url, *resolved.source_password_file, "source");
  }
  if (resolved.target_password_file && !resolved.job.target_url.empty()) {
    resolved.job.target_url =
        url_with_password_file(resolved.job.target_url, *resolved.target_password_file, "target");
  }
  if (spec.kind == engine::job_command::none)
    return run_doctor_command(flags, resolved, ctx, out, err);
  const auto& job = resolved.job;
  // status reads the state store offline: no ring needed, so it works anywhere.
  const bool offline = spec.kind == engine::job_command::status;
  check_endpoint(spec.name, "source", job.source_url, spec.needs_endpoints);
  check_endpoint(spec.name, "target", job.target_url, spec.needs_endpoints);
  // The one parse of the URLs and settings the engine runs on: bad input stops here, before
  // the state directory or anything else is touched.
  const engine::job_spec parsed(job);

  // --http: the port is taken now, before anything is touched (in use: exit 2).
  const auto http = offline ? nullptr : engine::start_http(parsed);

  // Inputs are sound; now make sure the runtime can work at all.
  const auto probe = offline           ? io::uring_probe_result{true, 0, {}, {}}
                     : ctx.probe_uring ? ctx.probe_uring()
                                       : io::probe_uring();
  if (!probe.ok) {
    report(err, io::describe_uring_failure(probe));
    return 1;
  }

  std::filesystem::path log_file;
  // verify keeps no state: it logs to a file only when given a --state-dir (flag or config).
  const bool state_dir_named = flags.state_dir || config.state_dir;
  if (spec.writes_log && !job.dry_run &&
      (spec.kind != engine::job_command::verify || state_dir_named)) {
    engine::ensure_private_dir(job.state_dir);  // throws usage_error / job_error: one line
    log_file = log_file_path(job.state_dir);
  }
  init_logging(resolved.log_level, log_file);

  std::string summary = "uringmig " + std::string(version()) + " " + std::string(spec.name);
  if (!job.preset.empty()) summary += " preset=" + job.preset;
  if (!job.source_url.empty()) summary += " source=" + job.source_url;
  if (!job.target_url.empty()) summary += " target=" + job.target_url;
  summary += " state_dir=" + job.state_dir.string();
  if (job.dry_run) summary += " (dry run)";
  if (offline) {
    spdlog::debug("{}", codecs::redact(summary));
  } else {
    spdlog::info("{}", codecs::redact(summary));
  }
  for (const auto& [key, value] : job.settings)
    spdlog::debug("setting {} = {}", key, codecs::redact(value));

  const int rc = ctx.run_job ? ctx.run_job(parsed) : engine::run_job(parsed);
  if (http) http->finished(rc);
  spdlog::debug("uringmig {} finished with exit code {}", spec.name, rc);
  return rc;
}

int run_checked(std::span<const std::string> args, const run_context& ctx, std::ostream& out,
                std::ostream& err) {
  init_logging("info");  // stderr only until the command knows its level and state directory
  CLI::App app{"uringmig: migrate data between databases (PostgreSQL, SQLite, Doris)", "uringmig"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "uringmig " + std::string(version()));
  app.footer("Run 'uringmig COMMAND --help' for the flags of one command.");

  flag_values values;
  std::vector<bound_command> commands;
  for (const auto& spec : job_commands)
    commands.push_back(add_job_command(app, spec, values));
  for (auto& c : commands) {
    if (c.preset != nullptr) c.app->footer(preset_help());
  }
  top_options top;
  auto* top_cmd = add_top_command(app, top);
  auto* version_cmd = app.add_subcommand("version", "Print the version");

  // CLI11 would only say "A subcommand is required"; name the culprit and the choices instead.
  std::string valid;
  bool known = false;
  for (const auto& name : command_names) {
    if (!valid.empty()) valid += ", ";
    valid += name;
    if (args.size() >= 2 && args[1] == name) known = true;
  }
  if (args.size() < 2) {
    report(err, "no command given (valid: " + valid + "; see 'uringmig --help')");
    return 2;
  }
  if (const auto& first = args[1]; !known && !first.empty() && first.front() != '-') {
    report(err, "unknown command '" + first + "' (valid: " + valid + "; see 'uringmig --help')");
    return 2;
  }

  std::vector<const char*> argv;
  argv.reserve(args.size() + 1);
  if (args.empty()) argv.push_back("uringmig");
  for (const auto& a : args)
    argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e, out, err);  // --help, --help-all, --version
    }
    std::string hint = "uringmig --help";
    const auto selected = app.get_subcommands();
    if (!selected.empty()) hint = "uringmig " + selected.front()->get_name() + " --help";
    report(err, std::string(e.what()) + " (see '" + hint + "')");
    return 2;
  }

  if (version_cmd->parsed()) {
    out << "uringmig " << version() << '\n';
    return 0;
  }
  if (top_cmd->parsed()) return run_top(top, ctx.env ? ctx.env : env_lookup(process_env), out);
  for (const auto& c : commands) {
    if (c.app->parsed()) return run_job_command(c, values, ctx, out, err);
  }
  report(err, "no command given (valid: " + valid + "; see 'uringmig --help')");
  return 2;
}

[[noreturn]] void on_terminate() noexcept {
  std::string what = "unexpected internal error";
  try {
    if (const auto ep = std::current_exception()) std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = std::string("internal error: ") + e.what();
  } catch (...) {  // NOLINT(bugprone-empty-catch): keep the generic text
  }
  const auto line = error_line(what) + "\n";
  const auto n = ::write(STDERR_FILENO, line.data(), line.size());
  static_cast<void>(n);
  std::_Exit(1);
}

}  // namespace

std::string_view version() noexcept {
  return URINGMIG_VERSION;
}

int run(std::span<const std::string> args, const run_context& ctx) {
  std::ostream& out = ctx.out != nullptr ? *ctx.out : std::cout;
  std::ostream& err = ctx.err != nullptr ? *ctx.err : std::cerr;
  try {
    return run_checked(args, ctx, out, err);
  } catch (const engine::usage_error& e) {
    report(err, e.what());
    return 2;
  } catch (const engine::job_error& e) {
    report(err, e.what());
    return 1;
  } catch (const std::exception& e) {
    report(err, e.what());
    return 1;
  } catch (...) {
    report(err, "unexpected internal error");
    return 1;
  }
}

int main(int argc, char** argv) noexcept {
  std::set_terminate(on_terminate);
  // What we write holds data and secrets of the user's databases (state, schema dumps, logs,
  // SQLite targets): readable by this user only.
  ::umask(::umask(0) | 077);
  int rc = 1;
  try {
    const std::vector<std::string> args(argv, argv + argc);
    // Any local user can read /proc/PID/cmdline (ps) for as long as we run: once the
    // arguments are copied, overwrite every password in them.
    for (int i = 1; i < argc; ++i)
      codecs::scrub_secrets(std::span<char>(argv[i], std::strlen(argv[i])));
    rc = run(args);
  } catch (...) {
    static constexpr std::string_view line = "uringmig: unexpected internal error\n";
    const auto n = ::write(STDERR_FILENO, line.data(), line.size());
    static_cast<void>(n);
  }
  flush_logs();
  return rc;
}

}  // namespace uringmig::cli
