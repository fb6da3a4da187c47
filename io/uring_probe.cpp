#include "io/uring_probe.hpp"

#include <liburing.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace uringmig::io {

namespace {

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

/// Whether a seccomp filter applies to this process (/proc/self/status "Seccomp: 2").
bool under_seccomp_filter() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Seccomp:", 0) == 0) return line.find('2') != std::string::npos;
  }
  return false;
}

}  // namespace

uring_probe_result probe_uring() {
  uring_probe_result r;
  io_uring ring{};
  const int rc = io_uring_queue_init(4, &ring, 0);
  if (rc == 0) {
    io_uring_queue_exit(&ring);
    r.ok = true;
    return r;
  }
  r.error = -rc;
  r.cause = std::string("io_uring_setup failed: ") + std::strerror(r.error);
  const std::string disabled = read_first_line("/proc/sys/kernel/io_uring_disabled");
  if (!disabled.empty() && disabled != "0") {
    r.fix = "the kernel has io_uring disabled (sysctl kernel.io_uring_disabled=" + disabled +
            "); set it to 0";
  } else if ((r.error == ENOSYS && under_seccomp_filter()) || r.error == EPERM ||
             r.error == EACCES) {
    // Docker's default profile answers EPERM; Podman's, Buildah's and CRI-O's (the
    // containers-common profile) answer ENOSYS, as if the kernel lacked the call.
    r.fix =
        "a seccomp profile blocks it (the default profiles of Docker, Podman, containerd and "
        "CRI-O do): run the container with the profile uringmig ships, "
        "deploy/seccomp-io_uring.json (the usual rules plus io_uring_setup, io_uring_enter "
        "and io_uring_register): --security-opt seccomp=deploy/seccomp-io_uring.json, or in "
        "Kubernetes a Localhost seccompProfile (deploy/README.md)";
  } else if (r.error == ENOSYS) {
    r.fix = "this kernel lacks io_uring; use Linux 5.10 or newer built with CONFIG_IO_URING";
  } else if (r.error == ENOMEM) {
    r.fix = "the locked-memory limit is too low: raise it (ulimit -l, or --ulimit memlock=-1)";
  } else {
    r.fix = "check that the kernel supports io_uring and that no security policy blocks it";
  }
  return r;
}

std::string liburing_version() {
#if defined(IO_URING_VERSION_MAJOR)
  return std::to_string(IO_URING_VERSION_MAJOR) + "." + std::to_string(IO_URING_VERSION_MINOR);
#else
  return "2.3 (headers carry no version macro)";
#endif
}

std::string describe_uring_failure(const uring_probe_result& r) {
  return "io_uring is unavailable (" + r.cause + "): " + r.fix;
}

}  // namespace uringmig::io
