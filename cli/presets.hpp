#pragma once

#include "cli/options.hpp"

#include <span>
#include <string>
#include <string_view>

namespace uringmig::cli {

/// A named table of defaults built into the binary; the lowest-precedence layer.
struct preset {
  std::string_view name;
  std::string_view description;  // one line, for --help
  option_layer defaults;
};

/// All built-in presets, in the order --help lists them. Lives for the whole program.
std::span<const preset> builtin_presets();

/// nullptr when there is no preset of that name.
const preset* find_preset(std::string_view name);

/// "bulk, online".
std::string preset_names();

/// Several lines ("  bulk    PG->PG bulk clone ...") for the help footer.
std::string preset_help();

/// The defaults of `name`; throws engine::usage_error "unknown preset 'x' (valid: ...)".
option_layer preset_layer(std::string_view name);

}  // namespace uringmig::cli
