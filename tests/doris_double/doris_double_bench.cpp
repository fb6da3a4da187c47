// `doris_double_bench [GiB] [--through-fe]`: how fast the discard mode takes a
// chunked Stream Load from libcurl over loopback. Prints one line; exits 1 when
// the answer's row count is wrong.

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tests/doris_double/server.hpp"

namespace dd = uringmig::test::doris_double;

namespace {

struct source {
  std::string block;       // whole lines, repeated
  std::uint64_t left = 0;  // bytes still to send
  std::size_t offset = 0;  // position in block
};

size_t read_body(char* dst, size_t size, size_t n, void* ud) {
  auto* s = static_cast<source*>(ud);
  std::size_t want = std::min<std::uint64_t>(size * n, s->left);
  std::size_t done = 0;
  while (done < want) {
    std::size_t take = std::min(want - done, s->block.size() - s->offset);
    std::memcpy(dst + done, s->block.data() + s->offset, take);
    done += take;
    s->offset = (s->offset + take) % s->block.size();
  }
  s->left -= done;
  return done;
}

size_t keep(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

}  // namespace

int main(int argc, char** argv) {
  double gib = argc > 1 ? std::atof(argv[1]) : 1.0;
  bool through_fe = argc > 2 && std::string(argv[2]) == "--through-fe";
  dd::options opts;
  opts.discard = true;
  dd::server srv(opts);

  const std::string line = "123456789\tsome text in a row\t2024-01-01 00:00:00\t3.14159\n";
  source src;
  while (src.block.size() < 2 * 1024 * 1024)
    src.block += line;
  src.left = static_cast<std::uint64_t>(gib * 1024 * 1024 * 1024);
  src.left -= src.left % line.size();  // whole lines only
  const std::uint64_t total = src.left;

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL* c = curl_easy_init();
  std::string url = (through_fe ? srv.fe_url() : srv.be_url()) + "/api/db/t/_stream_load";
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect: 100-continue");
  headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
  headers = curl_slist_append(headers, "label: bench");
  std::string answer;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_USERPWD, "root:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
  curl_easy_setopt(c, CURLOPT_READDATA, &src);
  curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
  if (through_fe) {
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 1L);
  }
  auto start = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(c);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  curl_global_cleanup();
  if (rc != CURLE_OK) {
    std::cerr << "doris_double_bench: " << curl_easy_strerror(rc) << "\n";
    return 1;
  }
  std::string rows = std::to_string(total / line.size());
  bool ok = answer.find("\"NumberLoadedRows\": " + rows + ",") != std::string::npos;
  std::printf("discard mode: %.2f GiB in %.3f s = %.2f GB/s (%.2f GiB/s), rows %s: %s\n",
              static_cast<double>(total) / (1u << 30), seconds,
              static_cast<double>(total) / seconds / 1e9,
              static_cast<double>(total) / seconds / (1u << 30), rows.c_str(), ok ? "ok" : "WRONG");
  if (!ok) std::cerr << answer;
  return ok ? 0 : 1;
}
