#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace uringmig::engine {

/// Where pg_dump / pg_restore live: the `pg.bin_dir` setting, else
/// /usr/lib/postgresql/<major>/bin for the source server's major version.
std::filesystem::path pg_bin_dir(const std::string& configured, int server_version_num);

struct tool_output {
  int exit_code = 0;
  std::string out;  // stdout, when captured
  std::string err;  // stderr (last 8 KiB), redacted
};

/// Runs a PostgreSQL client program (blocking; call through io::run_blocking).
/// `conninfo` is passed as `-d` WITHOUT its password, which goes through
/// PGPASSWORD in the child's environment, so it never shows in `ps`. The child
/// runs in a process group of its own and is killed when the calling thread
/// ends (a killed uringmig leaves no pg_restore behind). A non-empty
/// `application_name` tags its sessions (PGAPPNAME).
tool_output run_pg_tool(const std::filesystem::path& program, std::vector<std::string> args,
                        const std::string& conninfo, bool capture_stdout,
                        const std::string& application_name = {});

/// The last non-empty line of a tool's stderr, for a one-line error.
std::string last_line(const std::string& text);

/// The cause in a pg_dump / pg_restore stderr, for a one-line error: the last server
/// `ERROR:` line (from "ERROR:" on; the `Command was:` echo that follows it is not the
/// cause), else the last non-empty line.
std::string error_line(const std::string& text);

/// One line of `pg_restore -l`: "<dumpId>; <classOid> <objOid> <DESC> ...".
struct toc_entry {
  std::string line;
  unsigned class_oid = 0;  // the catalog the object lives in (pg_constraint, pg_trigger, ...)
  unsigned object_oid = 0;
  std::string desc;  // "INDEX", "CONSTRAINT", "FK CONSTRAINT", "TABLE", ...
};

/// The publication of a PUBLICATION or PUBLICATION TABLE entry; empty for any other entry.
std::string toc_publication(const toc_entry& e);

/// Parses `pg_restore -l` output; comment lines are skipped.
std::vector<toc_entry> parse_toc(const std::string& listing);

}  // namespace uringmig::engine
