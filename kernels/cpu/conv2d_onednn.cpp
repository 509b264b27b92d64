// Convolutions on oneDNN 2.x (v2 API: op descriptor, then primitive descriptor, then primitive),
// direct or Winograd per layer (CpuConvAlgorithm, kernels/conv2d.h).
// Kiln's tensors are plain NCHW / OIHW, but each primitive is created with format_tag::any for
// its activations and weights, so oneDNN picks the layout its fastest kernel wants (nChw8c and
// OIhw8i8o-like blocks on AVX2); the caller's buffers are reordered into that layout before the
// call and out of it after. Primitives and reorders are created once per geometry and cached, as
// cuDNN algorithm choices are on the GPU.
//
// NOTE: why not wrap the plain buffers directly (no copies)? With plain layouts oneDNN 2.6 falls
// back to im2col + GEMM ("gemm:jit"); with blocked ones it runs its direct "jit:avx2" kernels.
// Measured on the 2-core AVX2 dev machine (N=64, 3x3, pad 1, median ms of 11 interleaved calls,
// forward / backward data / backward weights):
//   C=K=64,  32x32:  plain 64 / 72 / 84   blocked, reorders included 40 / 38 / 65
//   C=K=128, 16x16:  plain 49 / 53 / 47   blocked, reorders included 40 / 34 / 46
// The reorders cost a few ms per call (within the noise of that machine); blocked wins or ties on
// every op. Keeping activations blocked between layers would save the reorders too, but Kiln's
// public layout is NCHW, so that is an optimisation for later, inside the kernels.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/error.h"
#include "kernels/conv2d.h"
#include "kernels/host_cache.h"

namespace kiln::kernels::cpu {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;
using Tag = memory::format_tag;

// Every Conv2dGeometry field, then 1 when the primitive has a bias (forward) or a bias gradient,
// then 1 when the setting asks for Winograd (CpuConvAlgorithm, kernels/conv2d.h).
using ConvKey = std::array<std::int64_t, 13>;

ConvKey key_of(const Conv2dGeometry& g, bool with_bias, bool winograd) {
  return {g.n,
          g.c,
          g.h,
          g.w,
          g.k,
          g.r,
          g.s,
          g.stride_h,
          g.stride_w,
          g.pad_h,
          g.pad_w,
          with_bias ? 1 : 0,
          winograd ? 1 : 0};
}

std::string describe(const Conv2dGeometry& g) {
  return detail::concat("input [", g.n, ",", g.c, ",", g.h, ",", g.w, "], weight [", g.k, ",", g.c,
                        ",", g.r, ",", g.s, "], stride (", g.stride_h, ",", g.stride_w, "), pad (",
                        g.pad_h, ",", g.pad_w, ")");
}

// The caller's layouts (plain f32) and the "any" layouts a primitive is asked to choose from.
struct ConvDescs {
  memory::desc x, w, b, y;  // plain (N,C,H,W), (K,C,R,S), (K), (N,K,P,Q)
  memory::desc any_x, any_w, any_y;
  memory::dims strides, pad;

  explicit ConvDescs(const Conv2dGeometry& g)
      : x({g.n, g.c, g.h, g.w}, memory::data_type::f32, Tag::nchw),
        w({g.k, g.c, g.r, g.s}, memory::data_type::f32, Tag::oihw),
        b({g.k}, memory::data_type::f32, Tag::x),
        y({g.n, g.k, g.p(), g.q()}, memory::data_type::f32, Tag::nchw),
        any_x(x.dims(), memory::data_type::f32, Tag::any),
        any_w(w.dims(), memory::data_type::f32, Tag::any),
        any_y(y.dims(), memory::data_type::f32, Tag::any),
        strides{g.stride_h, g.stride_w},
        pad{g.pad_h, g.pad_w} {}
};

// NOTE: the backward primitives need the forward's primitive descriptor as a hint (it steers
// them to matching layouts), so it is rebuilt for them; that is cheap, as no kernel is generated
// until a primitive is made. Right padding equals left: oneDNN then derives the same
// floor((H + 2 pad - R) / stride) + 1 output size as Conv2dGeometry::p().
//
// NOTE: every primitive uses a user-provided scratchpad (carved from ScratchArena). oneDNN's
// default keeps a scratchpad per thread that is never freed when a caller's thread exits, which
// LeakSanitizer reports and which a long-lived loader thread would pile up.
dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// NOTE: no ReLU post-op. oneDNN 2.6's eltwise_relu post-op (alpha 0) turns NaN into 0 (its
// jit code is maxps(x, 0), which returns the second operand when the first is NaN), while
// Kiln's relu lets NaN through so that a diverging layer, or a weights file holding NaN, stays
// visible. A test showed it, so core/conv.cpp applies the ReLU in place after the call instead.
dnnl::convolution_forward::primitive_desc forward_pd(const ConvDescs& d, bool with_bias,
                                                     const dnnl::engine& engine, algorithm alg) {
  const auto kind = prop_kind::forward_training;
  if (with_bias)
    return {{kind, alg, d.any_x, d.any_w, d.b, d.any_y, d.strides, d.pad, d.pad},
            user_scratchpad(),
            engine};
  return {
      {kind, alg, d.any_x, d.any_w, d.any_y, d.strides, d.pad, d.pad}, user_scratchpad(), engine};
}

constexpr std::size_t kAlign = 64;
std::size_t round_up(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// One tensor argument of a cached primitive: where the caller's plain buffer goes and how.
struct PlanArg {
  int arg;                               // DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, ...
  memory::desc plain;                    // the caller's buffer
  memory::desc chosen;                   // the layout the primitive reads or writes
  bool output;                           // reorder chosen -> plain after the call, not before
  std::optional<dnnl::reorder> reorder;  // empty when chosen == plain: the buffer is used as is
};

// A primitive with its arguments, in the order the op's caller passes their buffers.
struct ConvPlan {
  ConvPlan(dnnl::primitive primitive, memory::desc scratchpad, std::string implementation)
      : conv(std::move(primitive)),
        scratchpad(scratchpad),  // a plain struct: nothing to move
        scratch_bytes(round_up(this->scratchpad.get_size())),
        implementation(std::move(implementation)) {}
  dnnl::primitive conv;
  memory::desc scratchpad;  // the primitive's own workspace, first in the arena
  std::vector<PlanArg> args;
  std::size_t scratch_bytes;   // scratchpad + every reordered argument, each 64-byte aligned
  std::string implementation;  // oneDNN's name for the kernel, e.g. "jit_wino_4x3:avx512_core"
};

// A plan made by `make(alg)`: Winograd first when `winograd`, else or where oneDNN has no
// Winograd kernel for the layer (it throws "unimplemented"), the direct algorithm.
template <typename Make>
ConvPlan with_algorithm(bool winograd, Make make) {
  if (winograd) {
    try {
      return make(algorithm::convolution_winograd);
    } catch (const dnnl::error&) {
    }
  }
  return make(algorithm::convolution_direct);
}

void add_arg(ConvPlan& plan, int arg, const memory::desc& plain, const memory::desc& chosen,
             bool output, const dnnl::engine& e) {
  PlanArg a{arg, plain, chosen, output, std::nullopt};
  if (plain != chosen) {
    a.reorder = output ? dnnl::reorder({e, chosen, e, plain})   // blocked result -> caller
                       : dnnl::reorder({e, plain, e, chosen});  // caller's input -> blocked
    plan.scratch_bytes += round_up(chosen.get_size());
  }
  plan.args.push_back(std::move(a));
}

// Grow-only, 64-byte aligned scratch for the reordered copies. One suffices: calls are
// serialised (see OnednnConvCache). It grows to the largest call's blocked tensors (about
// 2 x 16 MiB for N=64, C=K=64, 32x32), then stays, so training steps allocate nothing.
class ScratchArena {
 public:
  char* reserve(std::size_t bytes) {
    if (bytes > size_) {
      data_.reset(static_cast<char*>(std::aligned_alloc(kAlign, round_up(bytes))));
      KILN_CHECK(data_, "conv2d: cannot allocate ", bytes, " bytes of oneDNN scratch");
      size_ = bytes;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> data_;
  std::size_t size_ = 0;
};

// Blocked copies of the calls' inputs, by the caller's address and the layout a primitive chose,
// each valid while the tensor's version (Tensor::version) is the one it was made from:
//   - weights: an evaluated or frozen layer reorders them once, not on every call (VGG16 keeps
//     about 59 MB here per layout; forward and backward-data may choose different ones);
//   - in training, the forward's blocked x serves backward-weight, and backward-data's blocked gy
//     serves backward-weight: two of the six activation-sized reorders of each layer's step.
// Past kCapBytes the least recently used copies are dropped, their buffers reused for copies of
// the same size (the next step's activations) or handed to the host block cache
// (kernels/host_cache.h), so steady-state training takes no fresh pages from the kernel.
// NOTE: a stale copy is never used: versions come from one counter, so a new tensor allocated
// where an old one was freed has a version no entry holds.
class BlockedCopyCache {
 public:
  static constexpr std::size_t kCapBytes = std::size_t{512} << 20;

  // The copy of `user` (plain, at address `plain`) in layout `chosen`, reordered now when missing
  // or made from another version; nullopt for a copy too large to keep (the caller reorders into
  // scratch).
  std::optional<memory> get(const float* plain, std::uint64_t version, const memory::desc& chosen,
                            const memory& user, const dnnl::reorder& reorder,
                            const dnnl::engine& engine, dnnl::stream& stream) {
    const std::size_t bytes = round_up(chosen.get_size());
    if (bytes > kCapBytes / 4) return std::nullopt;
    ++tick_;
    Entry* e = nullptr;
    for (Entry& candidate : entries_)
      if (candidate.plain == plain && candidate.chosen == chosen) e = &candidate;
    if (e && e->version == version) {
      ++stats_.hits;
      e->last_use = tick_;
      return e->copy;
    }
    ++stats_.misses;
    if (!e) e = &insert(plain, chosen, bytes, engine);
    reorder.execute(stream, const_cast<memory&>(user), e->copy);
    e->version = version;
    e->last_use = tick_;
    return e->copy;
  }

  void clear() {
    entries_.clear();
    bytes_ = 0;
  }
  OnednnCopyCacheStats stats() const {
    OnednnCopyCacheStats s = stats_;
    s.bytes = static_cast<std::int64_t>(bytes_);
    return s;
  }

 private:
  struct Release {
    std::size_t bytes;
    void operator()(char* p) const { host_cache::release(p, bytes); }
  };
  struct Entry {
    const float* plain;
    memory::desc chosen;
    std::size_t bytes;
    std::uint64_t version = 0, last_use = 0;
    std::unique_ptr<char, Release> data;
    memory copy;  // `chosen` over data
  };

  // A new entry, its buffer taken from the least recently used entries when the cache is full.
  Entry& insert(const float* plain, const memory::desc& chosen, std::size_t bytes,
                const dnnl::engine& engine) {
    std::unique_ptr<char, Release> buffer(nullptr, Release{bytes});
    while (bytes_ + bytes > kCapBytes && !entries_.empty()) {
      auto lru = std::min_element(entries_.begin(), entries_.end(),
                                  [](auto& a, auto& b) { return a.last_use < b.last_use; });
      if (!buffer && lru->bytes == bytes) buffer = std::move(lru->data);
      bytes_ -= lru->bytes;
      entries_.erase(lru);
    }
    if (!buffer) {
      buffer.reset(static_cast<char*>(host_cache::allocate(bytes)));
      KILN_CHECK(buffer, "conv2d: cannot allocate ", bytes, " bytes for a blocked copy");
    }
    memory copy(chosen, engine, buffer.get());
    Entry fresh{plain, chosen, bytes, 0, 0, std::move(buffer), std::move(copy)};
    bytes_ += bytes;
    entries_.push_back(std::move(fresh));
    return entries_.back();
  }

  std::vector<Entry> entries_;  // a few dozen: linear search is cheaper than the reorder it saves
  std::size_t bytes_ = 0;
  std::uint64_t tick_ = 0;
  OnednnCopyCacheStats stats_;
};

// One engine and stream for the process, the scratch arena, and every plan made so far.
// NOTE: the mutex is held through execution, not just the lookup: the arena and the stream are
// shared, and one convolution already uses every core through OpenMP, so serialising concurrent
// callers costs them nothing.
struct OnednnConvCache {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  ScratchArena scratch;
  BlockedCopyCache copies;
  std::mutex mutex;
  std::map<ConvKey, ConvPlan> forward, backward_data, backward_weights;

  static OnednnConvCache& instance() {
    static OnednnConvCache cache;  // constructed once, thread-safely, on first use
    return cache;
  }
};

// Finds the plan for `key`, making it with `make()` on a miss. Turns oneDNN's errors (an
// unsupported geometry, say) into a kiln::Error that names the op and the shapes.
template <typename Make>
const ConvPlan& find_or_make(std::map<ConvKey, ConvPlan>& plans, const ConvKey& key, const char* op,
                             const Conv2dGeometry& g, Make make) {
  auto it = plans.find(key);
  if (it != plans.end()) return it->second;
  try {
    return plans.emplace(key, make()).first->second;
  } catch (const dnnl::error& e) {
    KILN_FAIL(op, ": oneDNN could not create a primitive for ", describe(g), ": ", e.what());
  }
}

// Runs a plan on the caller's buffers (in plan.args order): reorders in, the primitive, reorders
// out, then waits. An input with a non-zero version (`versions`, in plan.args order; missing
// ones are 0) comes from the copy cache instead of the scratch. NOTE: oneDNN takes void* even for
// inputs; it never writes through them, so casting away const is safe.
void execute(OnednnConvCache& cache, const ConvPlan& plan, const std::vector<const float*>& buffers,
             const char* op, const Conv2dGeometry& g, const std::vector<std::uint64_t>& versions) {
  try {
    char* scratch = cache.scratch.reserve(plan.scratch_bytes);
    std::vector<memory> user(plan.args.size()), chosen(plan.args.size());
    std::unordered_map<int, memory> conv_args;
    if (plan.scratchpad.get_size() > 0) {
      conv_args.emplace(DNNL_ARG_SCRATCHPAD, memory(plan.scratchpad, cache.engine, scratch));
      scratch += round_up(plan.scratchpad.get_size());
    }
    for (std::size_t i = 0; i < plan.args.size(); ++i) {
      const PlanArg& a = plan.args[i];
      user[i] = memory(a.plain, cache.engine, const_cast<float*>(buffers[i]));
      if (!a.reorder) {
        conv_args.emplace(a.arg, user[i]);
        continue;
      }
      const std::uint64_t version = i < versions.size() ? versions[i] : 0;
      if (!a.output && version != 0) {
        if (auto copy = cache.copies.get(buffers[i], version, a.chosen, user[i], *a.reorder,
                                         cache.engine, cache.stream)) {
          chosen[i] = *copy;
          conv_args.emplace(a.arg, chosen[i]);
          continue;
        }
      }
      chosen[i] = memory(a.chosen, cache.engine, scratch);
      scratch += round_up(a.chosen.get_size());
      if (!a.output) a.reorder->execute(cache.stream, user[i], chosen[i]);
      conv_args.emplace(a.arg, chosen[i]);
    }
    plan.conv.execute(cache.stream, conv_args);
    for (std::size_t i = 0; i < plan.args.size(); ++i)
      if (plan.args[i].reorder && plan.args[i].output)
        plan.args[i].reorder->execute(cache.stream, chosen[i], user[i]);
    cache.stream.wait();
  } catch (const dnnl::error& e) {
    KILN_FAIL(op, ": oneDNN failed for ", describe(g), ": ", e.what());
  }
}

// The cached plan of each direction for `g` under the current algorithm setting (made on a miss).
const ConvPlan& forward_plan(OnednnConvCache& cache, const Conv2dGeometry& g, bool with_bias) {
  const bool winograd = wants_winograd(g, cpu_conv_algorithm());
  return find_or_make(cache.forward, key_of(g, with_bias, winograd), "conv2d_forward", g, [&] {
    return with_algorithm(winograd, [&](algorithm alg) {
      const ConvDescs d(g);
      const auto pd = forward_pd(d, with_bias, cache.engine, alg);
      ConvPlan fresh{dnnl::convolution_forward(pd), pd.scratchpad_desc(), pd.impl_info_str()};
      add_arg(fresh, DNNL_ARG_SRC, d.x, pd.src_desc(), false, cache.engine);
      add_arg(fresh, DNNL_ARG_WEIGHTS, d.w, pd.weights_desc(), false, cache.engine);
      if (with_bias) add_arg(fresh, DNNL_ARG_BIAS, d.b, pd.bias_desc(), false, cache.engine);
      add_arg(fresh, DNNL_ARG_DST, d.y, pd.dst_desc(), true, cache.engine);
      return fresh;
    });
  });
}

const ConvPlan& backward_data_plan(OnednnConvCache& cache, const Conv2dGeometry& g) {
  const bool winograd = wants_winograd(g, cpu_conv_algorithm());
  const char* op = "conv2d_backward_data";
  return find_or_make(cache.backward_data, key_of(g, false, winograd), op, g, [&] {
    return with_algorithm(winograd, [&](algorithm alg) {
      const ConvDescs d(g);
      const dnnl::convolution_backward_data::primitive_desc pd(
          {alg, d.any_x, d.any_w, d.any_y, d.strides, d.pad, d.pad}, user_scratchpad(),
          cache.engine, forward_pd(d, false, cache.engine, alg));
      ConvPlan fresh{dnnl::convolution_backward_data(pd), pd.scratchpad_desc(), pd.impl_info_str()};
      add_arg(fresh, DNNL_ARG_DIFF_DST, d.y, pd.diff_dst_desc(), false, cache.engine);
      add_arg(fresh, DNNL_ARG_WEIGHTS, d.w, pd.weights_desc(), false, cache.engine);
      add_arg(fresh, DNNL_ARG_DIFF_SRC, d.x, pd.diff_src_desc(), true, cache.engine);
      return fresh;
    });
  });
}

const ConvPlan& backward_weight_plan(OnednnConvCache& cache, const Conv2dGeometry& g,
                                     bool with_bias) {
  const bool winograd = wants_winograd(g, cpu_conv_algorithm());
  const char* op = "conv2d_backward_weight";
  return find_or_make(cache.backward_weights, key_of(g, with_bias, winograd), op, g, [&] {
    return with_algorithm(winograd, [&](algorithm alg) {
      const ConvDescs d(g);
      const auto desc = with_bias
                            ? dnnl::convolution_backward_weights::desc(
                                  alg, d.any_x, d.any_w, d.b, d.any_y, d.strides, d.pad, d.pad)
                            : dnnl::convolution_backward_weights::desc(
                                  alg, d.any_x, d.any_w, d.any_y, d.strides, d.pad, d.pad);
      const dnnl::convolution_backward_weights::primitive_desc pd(
          desc, user_scratchpad(), cache.engine, forward_pd(d, with_bias, cache.engine, alg));
      ConvPlan fresh{dnnl::convolution_backward_weights(pd), pd.scratchpad_desc(),
                     pd.impl_info_str()};
      add_arg(fresh, DNNL_ARG_SRC, d.x, pd.src_desc(), false, cache.engine);
      add_arg(fresh, DNNL_ARG_DIFF_DST, d.y, pd.diff_dst_desc(), false, cache.engine);
      add_arg(fresh, DNNL_ARG_DIFF_WEIGHTS, d.w, pd.diff_weights_desc(), true, cache.engine);
      if (with_bias)
        add_arg(fresh, DNNL_ARG_DIFF_BIAS, d.b, pd.diff_bias_desc(), true, cache.engine);
      return fresh;
    });
  });
}

}  // namespace

std::string onednn_conv_implementation(const Conv2dGeometry& g, const char* direction) {
  auto& cache = OnednnConvCache::instance();
  const std::lock_guard<std::mutex> lock(cache.mutex);
  const std::string d = direction;
  if (d == "forward") return forward_plan(cache, g, false).implementation;
  if (d == "backward_data") return backward_data_plan(cache, g).implementation;
  if (d == "backward_weight") return backward_weight_plan(cache, g, false).implementation;
  KILN_FAIL("onednn_conv_implementation: unknown direction '", direction,
            "' (forward, backward_data or backward_weight)");
}

void conv2d_forward_onednn(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                           float* y, const ConvVersions& versions) {
  auto& cache = OnednnConvCache::instance();
  const std::lock_guard<std::mutex> lock(cache.mutex);
  const bool with_bias = b != nullptr;
  const auto& plan = forward_plan(cache, g, with_bias);
  if (with_bias)
    execute(cache, plan, {x, w, b, y}, "conv2d_forward", g, {versions.x, versions.w});
  else
    execute(cache, plan, {x, w, y}, "conv2d_forward", g, {versions.x, versions.w});
}

void conv2d_backward_data_onednn(const Conv2dGeometry& g, const float* gy, const float* w,
                                 float* gx, const ConvVersions& versions) {
  auto& cache = OnednnConvCache::instance();
  const std::lock_guard<std::mutex> lock(cache.mutex);
  execute(cache, backward_data_plan(cache, g), {gy, w, gx}, "conv2d_backward_data", g,
          {versions.gy, versions.w});
}

void conv2d_backward_weight_onednn(const Conv2dGeometry& g, const float* x, const float* gy,
                                   float* gw, float* gb, const ConvVersions& versions) {
  auto& cache = OnednnConvCache::instance();
  const std::lock_guard<std::mutex> lock(cache.mutex);
  const char* op = "conv2d_backward_weight";
  const bool with_bias = gb != nullptr;
  const auto& plan = backward_weight_plan(cache, g, with_bias);
  if (with_bias)
    execute(cache, plan, {x, gy, gw, gb}, op, g, {versions.x, versions.gy});
  else
    execute(cache, plan, {x, gy, gw}, op, g, {versions.x, versions.gy});
}

OnednnCopyCacheStats onednn_copy_cache_stats() {
  auto& cache = OnednnConvCache::instance();
  const std::lock_guard<std::mutex> lock(cache.mutex);
  return cache.copies.stats();
}

void onednn_copy_cache_clear() {
  auto& cache = OnednnConvCache::instance();
  const std::lock_guard<std::mutex> lock(cache.mutex);
  cache.copies.clear();
}

}  // namespace kiln::kernels::cpu
