// --device: where the model computes. On the CPU, batches are augmented and preprocessed by the
// loader; on the GPU the loader gathers uint8 pixels and draws the transforms, and the device
// does the rest (data/gpu_input.h). The parameters and the optimiser's state live on the device.
#pragma once

#include <string>

#include "core/tensor.h"

namespace kiln::app {

// "auto" (the default: CUDA when this build has it and a device answers, else the CPU), "cpu" or
// "cuda". cuda without a usable device is a kiln::Error that says why. Returns the line every
// command prints first, e.g. "device: cpu (auto: no usable CUDA device: ...)".
std::string set_compute_device(const std::string& name);
Device compute_device();
// The tensor on the compute device: itself when it is there already, else a copy.
Tensor on_compute_device(const Tensor& t);

}  // namespace kiln::app
