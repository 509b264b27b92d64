// Weight files whose dataspace lies about a dataset's size (issue 18, fuzz/keras_weights_fuzz):
// the readers must refuse the claim with an error naming the file before allocating it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "base/error.h"
#include "tests/support/error_of.h"
#include "tests/weights/keras_files.h"
#include "weights/keras_weights.h"

namespace kiln {
namespace {

using test::error_of;
using test::ScratchDir;

// Rewrites the first dataspace extent list (3, 3, 1, 3), little-endian uint64 as HDF5 stores
// it, to (2^36, 3, 1, 3): 2.4 * 10^11 floats claimed by a file of a few KB.
void claim_huge_first_dim(const std::string& path) {
  std::vector<char> b = test::file_bytes(path);
  const std::uint64_t dims[4] = {3, 3, 1, 3};
  char pattern[sizeof dims];
  std::memcpy(pattern, dims, sizeof dims);
  const auto at = std::search(b.begin(), b.end(), pattern, pattern + sizeof pattern);
  ASSERT_NE(at, b.end()) << "no (3, 3, 1, 3) extents in " << path;
  const std::uint64_t huge = std::uint64_t{1} << 36;
  std::memcpy(&*at, &huge, sizeof huge);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(b.data(), b.size());
}

// Regression (found with fuzz/keras_weights_fuzz's seeds, a dims field patched by hand):
// read_floats allocated the claimed 256 GiB before HDF5 read the 108 bytes that exist.
TEST(HostileWeights, DatasetClaimingMoreValuesThanTheFileHoldsIsAnError) {
  ScratchDir dir;
  for (const bool keras3 : {false, true}) {
    const std::string path = dir.file(keras3 ? "m.weights.h5" : "m.h5");
    {
      test::RawH5Writer w(path);
      if (keras3) {
        w.dataset("/layers/conv2d/vars/0", {3, 3, 1, 3}, std::vector<float>(27, 1.f));
        w.group("/vars");
      } else {
        w.dataset("/conv/conv/kernel:0", {3, 3, 1, 3}, std::vector<float>(27, 1.f));
        w.string_list_attr("/", "layer_names", {"conv"});
        w.string_list_attr("/conv", "weight_names", {"conv/kernel:0"});
      }
    }
    claim_huge_first_dim(path);
    const std::string m = error_of([&] { read_keras_weights(path); });
    EXPECT_NE(m.find(path + ": "), std::string::npos) << m;
    EXPECT_NE(m.find("claims shape (68719476736, 3, 1, 3), more values than a"), std::string::npos)
        << m;
  }
}

}  // namespace
}  // namespace kiln
