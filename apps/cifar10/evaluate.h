// Evaluating a classifier on an in-memory dataset: mean softmax cross-entropy, accuracy and the
// confusion matrix, in evaluation mode (no dropout, no augmentation, no gradients). Train uses
// it for validation and test, `cifar10 evaluate` to report on a model file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "layers/module.h"

namespace kiln::app {

struct Evaluation {
  std::int64_t n = 0, classes = 0;
  double loss = 0, accuracy = 0;
  std::vector<std::int64_t> confusion;  // (classes, classes): [true * classes + predicted]
};

// Leaves the model in evaluation mode. Labels must be < classes.
Evaluation evaluate_dataset(Module& model, const ImageDataset& data, std::int64_t batch_size,
                            std::int64_t classes);

// Per-class accuracy and the confusion matrix, as printed by `cifar10 evaluate`.
std::string format_evaluation_details(const Evaluation& e, const std::vector<std::string>& names);

// Index of the largest of each row of logits (n, k).
std::vector<std::int64_t> argmax_rows(const std::vector<float>& values, std::int64_t k);

}  // namespace kiln::app
