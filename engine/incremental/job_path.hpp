// The chunk runner's path of an incremental job, whichever its target: workers opened by the
// target's `open` (a function, not a template parameter: the workers are types of one .cpp, and
// a coroutine frame made here holding one would break GCC's -Wsubobject-linkage), spread over
// the runtime's data threads; a table that fails is marked on the job and its reason kept.
#pragma once

#include "engine/core/chunk_runner.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace uringmig::engine::incremental {

template <class Job>
class job_path final : public chunk_path {
 public:
  using opener = boost::asio::awaitable<std::unique_ptr<chunk_worker>> (*)(Job&);
  job_path(Job& j, opener open) : j_(j), open_(open) {}

  boost::asio::any_io_executor executor(std::size_t index) override {
    return j_.rt->executor(1 + index % (j_.rt->size() - 1));
  }

  boost::asio::awaitable<std::unique_ptr<chunk_worker>> open_worker(std::size_t) override {
    co_return co_await open_(j_);
  }

  void table_failed(const chunk_table& ct, const std::string& why) override {
    std::lock_guard lk(j_.m);
    j_.tables[ct.id]->failed = true;
    j_.tables[ct.id]->error = why;
    j_.failures.push_back(why);
  }

 private:
  Job& j_;
  opener open_;
};

}  // namespace uringmig::engine::incremental
