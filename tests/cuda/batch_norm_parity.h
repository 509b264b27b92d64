// What the batch-norm parity tests share: on the GPU (tests/cuda/batch_norm_parity_test.cpp) and
// under emulation (tests/kernels/batch_norm_emulated_test.cpp) the CUDA kernels are held to the
// same tolerances against the CPU reference, with the same inputs.
//
// Tolerances. Both devices perform the same IEEE double operations (the kernels write them as
// correctly rounded intrinsics, so nvcc cannot fuse them into FMAs) and round to float once:
//   - Per-channel sums (mean, var, the running statistics, ggamma, gbeta): the same double terms
//     added in another order. The double results differ by far less than a float ulp (at worst M *
//     2^-53 of the sum of |terms|, in practice about sqrt(M) times less, against half an ulp, 2^-24
//     of the result), so after rounding they are equal or, when the two straddle a rounding
//     boundary, one float ulp apart: at most 2^-23 |cpu|. The bound allows two such ulps,
//     kSumRelTol = 2.4e-7 relative, plus 1e-12 * M absolute for a sum that cancels to almost
//     nothing. A missed or double-counted element moves a sum by about one element's share, over
//     1e-6 relative even at M = 2^17, the largest channel tested.
//   - The forward: the same operations on the same floats: bitwise.
//   - gx: bitwise when the two devices' ggamma and gbeta agree; else off by what their difference
//     moves gamma * invstd * (gy - (gbeta + xhat * ggamma) / M), doubled, plus two float ulps for a
//     flipped final rounding (expect_input_grad_close).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "tests/cuda/parity.h"
#include "tests/support/test_data.h"

namespace kiln::test::batch_norm {

constexpr double kSumRelTol = 2.4e-7;
constexpr double kEps = 1e-3;  // Keras' default
constexpr double kMomentum = 0.99;

// A per-channel sum over m values each, against the CPU's.
inline void expect_sums_close(const std::vector<float>& cpu, const std::vector<float>& other,
                              std::int64_t m, const char* what) {
  expect_close(cpu, other, kSumRelTol, 1e-12 * static_cast<double>(m), what);
}

// Per-channel inputs: mean, var > 0, gamma, beta; (C) each.
struct ChannelParams {
  std::vector<float> mean, var, gamma, beta;
};

inline ChannelParams random_params(std::int64_t c, std::uint64_t seed) {
  return {random_floats(c, seed), random_floats(c, seed + 1, 0.05f, 2.f),
          random_floats(c, seed + 2, 0.5f, 1.5f), random_floats(c, seed + 3)};
}

// gx of the other device (`other`: "gpu", "emulated") against the CPU's, element by element, for
// an (N, C, HW) tensor: bitwise where both devices' ggamma and gbeta agree, else within the bound
// above. other_gx points at the other device's first element (it may be misaligned on purpose).
inline void expect_input_grad_close(
    std::int64_t c, std::int64_t hw, std::int64_t m, bool batch_stats, const std::vector<float>& x,
    const ChannelParams& p, const std::vector<float>& ggamma, const std::vector<float>& gbeta,
    const std::vector<float>& other_ggamma, const std::vector<float>& other_gbeta,
    const std::vector<float>& gx, const float* other_gx, const char* other) {
  for (std::size_t i = 0; i < gx.size(); ++i) {
    const auto ch = static_cast<std::size_t>(static_cast<std::int64_t>(i) / hw % c);
    const double d_gbeta = batch_stats ? std::abs(double(other_gbeta[ch]) - gbeta[ch]) : 0.0;
    const double d_ggamma = batch_stats ? std::abs(double(other_ggamma[ch]) - ggamma[ch]) : 0.0;
    if (d_gbeta == 0 && d_ggamma == 0) {
      ASSERT_EQ(float_bits(gx[i]), float_bits(other_gx[i]))
          << "gx element " << i << ": cpu " << gx[i] << ", " << other << " " << other_gx[i];
      continue;
    }
    const double invstd = 1.0 / std::sqrt(double(p.var[ch]) + kEps);
    const double xhat = (double(x[i]) - p.mean[ch]) * invstd;
    const double moved = std::abs(p.gamma[ch] * invstd) * (d_gbeta + std::abs(xhat) * d_ggamma) /
                         static_cast<double>(m);
    ASSERT_LE(std::abs(double(gx[i]) - other_gx[i]), 2 * moved + 2.4e-7 * std::abs(gx[i]))
        << "gx element " << i << ": cpu " << gx[i] << ", " << other << " " << other_gx[i];
  }
}

}  // namespace kiln::test::batch_norm
