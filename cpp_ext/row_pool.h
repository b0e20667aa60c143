// A few threads for the host's row reductions of one pass.
//
// On a GPU the loop's own work is the host's argmax and top-1 probability of every row a pass reads: ~25 us a
// 49k-vocab row with its probability, ~10 us for the argmax alone, so an 8-token confadapt_verify pass spent ~0.14
// of its 1.75 ms on an H200 there (docs/RESULTS.md, session 20). The rows are independent: spread over a few
// threads they take about one row's time.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mtp {

class RowPool {
public:
    // `workers` threads beside the caller's (0: every call runs on the caller's thread alone).
    explicit RowPool(int workers);
    ~RowPool();
    RowPool(const RowPool &) = delete;
    RowPool &operator=(const RowPool &) = delete;

    int workers() const { return static_cast<int>(threads_.size()); }
    // fn(i) for every i in [0, n), spread over the workers and the calling thread; returns when all are done.
    // fn must not throw.
    void run(int n, const std::function<void(int)> &fn);

private:
    void work();
    // Runs items until none is left; `lock` holds mutex_ on entry and on return.
    void drain(std::unique_lock<std::mutex> &lock);
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable wake_, finished_;
    const std::function<void(int)> *fn_ = nullptr;
    int n_ = 0, next_ = 0, busy_ = 0;
    uint64_t round_ = 0;
    bool stop_ = false;
};

}  // namespace mtp
