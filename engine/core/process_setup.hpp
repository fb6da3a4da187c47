#pragma once

namespace uringmig::engine {

/// Process-wide settings of the libraries the engine drives, for many threads each with
/// connections of their own (SQLite: multi-thread mode, no global memory statistics). Call once,
/// first thing in main, before any job opens a database; later calls change nothing.
void setup_process() noexcept;

}  // namespace uringmig::engine
