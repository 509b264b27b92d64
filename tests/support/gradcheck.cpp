#include "tests/support/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/autograd.h"
#include "core/functions.h"
#include "core/random.h"

namespace kiln::test {

namespace {

double evaluate(const std::function<Tensor()>& loss_fn) {
  NoGradGuard no_grad;
  const Tensor loss = loss_fn();
  KILN_CHECK(loss.numel() == 1, "gradcheck: the loss must be a single value, got ", loss.shape());
  return loss.item();
}

// Which elements of a tensor of n elements to check: all of them, or a seeded sample.
std::vector<std::int64_t> points(std::int64_t n, const GradcheckOptions& o, std::uint64_t salt) {
  std::vector<std::int64_t> idx;
  if (n <= o.max_points) {
    for (std::int64_t i = 0; i < n; ++i) idx.push_back(i);
    return idx;
  }
  Generator gen(o.seed * 1000003 + salt);
  for (std::int64_t j = 0; j < o.max_points; ++j)
    idx.push_back(static_cast<std::int64_t>(gen.uniform() * static_cast<double>(n)));
  return idx;
}

}  // namespace

GradcheckResult gradcheck(const std::function<Tensor()>& loss_fn, const std::vector<Tensor>& wrt,
                          const GradcheckOptions& o) {
  for (const Tensor& t : wrt) {
    KILN_CHECK(t.dtype() == DType::Float64 && t.requires_grad() && t.is_leaf(),
               "gradcheck: every checked tensor must be a float64 leaf that requires a gradient, ",
               "got ", t.dtype(), " ", t.shape());
  }
  // Analytic gradients, from a clean slate.
  for (Tensor t : wrt) t.zero_grad();
  Tensor loss = loss_fn();
  KILN_CHECK(loss.dtype() == DType::Float64, "gradcheck: the loss must be float64");
  loss.backward();
  const double base = evaluate(loss_fn);

  GradcheckResult result;
  struct Mismatch {
    double excess;
    std::string line;
  };
  std::vector<Mismatch> worst;
  for (std::size_t ti = 0; ti < wrt.size(); ++ti) {
    Tensor t = wrt[ti];
    // A tensor the loss never reached has no gradient: its analytic gradient is zero.
    const std::vector<double> analytic =
        t.grad().defined() ? t.grad().to_double_vector() : std::vector<double>(t.numel(), 0.0);
    double* data = t.data<double>();
    for (std::int64_t i : points(t.numel(), o, ti)) {
      const double saved = data[i];
      data[i] = saved + o.eps;
      const double plus = evaluate(loss_fn);
      data[i] = saved - o.eps;
      const double minus = evaluate(loss_fn);
      data[i] = saved;
      const double numeric = (plus - minus) / (2 * o.eps);
      // One-sided slopes differ by about eps * |f''| when smooth; by O(1) across a kink.
      const double right = (plus - base) / o.eps, left = (base - minus) / o.eps;
      const double scale = std::max({std::abs(analytic[i]), std::abs(numeric), 1.0});
      if (std::abs(right - left) > 1e3 * o.tol * scale) {
        ++result.skipped;
        continue;
      }
      ++result.checked;
      const double err = std::abs(analytic[i] - numeric);
      if (err > o.tol * scale) {
        result.ok = false;
        std::ostringstream line;
        line << "tensor " << ti << " " << t.shape() << " element " << i << ": analytic "
             << analytic[i] << ", numeric " << numeric << ", error " << err;
        worst.push_back({err / (o.tol * scale), line.str()});
      }
    }
  }
  const std::int64_t total = result.checked + result.skipped;
  if (total > 0 && result.skipped > o.max_skipped_fraction * static_cast<double>(total)) {
    result.ok = false;
    worst.push_back({0, "skipped " + std::to_string(result.skipped) + " of " +
                            std::to_string(total) + " points as kinks: too many to trust"});
  }
  std::sort(worst.begin(), worst.end(),
            [](const Mismatch& a, const Mismatch& b) { return a.excess > b.excess; });
  std::ostringstream report;
  report << "gradcheck: " << result.checked << " points checked, " << result.skipped
         << " skipped as kinks";
  for (std::size_t i = 0; i < std::min<std::size_t>(worst.size(), 8); ++i)
    report << "\n  " << worst[i].line;
  result.report = report.str();
  for (Tensor t : wrt) t.zero_grad();
  return result;
}

Tensor projection_loss(const Tensor& y, std::uint64_t seed) {
  Generator gen(seed);
  const Tensor r = Tensor::uniform(y.shape(), -1.0, 1.0, gen, y.dtype());
  return sum(mul(y, r));
}

}  // namespace kiln::test
