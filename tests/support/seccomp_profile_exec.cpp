// seccomp_profile_exec PROFILE.json COMMAND [ARG...]
//
// Runs COMMAND under a seccomp profile in the format container runtimes take (Docker's
// `--security-opt seccomp=FILE`, Kubernetes' `seccompProfile: Localhost`, the OCI runtime
// spec's `linux.seccomp`): `defaultAction` (+ `defaultErrnoRet`), and `syscalls` entries of
// `names`, `action` (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO with `errnoRet`) and `args` comparisons
// (`index`, `value`, `valueTwo`, `op`). The filter is compiled by libseccomp for the native
// architecture, as runc and crun do, survives execve and is inherited by every child — so a
// test can run uringmig, and the pg_dump / pg_restore it starts, exactly as a container with
// that profile would. A name the architecture lacks is skipped, as runtimes do. Anything else
// the reader does not know (another action, an unknown op, `includes`/`excludes` conditions)
// stops it with a message: a profile feature silently ignored would make a test pass that a
// runtime might fail.

#include "codecs/json_reader.hpp"

#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace json = uringmig::codecs::json;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

json::object object_of(const json::value& v, const char* what) {
  if (v.kind != json::kind::object) fail(std::string(what) + " is not an object");
  auto r = json::read_object(v.text);
  if (!r) fail(std::string(what) + ": " + r.error);
  return *r.value;
}

std::vector<json::value> array_of(const json::value& v, const char* what) {
  auto a = v.kind == json::kind::array ? json::read_array(v.text) : std::nullopt;
  if (!a) fail(std::string(what) + " is not an array");
  return *a;
}

std::uint64_t number_of(const json::value* v, const char* what) {
  if (v == nullptr || v->kind != json::kind::number) fail(std::string(what) + " is not a number");
  return std::stoull(v->text);
}

std::uint32_t action_of(const json::object& o, const char* action_key, const char* errno_key,
                        std::uint32_t default_errno) {
  const json::value* a = o.find(action_key);
  if (a == nullptr || a->kind != json::kind::string) fail(std::string(action_key) + " missing");
  if (a->text == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (a->text == "SCMP_ACT_ERRNO") {
    const json::value* e = o.find(errno_key);
    return SCMP_ACT_ERRNO(e == nullptr ? default_errno : number_of(e, errno_key));
  }
  if (a->text == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  fail("action " + a->text + " is not supported by this reader");
}

scmp_compare op_of(const std::string& op) {
  if (op == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
  if (op == "SCMP_CMP_NE") return SCMP_CMP_NE;
  if (op == "SCMP_CMP_LT") return SCMP_CMP_LT;
  if (op == "SCMP_CMP_LE") return SCMP_CMP_LE;
  if (op == "SCMP_CMP_GT") return SCMP_CMP_GT;
  if (op == "SCMP_CMP_GE") return SCMP_CMP_GE;
  if (op == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
  fail("op " + op + " is not supported");
}

std::vector<scmp_arg_cmp> args_of(const json::object& rule) {
  std::vector<scmp_arg_cmp> out;
  const json::value* args = rule.find("args");
  if (args == nullptr || args->kind == json::kind::null) return out;
  for (const auto& a : array_of(*args, "args")) {
    const json::object arg = object_of(a, "an args entry");
    const json::value* op = arg.find("op");
    if (op == nullptr || op->kind != json::kind::string) fail("an args entry has no op");
    const json::value* two = arg.find("valueTwo");
    out.push_back(scmp_arg_cmp{static_cast<unsigned>(number_of(arg.find("index"), "index")),
                               op_of(op->text), number_of(arg.find("value"), "value"),
                               two == nullptr ? 0 : number_of(two, "valueTwo")});
  }
  return out;
}

scmp_filter_ctx load(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto doc = json::read_object(text.str());
  if (!doc) fail(path + ": " + doc.error);
  const json::value* default_errno = doc.value->find("defaultErrnoRet");
  const auto derr = default_errno == nullptr ? EPERM : number_of(default_errno, "defaultErrnoRet");
  scmp_filter_ctx ctx = seccomp_init(
      action_of(*doc.value, "defaultAction", "defaultErrnoRet", static_cast<std::uint32_t>(derr)));
  if (ctx == nullptr) fail("seccomp_init failed");
  const json::value* rules = doc.value->find("syscalls");
  if (rules == nullptr) fail("no syscalls list");
  for (const auto& r : array_of(*rules, "syscalls")) {
    const json::object rule = object_of(r, "a syscalls entry");
    if (rule.find("includes") != nullptr || rule.find("excludes") != nullptr)
      fail("includes/excludes conditions are not supported");
    const std::uint32_t action = action_of(rule, "action", "errnoRet", EPERM);
    const std::vector<scmp_arg_cmp> args = args_of(rule);
    const json::value* names = rule.find("names");
    if (names == nullptr) fail("a syscalls entry has no names");
    for (const auto& n : array_of(*names, "names")) {
      const int nr = seccomp_syscall_resolve_name(n.text.c_str());
      if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
      const int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()),
                                            args.empty() ? nullptr : args.data());
      if (rc != 0) fail("rule for " + n.text + ": " + std::strerror(-rc));
    }
  }
  return ctx;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: seccomp_profile_exec PROFILE.json COMMAND [ARG...]\n");
    return 2;
  }
  try {
    scmp_filter_ctx ctx = load(argv[1]);
    const int rc = seccomp_load(ctx);  // sets no_new_privs first (SCMP_FLTATR_CTL_NNP default)
    seccomp_release(ctx);
    if (rc != 0) fail(std::string("seccomp_load: ") + std::strerror(-rc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "seccomp_profile_exec: %s: %s\n", argv[1], e.what());
    return 2;
  }
  ::execvp(argv[2], argv + 2);
  std::fprintf(stderr, "seccomp_profile_exec: %s: %s\n", argv[2], std::strerror(errno));
  return 127;
}
