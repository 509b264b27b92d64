// The C++ half of ctest's keras_batch_norm_interop (tests/interop/run_keras_batch_norm.sh): files
// and outputs real Keras 3 wrote for two BatchNormalization layers (keras_batch_norm.py) load into
// two BatchNorm2d, which must then compute what Keras computed, in inference mode and in training
// mode, and move the moving statistics to where Keras moved them. It then writes the trained
// state as kiln.h5 and kiln.weights.h5, which the script's second half has Keras load. Skips
// without KILN_KERAS_BN_DIR (the script sets it; CI has no Keras).
//
// Tolerance: both compute in float32 in different orders (Keras' moments, Kiln's double sums
// rounded once); 1e-5 relative is a few float roundings of values near 1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "layers/batch_norm2d.h"
#include "layers/sequential.h"
#include "weights/hdf5.h"
#include "weights/keras3_weights.h"
#include "weights/model_weights.h"

namespace kiln {
namespace {

std::vector<float> read_f32(const std::string& path, std::size_t count) {
  std::ifstream in(path, std::ios::binary);
  std::vector<float> v(count);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(float)));
  EXPECT_TRUE(in.good() && in.peek() == std::ifstream::traits_type::eof())
      << path << " does not hold exactly " << count << " floats";
  return v;
}

std::shared_ptr<Sequential> two_batch_norms() {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(std::make_shared<BatchNorm2d>("bn", 3, BatchNormOptions{0.9, 1e-3}));
  m->add(std::make_shared<BatchNorm2d>("bn_1", 3, BatchNormOptions{0.9, 1e-3}));
  return m;
}

void expect_close(const std::vector<double>& got, const std::vector<float>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << what << "[" << i << "]";
  }
}

TEST(KerasBatchNormInterop, KerasFilesLoadAndComputeWhatKerasComputed) {
  const char* dir = std::getenv("KILN_KERAS_BN_DIR");
  if (dir == nullptr)
    GTEST_SKIP() << "no KILN_KERAS_BN_DIR: ctest -R keras_batch_norm_interop "
                    "runs this with files from real Keras (scripts/setup-keras)";
  const std::string d = dir;
  const Shape shape{4, 3, 2, 2};
  const Tensor x = Tensor::from_vector(shape, read_f32(d + "/x.f32", 48));
  const std::vector<float> y_eval = read_f32(d + "/y_eval.f32", 48);
  const std::vector<float> y_train = read_f32(d + "/y_train.f32", 48);
  auto after = two_batch_norms();
  load_weights(d + "/after.weights.h5", *after);

  for (const std::string file : {"before.weights.h5", "before.h5"}) {
    SCOPED_TRACE(file);
    auto model = two_batch_norms();
    const LoadReport report = load_weights(d + "/" + file, *model);
    EXPECT_EQ(report.loaded, (std::vector<std::string>{"bn", "bn_1"}));
    model->eval();
    expect_close((*model)(x).to_double_vector(), y_eval, "inference output");
    model->train();
    expect_close((*model)(x).to_double_vector(), y_train, "training output");
    const auto got = model->named_state();
    const auto want = after->named_state();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      std::vector<float> w;
      for (double v : want[i].tensor.to_double_vector()) w.push_back(static_cast<float>(v));
      expect_close(got[i].tensor.to_double_vector(), w, got[i].name);
    }
    if (file == "before.weights.h5") {  // for Keras to read back (keras_batch_norm.py verify)
      save_weights(d + "/kiln.h5", *model);
      write_h5_atomically(d + "/kiln.weights.h5", [&](H5Group& root) {
        write_keras3_weights(root, model_to_keras3_layers(*model, {}), "sequential", {});
      });
    }
  }
}

}  // namespace
}  // namespace kiln
