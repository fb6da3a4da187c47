// no_uring_exec [--errno=EPERM|ENOSYS] COMMAND [ARG...]
// no_uring_exec --enomem-above=N COMMAND [ARG...]
// no_uring_exec --probe
//
// Runs COMMAND with io_uring_setup, io_uring_enter and io_uring_register
// failing with EPERM (or ENOSYS), as under Docker's default seccomp profile.
// The seccomp filter survives execve and is inherited by every child.
// `--enomem-above=N` instead lets io_uring work but refuses a ring of more than N entries with
// ENOMEM, as a kernel does when it cannot find that much contiguous memory.
// `--probe` tries io_uring_setup itself and prints the outcome (exit 0 when
// io_uring works, 1 when not) — run it under no_uring_exec to check the filter.

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

namespace {

// io_uring got the same numbers on every architecture that uses the unified
// syscall table (x86_64, i386, arm, aarch64, ...) — since Linux 5.1.
constexpr unsigned io_uring_setup_nr = 425;
constexpr unsigned io_uring_enter_nr = 426;
constexpr unsigned io_uring_register_nr = 427;
#if defined(__NR_io_uring_setup)
static_assert(__NR_io_uring_setup == io_uring_setup_nr);
static_assert(__NR_io_uring_enter == io_uring_enter_nr);
static_assert(__NR_io_uring_register == io_uring_register_nr);
#endif

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "no_uring_exec knows the seccomp arch values of x86_64 and aarch64 only"
#endif

// x32 system calls are x86_64 calls with this bit set.
constexpr unsigned x32_syscall_bit = 0x40000000U;

#ifndef AUDIT_ARCH_AARCH64
#define AUDIT_ARCH_AARCH64 (EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE)
#endif

constexpr sock_filter stmt(unsigned short code, unsigned k) {
  return sock_filter{code, 0, 0, k};
}
constexpr sock_filter jump(unsigned short code, unsigned k, unsigned char jt, unsigned char jf) {
  return sock_filter{code, jt, jf, k};
}

// Loads the system call number into the accumulator for every architecture the filters know;
// allows every call of any other architecture. Ends at index 10, where a filter's own rules go.
std::vector<sock_filter> syscall_number() {
  constexpr unsigned arch_offset = offsetof(seccomp_data, arch);
  constexpr unsigned nr_offset = offsetof(seccomp_data, nr);
  // Jump offsets count instructions to skip; the index of each is on the right.
  return {
      stmt(BPF_LD | BPF_W | BPF_ABS, arch_offset),                // 0
      jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 4, 0),   // 1 -> 6
      jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 6, 0),     // 2 -> 9
      jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_AARCH64, 5, 0),  // 3 -> 9
      jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_ARM, 4, 0),      // 4 -> 9
      stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),                   // 5 other arch
      stmt(BPF_LD | BPF_W | BPF_ABS, nr_offset),                  // 6 x86_64, x32
      stmt(BPF_ALU | BPF_AND | BPF_K, ~x32_syscall_bit),          // 7
      stmt(BPF_JMP | BPF_JA, 1),                                  // 8 -> 10
      stmt(BPF_LD | BPF_W | BPF_ABS, nr_offset),                  // 9
  };
}

int install(std::vector<sock_filter> program) {
  sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
  // Without no_new_privs an unprivileged process may not install a filter.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    std::fprintf(stderr, "no_uring_exec: prctl(PR_SET_NO_NEW_PRIVS): %s\n", std::strerror(errno));
    return -1;
  }
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
    std::fprintf(stderr, "no_uring_exec: prctl(PR_SET_SECCOMP): %s\n", std::strerror(errno));
    return -1;
  }
  return 0;
}

// The three io_uring calls fail with err.
int install_filter(unsigned err) {
  const unsigned deny = SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA);
  auto program = syscall_number();
  program.insert(program.end(),
                 {
                     jump(BPF_JMP | BPF_JEQ | BPF_K, io_uring_setup_nr, 3, 0),     // 10 -> 14
                     jump(BPF_JMP | BPF_JEQ | BPF_K, io_uring_enter_nr, 2, 0),     // 11 -> 14
                     jump(BPF_JMP | BPF_JEQ | BPF_K, io_uring_register_nr, 1, 0),  // 12 -> 14
                     stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),                     // 13
                     stmt(BPF_RET | BPF_K, deny),                                  // 14
                 });
  return install(std::move(program));
}

// io_uring_setup(entries, params) with entries > max fails with ENOMEM; everything else runs.
int install_ring_limit(unsigned max_entries) {
  constexpr unsigned arg0_offset = offsetof(seccomp_data, args);  // low word: little-endian
  const unsigned deny = SECCOMP_RET_ERRNO | (ENOMEM & SECCOMP_RET_DATA);
  auto program = syscall_number();
  program.insert(program.end(),
                 {
                     jump(BPF_JMP | BPF_JEQ | BPF_K, io_uring_setup_nr, 1, 0),  // 10 -> 12
                     stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),                  // 11
                     stmt(BPF_LD | BPF_W | BPF_ABS, arg0_offset),               // 12 entries
                     jump(BPF_JMP | BPF_JGT | BPF_K, max_entries, 0, 1),        // 13 -> 14 / 15
                     stmt(BPF_RET | BPF_K, deny),                               // 14
                     stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),                  // 15
                 });
  return install(std::move(program));
}

// 120 bytes is sizeof(struct io_uring_params); zeroed means "defaults".
int probe() {
  std::array<unsigned char, 120> params{};
  long fd = ::syscall(io_uring_setup_nr, 4, params.data());
  if (fd < 0) {
    std::printf("io_uring_setup: %s\n", std::strerror(errno));
    return 1;
  }
  ::close(static_cast<int>(fd));
  std::printf("io_uring_setup: ok\n");
  return 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: no_uring_exec [--errno=EPERM|ENOSYS] COMMAND [ARG...]\n"
               "       no_uring_exec --enomem-above=N COMMAND [ARG...]\n"
               "       no_uring_exec --probe\n");
}

}  // namespace

int main(int argc, char** argv) {
  int first = 1;
  unsigned err = EPERM;
  if (argc >= 2 && std::string_view(argv[1]) == "--probe") return probe();
  if (argc >= 3 && std::string_view(argv[1]).starts_with("--enomem-above=")) {
    const unsigned max_entries = static_cast<unsigned>(std::strtoul(argv[1] + 15, nullptr, 10));
    if (install_ring_limit(max_entries) != 0) return 126;
    ::execvp(argv[2], argv + 2);
    std::fprintf(stderr, "no_uring_exec: %s: %s\n", argv[2], std::strerror(errno));
    return errno == ENOENT ? 127 : 126;
  }
  if (argc >= 2 && std::string_view(argv[1]).starts_with("--errno=")) {
    std::string_view name = std::string_view(argv[1]).substr(8);
    if (name == "EPERM") {
      err = EPERM;
    } else if (name == "ENOSYS") {
      err = ENOSYS;
    } else {
      usage();
      return 2;
    }
    ++first;
  }
  if (first >= argc) {
    usage();
    return 2;
  }
  if (install_filter(err) != 0) return 126;
  ::execvp(argv[first], argv + first);
  std::fprintf(stderr, "no_uring_exec: %s: %s\n", argv[first], std::strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
