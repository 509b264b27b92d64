// ONNX export: a Kiln classifier as one ONNX model (opset 17; the IR version of the libonnx built
// against, 8 for Debian 12's 1.12), built as libonnx's protobuf classes (onnx::ModelProto) and
// validated with onnx::checker before a byte is written. Opset 17 is the newest libonnx 1.12
// checks, and every ONNX Runtime since 1.13 runs it.
//
// The graph takes what Kiln's first layer takes: float (N, C, H, W), the network's preprocessed
// input, NCHW as Kiln's activations are (DESIGN.md). With raw_input it takes uint8 (N, H, W, 3)
// RGB pixels, as an image decoder hands them over, and does Keras' "caffe" preprocessing inside
// (Cast, Transpose to NCHW, Gather channels 2,1,0 for BGR, Sub mean_bgr: the caller passes
// data/preprocess.h's kVggMeanBgr, since weights/ sits below data/ in DESIGN.md's layers).
// The output "probabilities" (N, classes) is the Softmax of the last layer: Kiln keeps softmax in
// the loss and in predict, never as a layer.
//
// Layers map one to one (nested Sequentials are walked through): Conv2d -> Conv (OIHW kernel, as
// Kiln keeps it), a fused ReLU -> Relu, MaxPool2d -> MaxPool, ReLU -> Relu, Dropout -> nothing
// (evaluation is the identity), Flatten -> Flatten, Dense -> Gemm ((in, out) kernel, as Kiln
// keeps it). Nodes are named after the layers ("block1_conv1", "block1_conv1/relu"), initializers
// after Kiln's parameters ("block1_conv1/kernel"). Any other layer is refused, by name.
//
// NOTE: Keras flattens NHWC, Kiln NCHW. Kiln's Dense kernel after a Flatten already has its rows in
// Kiln's NCHW order (the weight loader permutes them from Keras' order, KERAS-FORMATS.md
// section 2), and ONNX's Flatten of NCHW maps is that same order. So the graph flattens NCHW and
// takes the kernel as Kiln holds it: no Transpose before Flatten, no permutation of rows.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "layers/module.h"

namespace kiln {

constexpr std::int64_t kOnnxOpset = 17;

struct OnnxExportOptions {
  std::int64_t height = 32, width = 32, channels = 3;  // one input image
  bool raw_input = false;                              // uint8 NHWC RGB in (see above)
  std::array<float, 3> mean_bgr{};                     // raw_input's means, B, G, R
  // metadata_props "class_names": a JSON array of strings, index = class; "" keys are refused.
  std::vector<std::string> class_names;
  std::vector<std::pair<std::string, std::string>> metadata;  // more metadata_props
  std::string graph_name = "kiln_classifier";
};

// False when this build has no libonnx (CMake found none): the exporters below then throw.
bool onnx_export_supported();

// The checked, serialised ModelProto. Throws kiln::Error naming an unsupported layer, a shape the
// layers cannot take, or what the ONNX checker refused.
std::string onnx_model_bytes(const Module& model, const OnnxExportOptions& options);

// onnx_model_bytes written with write_file_atomically: the old file or the new, never half.
void export_onnx(const std::string& path, const Module& model, const OnnxExportOptions& options);

}  // namespace kiln
