#include "data/split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "base/error.h"
#include "data/shuffle.h"

namespace kiln {
namespace {

// n 1x1x1 images whose pixel and label are both the image's index (mod 256), so each image
// says where it came from.
ImageDataset numbered(int n) {
  ImageDataset ds;
  ds.n = n;
  ds.h = ds.w = ds.c = 1;
  for (int i = 0; i < n; ++i) {
    ds.images.push_back(static_cast<std::uint8_t>(i));
    ds.labels.push_back(i);
  }
  return ds;
}

TEST(Split, SizesDisjointAndUnionIsAll) {
  const ImageDataset ds = numbered(103);
  const TrainValidation s = split_validation(ds, 0.2, 7);
  EXPECT_EQ(s.validation.n, 21);  // round(20.6)
  EXPECT_EQ(s.train.n, 82);
  std::set<std::int32_t> seen;
  for (const ImageDataset* part : {&s.train, &s.validation}) {
    part->check_consistent("split part");
    EXPECT_TRUE(std::is_sorted(part->labels.begin(), part->labels.end()));  // dataset order kept
    for (std::int64_t i = 0; i < part->n; ++i) {
      EXPECT_EQ(part->image(i)[0], static_cast<std::uint8_t>(part->labels[i]));  // pixels follow
      EXPECT_TRUE(seen.insert(part->labels[i]).second) << "index " << part->labels[i] << " twice";
    }
  }
  EXPECT_EQ(seen.size(), 103u);
}

TEST(Split, DeterministicPerSeedAndDifferentAcrossSeeds) {
  const ImageDataset ds = numbered(200);
  const auto a = split_validation(ds, 0.1, 42).validation.labels;
  const auto b = split_validation(ds, 0.1, 42).validation.labels;
  const auto c = split_validation(ds, 0.1, 43).validation.labels;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Split, ZeroFractionAndBadFractions) {
  const ImageDataset ds = numbered(10);
  const TrainValidation s = split_validation(ds, 0.0, 1);
  EXPECT_EQ(s.train.n, 10);
  EXPECT_EQ(s.validation.n, 0);
  EXPECT_THROW(split_validation(ds, 1.0, 1), Error);
  EXPECT_THROW(split_validation(ds, -0.1, 1), Error);
  EXPECT_THROW(split_validation(ds, 0.01, 1), Error);  // rounds to no validation image
}

TEST(Shuffle, PermutationIsUniformEnough) {
  // Each of 5 items lands in each of 5 places about equally often over many seeds.
  constexpr int kTrials = 20000;
  int count[5][5] = {};
  for (int t = 0; t < kTrials; ++t) {
    Generator gen(static_cast<std::uint64_t>(t));
    const auto p = random_permutation(5, gen);
    for (int pos = 0; pos < 5; ++pos) ++count[p[static_cast<std::size_t>(pos)]][pos];
  }
  for (auto& row : count) {
    for (int c : row) EXPECT_NEAR(c, kTrials / 5.0, 250);  // sd is about 57
  }
}

}  // namespace
}  // namespace kiln
