// Chunk claims per second the PostgreSQL state schema sustains: CLAIMERS threads, each with its
// own state session (as workers on other hosts), claim chunks of one plan and mark them done
// until none is left. Usage: state_claims_bench URL [CLAIMERS] [CHUNKS]
#include "engine/core/state_store.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace uringmig::engine;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: state_claims_bench URL [CLAIMERS] [CHUNKS]\n");
    return 2;
  }
  const std::string url = argv[1];
  const int claimers = argc > 2 ? std::atoi(argv[2]) : 16;
  const int chunks = argc > 3 ? std::atoi(argv[3]) : 20000;
  const state_location at{std::filesystem::temp_directory_path(), url,
                          "bench-" + std::to_string(::getpid())};
  auto planner = state_store::open(at);
  std::vector<planned_table> plan;
  const int tables = 20;
  for (int t = 0; t < tables; ++t) {
    planned_table p{"public", "t" + std::to_string(t), 1 << 20, 1000, {}};
    for (int i = 0; i < chunks / tables; ++i)
      p.chunks.push_back({i, chunk_kind::int_range, std::to_string(i), std::to_string(i + 1), ""});
    plan.push_back(std::move(p));
  }
  planner.save_plan(plan);
  std::vector<state_store> stores;
  for (int k = 0; k < claimers; ++k)
    stores.push_back(state_store::open(at));
  std::vector<std::vector<double>> claim_ms(static_cast<std::size_t>(claimers));
  const auto start = clock_type::now();
  std::vector<std::thread> threads;
  for (int k = 0; k < claimers; ++k) {
    threads.emplace_back([&, k] {
      auto& s = stores[static_cast<std::size_t>(k)];
      auto& lat = claim_ms[static_cast<std::size_t>(k)];
      const std::string me = "bench-w" + std::to_string(k);
      for (;;) {
        const auto t = clock_type::now();
        const auto c = s.claim_chunk(me, std::chrono::minutes(1));
        lat.push_back(ms_since(t));
        if (!c) break;
        s.mark_chunk_done(c->schema, c->name, c->chunk_no, 1, 1, 0);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  const double wall_s = ms_since(start) / 1000;
  std::vector<double> all;
  for (const auto& l : claim_ms)
    all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  const auto pct = [&](double p) { return all[static_cast<std::size_t>(p * (all.size() - 1))]; };
  const int done = planner.status_snapshot().tables.empty() ? 0 : chunks / tables * tables;
  std::printf(
      "%d claimers, %d chunks: %.2f s, %.0f chunks/s (claim + done mark each), claim latency "
      "p50 %.2f ms, p99 %.2f ms\n",
      claimers, done, wall_s, done / wall_s, pct(0.5), pct(0.99));
  planner.reset();
  return 0;
}
