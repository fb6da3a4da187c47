#pragma once

// Files, users and child processes, as the test cluster needs them. Blocking;
// test support only.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace uringmig::test::os {

/// The last `max_lines` lines of a log file, headed by its name, for error messages.
std::string tail_of(const std::filesystem::path& file, std::size_t max_lines = 40);
void write_file(const std::filesystem::path& file, std::string_view content, bool append);
/// True when every component of `dir` is searchable by other users.
bool reachable_by_others(const std::filesystem::path& dir);

struct os_user {
  uid_t uid = 0;
  gid_t gid = 0;
};
/// Throws with a hint when the user does not exist.
os_user lookup_user(const std::string& name);
std::string current_user_name();
const char* runuser_path();
/// Our environment minus PG* variables.
std::vector<std::string> child_environment();

struct run_result {
  int exit_code = -1;  // -1: did not exit normally
  std::string describe;
};

struct spawn_options {
  int stdin_fd = -1;  // -1: /dev/null
  bool new_session = false;
};

/// Starts `args` in `cwd`, output appended to `log`, no other descriptor
/// inherited. Returns the pid, or throws.
pid_t spawn(std::vector<std::string> args, const std::filesystem::path& cwd,
            const std::filesystem::path& log, spawn_options opts = {});
/// `args` prefixed with runuser when `user` is non-empty.
std::vector<std::string> as_user(const std::string& user, std::vector<std::string> args);
/// Runs `args` (as `user` when non-empty) and waits for it.
run_result run(const std::vector<std::string>& args, const std::string& user,
               const std::filesystem::path& cwd, const std::filesystem::path& log);
/// A loopback port that was free a moment ago.
int pick_free_port();
pid_t read_postmaster_pid(const std::filesystem::path& data_dir);
/// Gone, or a zombie waiting for its reaper.
bool process_gone(pid_t pid);
bool is_postgres_process(pid_t pid);

}  // namespace uringmig::test::os
