// The chunk runner's path of an incremental job, whichever its target: workers of type Worker
// (constructed from the job, opened with `open()`), spread over the runtime's data threads; a
// table that fails is marked on the job and its reason kept.
#pragma once

#include "engine/core/chunk_runner.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace uringmig::engine::incremental {

template <class Job, class Worker>
class job_path final : public chunk_path {
 public:
  explicit job_path(Job& j) : j_(j) {}

  boost::asio::any_io_executor executor(std::size_t index) override {
    return j_.rt->executor(1 + index % (j_.rt->size() - 1));
  }

  boost::asio::awaitable<std::unique_ptr<chunk_worker>> open_worker(std::size_t) override {
    co_return co_await opened_worker(std::make_unique<Worker>(j_),
                                     [](Worker& w) { return w.open(); });
  }

  void table_failed(const chunk_table& ct, const std::string& why) override {
    std::lock_guard lk(j_.m);
    j_.tables[ct.id]->failed = true;
    j_.tables[ct.id]->error = why;
    j_.failures.push_back(why);
  }

 private:
  Job& j_;
};

}  // namespace uringmig::engine::incremental
