#include "cli/presets.hpp"

#include "engine/core/job.hpp"

#include <vector>

namespace uringmig::cli {

namespace {

option_layer bulk_defaults() {
  option_layer l;
  l.preset = "bulk";
  l.jobs = 4;        // parallel COPY streams, as pgcopydb's --table-jobs default
  l.index_jobs = 4;  // concurrent CREATE INDEX once a table's data is in
  l.follow = false;
  return l;
}

option_layer online_defaults() {
  option_layer l = bulk_defaults();
  l.preset = "online";
  l.follow = true;  // keep the target in sync through CDC after the clone
  return l;
}

option_layer incremental_defaults() {
  option_layer l;
  l.preset = "incremental";
  l.jobs = 2;  // chunk workers: a source session and a target session each
  l.follow = false;
  return l;
}

const std::vector<preset>& all() {
  static const std::vector<preset> presets{
      {"bulk", "PostgreSQL -> PostgreSQL bulk clone: 4 copy jobs, 4 index jobs, no CDC",
       bulk_defaults()},
      {"online", "bulk clone, then follow changes (CDC) until `uringmig switchover`",
       online_defaults()},
      {"incremental",
       "[[tables]] entries of the config: rows past each table's watermark upserted into "
       "PostgreSQL",
       incremental_defaults()},
  };
  return presets;
}

}  // namespace

std::span<const preset> builtin_presets() {
  return all();
}

const preset* find_preset(std::string_view name) {
  for (const auto& p : all()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string preset_names() {
  std::string out;
  for (const auto& p : all()) {
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

std::string preset_help() {
  std::size_t width = 0;
  for (const auto& p : all())
    width = std::max(width, p.name.size());
  std::string out = "Presets (--preset NAME):\n";
  for (const auto& p : all()) {
    out += "  ";
    out += p.name;
    out.append(width - p.name.size() + 2, ' ');
    out += p.description;
    out += '\n';
  }
  return out;
}

option_layer preset_layer(std::string_view name) {
  if (const auto* p = find_preset(name)) return p->defaults;
  throw engine::usage_error("unknown preset '" + std::string(name) + "' (valid: " + preset_names() +
                            ")");
}

}  // namespace uringmig::cli
