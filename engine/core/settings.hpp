#pragma once

// Reading job_options::settings (flattened config keys such as "sqlite.page_size" or
// "tables.public.orders.chunk_size"): one set of helpers for every job.

#include "engine/core/job.hpp"

#include <string>
#include <string_view>

namespace uringmig::engine {

/// The value of `key`, or `dflt` when the config does not set it.
std::string setting(const job_options& o, const std::string& key, const std::string& dflt = {});

/// A per-table setting: `[tables."schema.table"] key = ...` ("tables.schema.table.key").
std::string table_setting(const job_options& o, std::string_view schema, std::string_view table,
                          const std::string& key);

/// An integer setting within [lo, hi]; usage_error naming the key otherwise.
int int_setting(const job_options& o, const std::string& key, int dflt, int lo, int hi);

/// A true/false setting; usage_error for anything else.
bool bool_setting(const job_options& o, const std::string& key, bool dflt);

}  // namespace uringmig::engine
