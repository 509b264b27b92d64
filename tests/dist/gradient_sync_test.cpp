// optim/gradient_sync.h and the loader's sharding in a real job of 2 processes (mpirun).
//
// Equivalence tolerance. Both sides take SGD steps on the same 8 images; the single process
// averages 8 per-image gradient terms in one sum, the job sums 4 on each rank, scales by 4, adds
// the two halves and divides by 8: the same terms, re-associated. Each gradient element then
// differs by at most about 8 ulps of the largest term (8 * 6e-8 relative, terms here below 2),
// i.e. ~1e-6 per step, times lr 0.1; over 5 steps, and through the model's small Lipschitz
// constant, the weights stay within a few 1e-7. The test allows 2e-6 and, to show it can fail,
// checks that training on one rank's half alone (no sync) misses by far more.
#include "optim/gradient_sync.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/functions.h"
#include "core/random.h"
#include "data/loader.h"
#include "kernels/comm.h"
#include "layers/dense.h"
#include "layers/sequential.h"
#include "optim/sgd.h"

namespace kiln {
namespace {

namespace comm = kernels::comm;

#define REQUIRE_TWO_RANKS()    \
  if (comm::world().size != 2) \
  GTEST_SKIP() << "needs a job of 2 ranks (mpirun -np 2), got " << comm::world().size

std::shared_ptr<Sequential> tiny_model() {
  Generator gen(7);  // the same weights on every rank
  auto m = std::make_shared<Sequential>("m");
  m->add(std::make_shared<Dense>("dense", 6, 5, Activation::ReLU, gen));
  m->add(std::make_shared<Dense>("dense_1", 5, 3, Activation::None, gen));
  return m;
}

struct Data {
  Tensor x;                     // (16, 6)
  std::vector<std::int32_t> y;  // (16)
};

Data tiny_data() {
  Generator gen(11);
  Data d{Tensor::uniform({16, 6}, -1, 1, gen), {}};
  for (int i = 0; i < 16; ++i) d.y.push_back(i % 3);
  return d;
}

// Rows [first, first + count) of the data.
std::pair<Tensor, Tensor> rows(const Data& d, std::int64_t first, std::int64_t count) {
  const std::vector<float> all = d.x.to_vector<float>();
  std::vector<float> x(all.begin() + first * 6, all.begin() + (first + count) * 6);
  std::vector<std::int32_t> y(d.y.begin() + first, d.y.begin() + first + count);
  return {Tensor::from_vector({count, 6}, x), Tensor::from_vector({count}, y)};
}

std::vector<float> weights(const Module& m) {
  std::vector<float> out;
  for (const Tensor& p : m.parameters()) {
    const std::vector<float> v = p.to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// 5 SGD steps with global batch 8 over the 16 images, twice round. `mode`: 0 the single process
// on whole batches, 1 this rank's half of each batch with GradientSync, 2 its half alone.
std::vector<float> train(int mode) {
  const Data d = tiny_data();
  auto model = tiny_model();
  SgdOptions o;
  o.lr = 0.1;
  Sgd sgd(model->trainable_parameters(), o);
  GradientSync sync(model->trainable_parameters(), /*bucket_bytes=*/64);
  const int rank = comm::world().rank;
  for (int step = 0; step < 5; ++step) {
    const std::int64_t first = (step % 2) * 8;
    const auto [x, y] = mode == 0 ? rows(d, first, 8) : rows(d, first + 4 * rank, 4);
    sgd.zero_grad();
    const Tensor loss = softmax_cross_entropy((*model)(x), y);
    if (mode == 1) {
      sync.backward(loss, 4);
    } else {
      loss.backward();
    }
    sgd.step();
  }
  return weights(*model);
}

TEST(GradientSyncMpi, TwoRanksOfFourImagesMatchOneProcessOfEight) {
  REQUIRE_TWO_RANKS();
  const std::vector<float> single = train(0), job = train(1), alone = train(2);
  EXPECT_LE(max_diff(single, job), 2e-6f);
  EXPECT_GT(max_diff(single, alone), 1e-3f) << "the check would not notice a missing sync";
  // Every rank ends with the same weights, bit for bit.
  std::vector<float> sum = job;
  comm::allreduce_sum(sum.data(), static_cast<std::int64_t>(sum.size()));
  for (std::size_t i = 0; i < job.size(); ++i) ASSERT_EQ(sum[i], 2 * job[i]) << i;
}

// Small buckets started from the backward hook, against one bucket reduced after backward.
TEST(GradientSyncMpi, OverlappedBucketsGiveWhatOneReduceAfterBackwardGives) {
  REQUIRE_TWO_RANKS();
  const Data d = tiny_data();
  const int rank = comm::world().rank;
  std::vector<std::vector<float>> grads;
  std::vector<std::size_t> early;
  for (const bool overlap : {true, false}) {
    auto model = tiny_model();
    GradientSync sync(model->trainable_parameters(), overlap ? 32 : std::size_t{1} << 30, overlap);
    EXPECT_EQ(sync.bucket_count() > 1, overlap);
    const auto [x, y] = rows(d, 5 * rank, 5 + rank);  // unequal halves: 5 and 6 images
    sync.backward(softmax_cross_entropy((*model)(x), y), 5 + rank);
    early.push_back(sync.buckets_started_early());
    std::vector<float> g;
    for (const Tensor& p : model->trainable_parameters()) {
      const std::vector<float> v = p.grad().to_vector<float>();
      g.insert(g.end(), v.begin(), v.end());
    }
    grads.push_back(g);
  }
  EXPECT_EQ(grads[0], grads[1]);
  EXPECT_GT(early[0], 0u) << "no bucket started while backward ran";
  EXPECT_EQ(early[1], 0u);
}

TEST(LoaderMpi, ShardsCoverEveryImageExactlyOncePerEpoch) {
  REQUIRE_TWO_RANKS();
  ImageDataset ds;
  ds.n = 37;
  ds.h = ds.w = 2;
  ds.c = 3;
  ds.class_names = {"a"};
  ds.images.assign(static_cast<std::size_t>(37 * 12), 0);
  ds.labels.assign(37, 0);
  LoaderOptions o;
  o.batch_size = 8;  // 4 full global batches and one of 5
  o.seed = 3;
  o.rank = comm::world().rank;
  o.world = 2;
  BatchLoader loader(ds, o);
  for (const std::int64_t epoch : {0, 1}) {
    loader.start_epoch(epoch);
    std::vector<std::int64_t> seen(37, 0);
    std::int64_t batches = 0;
    while (auto b = loader.next()) {
      ++batches;
      for (const std::int64_t i : b->indices) ++seen[static_cast<std::size_t>(i)];
    }
    comm::allreduce_sum(seen.data(), 37);
    EXPECT_EQ(batches, 5);
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << "image " << i;
  }
}

}  // namespace
}  // namespace kiln
