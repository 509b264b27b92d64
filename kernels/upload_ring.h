// UploadRing: the ordering of a double-buffered host-to-device upload, written once for any pair
// of streams. The CUDA backend (kernels/cuda/batch_upload.cu) runs it on a copy stream and Kiln's
// compute stream with cudaEvents; tests/data/upload_ring_test.cpp runs it on CPU threads that
// behave as streams do, to show that no batch is overwritten while it is in use.
//
// Each slot has a host staging buffer (pinned, for the GPU) and a device buffer, and goes round:
//   stage:   the host waits until the slot's LAST upload has read the host buffer, fills it, and
//            queues the upload on the copy stream behind the slot's last consumer;
//   acquire: the compute stream waits for the upload; work that reads the device buffer is queued
//            on the compute stream after this;
//   release: marks the end of that work on the compute stream (the event the next upload into
//            the slot waits for).
// With two slots batch k+1 uploads while batch k's step computes. A slot staged and not yet
// released cannot be staged again: its consumer's event does not exist yet, so nothing would stop
// the upload from overwriting data still to be read. stage() refuses that instead.
//
// Backend: Event (copyable handle), Event make_event(), void* allocate_host(bytes),
// void* allocate_device(bytes), free_host(p), free_device(p), destroy_event(e), host_wait(e),
// copy_wait(e), compute_wait(e), record_copy(e), record_compute(e), queue_copy(dst, src, bytes)
// on the copy stream, and finish() (waits for both streams); finish, free_* and destroy_event
// never throw, free_* accept nullptr. As with CUDA events, waiting for
// an event waits for its most recent record at the time of the call; one never recorded is done.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>

#include "base/error.h"

namespace kiln::kernels {

template <class Backend>
class UploadRing {
 public:
  static constexpr int kSlots = 2;
  using Event = typename Backend::Event;

  // A staged batch: its slot and size. Hand it to acquire, then release, in staging order.
  struct Ticket {
    int slot = -1;
    std::size_t bytes = 0;
  };

  UploadRing(Backend& backend, std::size_t capacity) : backend_(backend), capacity_(capacity) {
    try {
      for (Slot& s : slots_) {
        s.host = backend_.allocate_host(capacity);
        s.device = backend_.allocate_device(capacity);
        s.uploaded = backend_.make_event();
        s.has_uploaded = true;
        s.consumed = backend_.make_event();
        s.has_consumed = true;
        // The device buffer may be a block the compute stream still uses (a caching allocator
        // hands out freed blocks at once): the first upload waits for the work queued so far.
        backend_.record_compute(s.consumed);
      }
    } catch (...) {
      free_slots();
      throw;
    }
  }
  ~UploadRing() {
    backend_.finish();  // no copy or consumer may still touch the buffers
    free_slots();
  }
  UploadRing(const UploadRing&) = delete;
  UploadRing& operator=(const UploadRing&) = delete;

  std::size_t capacity() const { return capacity_; }

  // Copies `bytes` from `src` (any host memory) into the next slot and queues its upload.
  Ticket stage(const void* src, std::size_t bytes) {
    KILN_CHECK(bytes <= capacity_, "UploadRing: a batch of ", bytes, " bytes exceeds the ",
               capacity_, "-byte staging buffers");
    const int index = next_;
    Slot& s = slots_[index];
    KILN_CHECK(!s.staged, "UploadRing: slot ", index, " is staged again before its batch was ",
               "released (at most ", kSlots, " batches in flight)");
    backend_.host_wait(s.uploaded);  // the slot's previous upload has read the host buffer
    if (bytes > 0) std::memcpy(s.host, src, bytes);
    backend_.copy_wait(s.consumed);  // the slot's previous batch is no longer read
    backend_.queue_copy(s.device, s.host, bytes);
    backend_.record_copy(s.uploaded);
    s.staged = true;
    next_ = (next_ + 1) % kSlots;
    return {index, bytes};
  }

  // The device buffer of a staged batch, once the compute stream has waited for its upload.
  void* acquire(const Ticket& t) {
    Slot& s = checked(t, "acquire");
    backend_.compute_wait(s.uploaded);
    return s.device;
  }

  // After every reader of the device buffer has been queued on the compute stream.
  void release(const Ticket& t) {
    Slot& s = checked(t, "release");
    backend_.record_compute(s.consumed);
    s.staged = false;
  }

 private:
  struct Slot {
    void* host = nullptr;
    void* device = nullptr;
    Event uploaded{}, consumed{};
    bool has_uploaded = false, has_consumed = false;  // events made
    bool staged = false;
  };

  void free_slots() noexcept {  // free_*(nullptr) must be accepted
    for (Slot& s : slots_) {
      backend_.free_host(s.host);
      backend_.free_device(s.device);
      if (s.has_uploaded) backend_.destroy_event(s.uploaded);
      if (s.has_consumed) backend_.destroy_event(s.consumed);
    }
  }

  Slot& checked(const Ticket& t, const char* what) {
    KILN_CHECK(t.slot >= 0 && t.slot < kSlots && slots_[t.slot].staged, "UploadRing: ", what,
               " of slot ", t.slot, ", which holds no staged batch");
    return slots_[t.slot];
  }

  Backend& backend_;
  std::size_t capacity_;
  std::array<Slot, kSlots> slots_;
  int next_ = 0;
};

}  // namespace kiln::kernels
