// kernels/upload_ring.h, the GPU input's double buffering, on CPU threads that behave as CUDA
// streams do (tests/support/thread_streams.h): every batch is read whole and unchanged by its
// consumer, however the host, the copy stream and the compute stream interleave, and misuse that
// would let an upload overwrite a batch in use is refused.
#include "kernels/upload_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "base/error.h"
#include "tests/support/thread_streams.h"

namespace kiln {
namespace {

using Ring = kernels::UploadRing<test::ThreadStreams>;

std::uint8_t pattern(int batch, std::size_t i) {
  return static_cast<std::uint8_t>(batch * 31 + static_cast<int>(i % 97));
}

// Batch k: a size that varies with k, filled with pattern(k, .).
std::vector<std::uint8_t> make_batch(int k, std::size_t capacity) {
  std::vector<std::uint8_t> b(capacity - static_cast<std::size_t>(k % 7) * 13);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = pattern(k, i);
  return b;
}

struct Seen {
  std::atomic<int> whole{0}, damaged{0};
};

// Queues on the compute stream a reader of batch k in `device`: it checks the bytes, pauses (the
// time a step computes), and checks them again, so an upload landing meanwhile is caught.
void queue_reader(test::ThreadStreams& streams, const void* device, std::size_t bytes, int k,
                  Seen& seen) {
  const std::vector<int> pause = streams.draw_pauses(1);
  streams.compute().enqueue([device, bytes, k, pause, &seen] {
    const auto* p = static_cast<const std::uint8_t*>(device);
    bool ok = true;
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t i = 0; i < bytes; ++i) ok = ok && p[i] == pattern(k, i);
      if (pass == 0) std::this_thread::sleep_for(std::chrono::microseconds(4 * pause[0]));
    }
    (ok ? seen.whole : seen.damaged)++;
  });
}

// The train loop's order: stage batch k+1 right after queueing batch k's work.
TEST(UploadRing, EveryBatchArrivesWholeWhenStagedOneAhead) {
  constexpr std::size_t kCapacity = 4096;
  constexpr int kBatches = 60;
  test::ThreadStreams streams(/*max_pause_us=*/60, /*seed=*/7);
  Seen seen;
  {
    Ring ring(streams, kCapacity);
    std::vector<std::uint8_t> host = make_batch(0, kCapacity);
    Ring::Ticket next = ring.stage(host.data(), host.size());
    for (int k = 0; k < kBatches; ++k) {
      const Ring::Ticket t = next;
      queue_reader(streams, ring.acquire(t), t.bytes, k, seen);
      ring.release(t);
      if (k + 1 < kBatches) {
        host = make_batch(k + 1, kCapacity);  // the caller's buffer is reused at once
        next = ring.stage(host.data(), host.size());
        std::fill(host.begin(), host.end(), 0xEE);  // stage() copied it: this changes nothing
      }
    }
  }  // the ring's destructor waits for both streams
  EXPECT_EQ(seen.whole.load(), kBatches);
  EXPECT_EQ(seen.damaged.load(), 0);
}

// Both slots full before the first is read: the upload into a slot must wait for the reader of
// the batch before it, which is still queued behind the slow compute stream.
TEST(UploadRing, EveryBatchArrivesWholeWhenBothSlotsAreAhead) {
  constexpr std::size_t kCapacity = 2048;
  constexpr int kBatches = 60;
  test::ThreadStreams streams(/*max_pause_us=*/60, /*seed=*/11);
  Seen seen;
  {
    Ring ring(streams, kCapacity);
    std::vector<Ring::Ticket> tickets;
    for (int k = 0; k < 2; ++k) {
      const std::vector<std::uint8_t> b = make_batch(k, kCapacity);
      tickets.push_back(ring.stage(b.data(), b.size()));
    }
    for (int k = 0; k < kBatches; ++k) {
      const Ring::Ticket t = tickets[static_cast<std::size_t>(k)];
      queue_reader(streams, ring.acquire(t), t.bytes, k, seen);
      ring.release(t);
      if (k + 2 < kBatches) {
        const std::vector<std::uint8_t> b = make_batch(k + 2, kCapacity);
        tickets.push_back(ring.stage(b.data(), b.size()));
      }
    }
  }
  EXPECT_EQ(seen.whole.load(), kBatches);
  EXPECT_EQ(seen.damaged.load(), 0);
}

TEST(UploadRing, RefusesAThirdBatchInFlight) {
  test::ThreadStreams streams(0);
  Ring ring(streams, 16);
  const std::vector<std::uint8_t> b(16, 1);
  const Ring::Ticket first = ring.stage(b.data(), b.size());
  ring.stage(b.data(), b.size());
  try {
    ring.stage(b.data(), b.size());
    FAIL() << "a third staged batch was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("staged again before its batch was released"),
              std::string::npos)
        << e.what();
  }
  ring.acquire(first);
  ring.release(first);
  EXPECT_NO_THROW(ring.stage(b.data(), b.size()));  // slot 0 is free again
}

TEST(UploadRing, RefusesOversizedBatchesAndUnstagedTickets) {
  test::ThreadStreams streams(0);
  Ring ring(streams, 16);
  const std::vector<std::uint8_t> b(17, 1);
  EXPECT_THROW(ring.stage(b.data(), 17), Error);
  EXPECT_THROW(ring.acquire(Ring::Ticket{0, 4}), Error);  // nothing staged
  EXPECT_THROW(ring.acquire(Ring::Ticket{2, 4}), Error);  // no such slot
  const Ring::Ticket t = ring.stage(b.data(), 16);
  ring.acquire(t);
  ring.release(t);
  EXPECT_THROW(ring.release(t), Error);  // released twice
}

}  // namespace
}  // namespace kiln
