// RowPool: workers sleep on a condition variable between passes (no spinning: on a CPU backend the same cores run
// llama.cpp's own threads), take row indices one at a time, and the caller works beside them. Every worker takes
// part in every round, so a round begins only after each has seen the one before.
#include "row_pool.h"

namespace mtp {

RowPool::RowPool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

RowPool::~RowPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto &t : threads_) t.join();
}

void RowPool::drain(std::unique_lock<std::mutex> &lock) {
    while (next_ < n_) {
        const int i = next_++;
        lock.unlock();
        (*fn_)(i);
        lock.lock();
    }
}

void RowPool::work() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || round_ != seen; });
        if (stop_) return;
        seen = round_;
        drain(lock);
        if (--busy_ == 0) finished_.notify_one();
    }
}

void RowPool::run(int n, const std::function<void(int)> &fn) {
    if (threads_.empty() || n <= 1) {
        for (int i = 0; i < n; ++i) fn(i);
        return;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    busy_ = static_cast<int>(threads_.size());
    round_ += 1;
    wake_.notify_all();
    drain(lock);
    finished_.wait(lock, [&] { return busy_ == 0; });
    fn_ = nullptr;
}

}  // namespace mtp
