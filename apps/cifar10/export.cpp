// cifar10 export: a model file (as predict and evaluate load it) as an ONNX model
// (weights/onnx_export.h), with its class names and input size in the metadata.
#include <cstdio>

#include "apps/cifar10/commands.h"
#include "apps/cifar10/model_file.h"
#include "base/error.h"
#include "data/preprocess.h"
#include "weights/onnx_export.h"

namespace kiln::app {

int run_export(const ExportOptions& o) {
  KILN_CHECK(onnx_export_supported(),
             "export: this build has no ONNX support (install libonnx-dev libprotobuf-dev "
             "protobuf-compiler, as scripts/setup does, and rebuild)");
  const LoadedModel m = load_model_file(o.model);
  OnnxExportOptions options;
  options.height = options.width = m.config.image_size;
  options.channels = 3;
  options.raw_input = o.raw_input;
  options.mean_bgr = {kVggMeanBgr[0], kVggMeanBgr[1], kVggMeanBgr[2]};
  options.class_names = m.class_names;
  const std::string size = std::to_string(m.config.image_size);
  options.metadata = {
      {"kiln_image_size", size},
      {"kiln_input", o.raw_input ? "pixels: uint8 (N," + size + "," + size +
                                       ",3) RGB in [0,255]; preprocessing is in the graph"
                                 : "input: float (N,3," + size + "," + size +
                                       ") NCHW, BGR minus the ImageNet means (Keras' caffe "
                                       "preprocess_input, moved to channels-first)"},
      {"kiln_output", "probabilities: float (N," + std::to_string(m.config.classes) +
                          "), softmax over class_names"}};
  for (const char* key : {"epoch", "val_loss", "data"}) {
    const auto it = m.facts.find(key);
    if (it != m.facts.end()) options.metadata.emplace_back(std::string("kiln_") + key, it->second);
  }
  export_onnx(o.onnx, *m.model, options);
  if (!o.common.quiet) {
    std::printf("wrote %s: opset %lld, %s input, %lld classes, from %s\n", o.onnx.c_str(),
                static_cast<long long>(kOnnxOpset),
                o.raw_input ? "uint8 NHWC RGB" : "float NCHW preprocessed",
                static_cast<long long>(m.config.classes), o.model.c_str());
  }
  return 0;
}

}  // namespace kiln::app
