// ThreadStreams: kernels/upload_ring.h's backend on the CPU, for tests. Each stream is a worker
// thread running queued work in order, as a CUDA stream does; an event is a counter pair with the
// semantics of cudaEvent_t (a wait waits for the most recent record at the time it is queued or
// called; an event never recorded is done). "Device" memory is host memory. Copies run in chunks
// with seeded random pauses, and work queued by the test can pause too, so a missing wait shows up
// as a batch read while it is overwritten, not as a lucky pass.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace kiln::test {

// A FIFO of work on a thread of its own.
class ThreadStream {
 public:
  ThreadStream() : worker_([this] { run(); }) {}
  ~ThreadStream() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  ThreadStream(const ThreadStream&) = delete;
  ThreadStream& operator=(const ThreadStream&) = delete;

  void enqueue(std::function<void()> work) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(work));
    }
    cv_.notify_all();
  }
  // Waits until everything queued so far has run.
  void synchronize() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      std::function<void()> work = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      work();
      lock.lock();
      busy_ = false;
      cv_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool busy_ = false, stopping_ = false;
  std::thread worker_;  // last: starts after the members it uses
};

struct HostEvent {
  std::mutex mutex;
  std::condition_variable cv;
  std::uint64_t recorded = 0, completed = 0;
};

class ThreadStreams {
 public:
  using Event = HostEvent*;

  // max_pause_us: the longest random pause between a copy's chunks (0: none).
  explicit ThreadStreams(int max_pause_us = 50, std::uint32_t seed = 1)
      : max_pause_us_(max_pause_us), rng_(seed) {}
  ~ThreadStreams() { finish(); }

  Event make_event() {
    events_.push_back(std::make_unique<HostEvent>());
    return events_.back().get();
  }
  void destroy_event(Event) noexcept {}  // freed with the streams
  void* allocate_host(std::size_t bytes) { return std::malloc(std::max<std::size_t>(bytes, 1)); }
  void* allocate_device(std::size_t bytes) { return std::malloc(std::max<std::size_t>(bytes, 1)); }
  void free_host(void* p) noexcept { std::free(p); }
  void free_device(void* p) noexcept { std::free(p); }

  void host_wait(Event e) {
    std::unique_lock<std::mutex> lock(e->mutex);
    const std::uint64_t target = e->recorded;
    e->cv.wait(lock, [e, target] { return e->completed >= target; });
  }
  void copy_wait(Event e) { queue_wait(copy_, e); }
  void compute_wait(Event e) { queue_wait(compute_, e); }
  void record_copy(Event e) { queue_record(copy_, e); }
  void record_compute(Event e) { queue_record(compute_, e); }
  void queue_copy(void* dst, const void* src, std::size_t bytes) {
    const std::vector<int> pauses = draw_pauses(4);
    copy_.enqueue([dst, src, bytes, pauses] {
      // Four chunks with pauses between: a reader racing this copy sees a mixed batch.
      const std::size_t chunk = (bytes + 3) / 4;
      for (std::size_t i = 0, k = 0; i < bytes; i += chunk, ++k) {
        std::memcpy(static_cast<char*>(dst) + i, static_cast<const char*>(src) + i,
                    std::min(chunk, bytes - i));
        std::this_thread::sleep_for(std::chrono::microseconds(pauses[k]));
      }
    });
  }
  void finish() noexcept {
    copy_.synchronize();
    compute_.synchronize();
  }

  // The compute stream, where a test queues the work that reads a slot.
  ThreadStream& compute() { return compute_; }
  // Pauses a test's work can take, drawn from the same seeded generator.
  std::vector<int> draw_pauses(int count) {
    std::uniform_int_distribution<int> pause(0, max_pause_us_);
    std::vector<int> out(static_cast<std::size_t>(count));
    for (int& p : out) p = pause(rng_);
    return out;
  }

 private:
  static void queue_wait(ThreadStream& s, Event e) {
    std::uint64_t target;
    {
      std::lock_guard<std::mutex> lock(e->mutex);
      target = e->recorded;
    }
    s.enqueue([e, target] {
      std::unique_lock<std::mutex> lock(e->mutex);
      e->cv.wait(lock, [e, target] { return e->completed >= target; });
    });
  }
  static void queue_record(ThreadStream& s, Event e) {
    std::uint64_t target;
    {
      std::lock_guard<std::mutex> lock(e->mutex);
      target = ++e->recorded;
    }
    s.enqueue([e, target] {
      {
        std::lock_guard<std::mutex> lock(e->mutex);
        e->completed = std::max(e->completed, target);
      }
      e->cv.notify_all();
    });
  }

  int max_pause_us_;
  std::mt19937 rng_;
  std::vector<std::unique_ptr<HostEvent>> events_;
  ThreadStream copy_, compute_;  // destroyed first (declared last): their work uses the events
};

}  // namespace kiln::test
