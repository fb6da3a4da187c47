#include "engine/core/job_spec.hpp"

#include "engine/core/config_keys.hpp"
#include "engine/core/planner.hpp"

#include <array>
#include <utility>

namespace uringmig::engine {

namespace {

constexpr std::array<std::pair<job_command, std::string_view>, 7> command_names{{
    {job_command::none, ""},
    {job_command::run, "run"},
    {job_command::plan, "plan"},
    {job_command::follow, "follow"},
    {job_command::switchover, "switchover"},
    {job_command::status, "status"},
    {job_command::verify, "verify"},
}};

using settings_map = std::map<std::string, std::string>;

int int_of(const settings_map& s, std::string_view key) {
  return static_cast<int>(integer_setting(s, key));  // the registry's bounds fit an int
}

std::vector<std::string> list_of(const settings_map& s, std::string_view key) {
  std::vector<std::string> out;
  const std::string text = setting_or_default(s, key);
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bulk_config read_bulk(const settings_map& s) {
  bulk_config c;
  c.retries = int_of(s, "copy.retries");
  c.lock_timeout = setting_or_default(s, "copy.lock_timeout");
  if (const auto it = s.find("index.maintenance_work_mem"); it != s.end())
    c.maintenance_work_mem = it->second;
  c.no_owner = boolean_setting(s, "schema.no_owner");
  c.no_acl = boolean_setting(s, "schema.no_acl");
  c.skip_large_objects = boolean_setting(s, "large_objects.skip");
  c.pg_bin_dir = setting_or_default(s, "pg.bin_dir");
  c.allow_inconsistent = boolean_setting(s, "copy.allow_inconsistent");
  c.exit_mid_chunk = int_of(s, "copy.debug.exit_mid_chunk");
  c.lease_s = int_of(s, "state.lease_s");
  return c;
}

sqlite_config read_sqlite(const settings_map& s) {
  sqlite_config c;
  c.chunk_rows = integer_setting(s, "sqlite.chunk_rows");
  c.chunk_bytes = parse_size(setting_or_default(s, "sqlite.chunk_bytes"), "sqlite.chunk_bytes");
  c.index = list_of(s, "sqlite.index");
  c.raw_scan = boolean_setting(s, "sqlite.raw_scan");
  c.segment_insert = boolean_setting(s, "sqlite.segment_insert");
  c.page_size = int_of(s, "sqlite.page_size");
  if ((c.page_size & (c.page_size - 1)) != 0)
    throw usage_error("sqlite.page_size must be a power of two from 512 to 65536");
  c.cache_mib = int_of(s, "sqlite.cache_mib");
  c.commit_rows = int_of(s, "sqlite.commit_rows");
  c.rows_per_insert = int_of(s, "sqlite.rows_per_insert");
  c.segment_kib = int_of(s, "sqlite.segment_kib");
  c.batch_kib = int_of(s, "sqlite.batch_kib");
  if (s.count("sqlite.writer_threads") != 0) c.writer_threads = int_of(s, "sqlite.writer_threads");
  return c;
}

doris_config read_doris(const settings_map& s) {
  doris_config c;
  c.two_phase_commit = boolean_setting(s, "doris.two_phase_commit");
  c.group_commit = setting_or_default(s, "doris.group_commit");
  c.max_filter_ratio = setting_or_default(s, "doris.max_filter_ratio");
  c.concurrency_per_be = int_of(s, "doris.concurrency_per_be");
  c.retries = int_of(s, "doris.retries");
  c.backoff_ms = int_of(s, "doris.backoff_ms");
  c.backoff_max_ms = int_of(s, "doris.backoff_max_ms");
  c.expect_100_ms = int_of(s, "doris.expect_100_ms");
  c.timeout_s = int_of(s, "doris.timeout");
  c.buffer_kib = int_of(s, "doris.buffer_kib");
  c.compress = setting_or_default(s, "doris.compress");
  if (c.compress == "gzip") c.compress = "gz";
  c.binary_copy = boolean_setting(s, "doris.binary_copy");
  c.columns = setting_or_default(s, "doris.columns");
  c.where = setting_or_default(s, "doris.where");
  c.tls_ca_file = setting_or_default(s, "doris.tls_ca_file");
  c.trusted_bes = setting_or_default(s, "doris.trusted_bes");
  c.exit_after_precommit = int_of(s, "doris.debug.exit_after_precommit");
  return c;
}

online_config read_online(const settings_map& s) {
  online_config c;
  c.publication = setting_or_default(s, "online.publication");
  c.apply_workers = int_of(s, "online.apply_workers");
  c.coalesce = boolean_setting(s, "online.coalesce");
  c.reconnect_s = int_of(s, "online.reconnect_s");
  c.keep_slot = boolean_setting(s, "online.keep_slot");
  c.copy = boolean_setting(s, "online.copy");
  c.timeout_s = int_of(s, "online.timeout_s");
  c.verify = boolean_setting(s, "online.verify");
  return c;
}

codecs::endpoint parse_url(const std::string& url, std::string_view role) {
  auto parsed = codecs::parse_endpoint(url);
  if (!parsed) throw usage_error("invalid --" + std::string(role) + " URL: " + parsed.error);
  return std::move(*parsed.value);
}

}  // namespace

std::string_view to_string(job_command command) noexcept {
  for (const auto& [c, name] : command_names) {
    if (c == command) return name;
  }
  return "";
}

std::optional<job_command> parse_job_command(std::string_view name) noexcept {
  for (const auto& [c, n] : command_names) {
    if (n == name) return c;
  }
  return std::nullopt;
}

job_config read_job_config(const std::map<std::string, std::string>& settings) {
  check_settings(settings);
  job_config c;
  c.bulk = read_bulk(settings);
  c.sqlite = read_sqlite(settings);
  c.doris = read_doris(settings);
  c.online = read_online(settings);
  c.verify.md5 = setting_or_default(settings, "verify.hash") == "md5";
  return c;
}

job_spec::job_spec(const job_options& opts) : job_options(opts) {
  const auto k = parse_job_command(command);
  if (!k) throw usage_error("uringmig " + command + ": not yet implemented");
  kind = *k;
  if (!source_url.empty()) source = parse_url(source_url, "source");
  if (!target_url.empty()) target = parse_url(target_url, "target");
  config = read_job_config(settings);
}

const codecs::endpoint& job_spec::source_endpoint() const {
  if (!source) throw usage_error("--source: " + codecs::parse_endpoint("").error);
  return *source;
}

const codecs::endpoint& job_spec::target_endpoint() const {
  if (!target) throw usage_error("--target: " + codecs::parse_endpoint("").error);
  return *target;
}

}  // namespace uringmig::engine
