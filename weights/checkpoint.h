// Checkpoints: everything needed to resume training exactly, in ONE HDF5 file whose root is a
// Keras weights file (model_weights.h's layout), so Keras and load_weights read a checkpoint as
// plain weights: every layer's state, its buffers (BatchNorm2d's moving statistics) as well as its
// parameters. Beside the layers, a group `kiln_training` holds the rest:
//
//   /kiln_training                 attrs: format 1, epoch, best_metric,
//                                         epochs_without_improvement, rng_names, rng_states
//                                         (seed, offset pairs, flattened), note_keys, note_values
//   /kiln_training/optimizer       attrs: name ("adam" | "sgd"), step_count, learning_rate, the
//                                         optimiser's options, parameters (names, in order)
//   /kiln_training/optimizer/<slot>/<layer>/<param>   the optimiser's slots (Optimizer::slots():
//                                         Adam's m and v, SGD's momentum) in Kiln's layout and
//                                         the parameter's dtype; absent for a parameter not
//                                         updated yet
//
// NOTE: layer weights are float32 on disk (Keras' layout); moments keep the parameter's dtype.
// Saving is atomic (write_h5_atomically). Loading checks everything before it changes anything.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "layers/module.h"
#include "optim/optimizer.h"

namespace kiln {

struct TrainingState {
  std::int64_t epoch = 0;                                         // epochs completed
  double best_metric = std::numeric_limits<double>::quiet_NaN();  // NaN: none yet
  std::int64_t epochs_without_improvement = 0;
  // Generator states by purpose ("shuffle", "augment", "dropout"...): name -> (seed, offset),
  // as Generator::seed() / offset() give them and set_state() takes them.
  std::vector<std::pair<std::string, std::pair<std::uint64_t, std::uint64_t>>> rng_states;
  // Free-form facts worth keeping with the run (monitored metric, command line...).
  std::vector<std::pair<std::string, std::string>> notes;
};

// `optimizer` updates parameters of `model`; any Optimizer saves itself through its slots.
void save_checkpoint(const std::string& path, const Module& model, const Optimizer& optimizer,
                     const TrainingState& state);

// Restores the model's weights (every layer with parameters must be in the file, and the file
// may hold no other layers with weights), the optimiser's step count, learning rate and
// per-parameter state, and returns the training state. The optimiser must be of the kind saved,
// built with the same options over the same parameters (by name). Errors name the file and
// what is missing or different; on error nothing has been changed.
TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer& optimizer);

}  // namespace kiln
