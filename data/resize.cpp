#include "data/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace kiln {

namespace {

// For each output index along one axis: the two input indices and the weight of the second.
struct Taps {
  std::vector<int> lo, hi;
  std::vector<float> frac;
};

Taps make_taps(int in, int out) {
  Taps t;
  t.lo.resize(out);
  t.hi.resize(out);
  t.frac.resize(out);
  const double scale = static_cast<double>(in) / out;
  for (int o = 0; o < out; ++o) {
    const double s = std::clamp((o + 0.5) * scale - 0.5, 0.0, static_cast<double>(in - 1));
    const int lo = static_cast<int>(s);  // s >= 0, so truncation is floor
    t.lo[o] = lo;
    t.hi[o] = std::min(lo + 1, in - 1);
    t.frac[o] = static_cast<float>(s - lo);
  }
  return t;
}

}  // namespace

void resize_bilinear(const std::uint8_t* src, int in_h, int in_w, int c, std::uint8_t* dst,
                     int out_h, int out_w) {
  if (in_h == out_h && in_w == out_w) {
    std::memcpy(dst, src, static_cast<std::size_t>(in_h) * in_w * c);
    return;
  }
  const Taps ty = make_taps(in_h, out_h), tx = make_taps(in_w, out_w);
  for (int y = 0; y < out_h; ++y) {
    const std::uint8_t* r0 = src + static_cast<std::size_t>(ty.lo[y]) * in_w * c;
    const std::uint8_t* r1 = src + static_cast<std::size_t>(ty.hi[y]) * in_w * c;
    const float fy = ty.frac[y];
    for (int x = 0; x < out_w; ++x) {
      const int a = tx.lo[x] * c, b = tx.hi[x] * c;
      const float fx = tx.frac[x];
      for (int ch = 0; ch < c; ++ch) {
        const float top = r0[a + ch] + fx * (r0[b + ch] - r0[a + ch]);
        const float bottom = r1[a + ch] + fx * (r1[b + ch] - r1[a + ch]);
        const float v = top + fy * (bottom - top);
        dst[(static_cast<std::size_t>(y) * out_w + x) * c + ch] =
            static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.f, 255.f)));
      }
    }
  }
}

}  // namespace kiln
