// How an incremental run ends, for both targets: the outcome of its loads, and the one place
// that turns it (or the error that stopped it) into the run's end mark, the exception or the
// exit code (0 clean, 3 with rejected rows).
#pragma once

#include "engine/core/state_store.hpp"
#include "io/runtime.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace uringmig::engine::incremental {

struct outcome {
  bool interrupted = false;
  std::int64_t rejected = 0;
};

/// Records the run's end in `state` and answers its exit code, or throws: `error` (a usage
/// error when `usage`) → failed; a stop → interrupted, with the resume hint; rejected rows →
/// done, 3, naming `<state_dir>/rejects`.
int end_run(state_store& state, std::optional<std::int64_t> run_id, const std::string& error,
            bool usage, const outcome& out, io::runtime& rt,
            const std::filesystem::path& state_dir);

}  // namespace uringmig::engine::incremental
