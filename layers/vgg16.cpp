#include "layers/vgg16.h"

#include <string>
#include <vector>

#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/max_pool2d.h"

namespace kiln {

std::shared_ptr<Sequential> vgg16_base(Generator& gen, int in_channels) {
  // Output channels of each block's convolutions.
  const std::vector<std::vector<std::int64_t>> blocks = {
      {64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
  auto base = std::make_shared<Sequential>("vgg16");
  std::int64_t channels = in_channels;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const std::string block = "block" + std::to_string(b + 1);
    for (std::size_t i = 0; i < blocks[b].size(); ++i) {
      base->add(std::make_shared<Conv2d>(block + "_conv" + std::to_string(i + 1), channels,
                                         blocks[b][i], Conv2dConfig::same_relu(3), gen));
      channels = blocks[b][i];
    }
    base->add(std::make_shared<MaxPool2d>(block + "_pool"));
  }
  return base;
}

std::shared_ptr<Sequential> vgg16_head(const MapShape& map, const HeadOptions& options,
                                       Generator& gen) {
  auto head = std::make_shared<Sequential>("head");
  head->add(std::make_shared<Flatten>("flatten", map));
  head->add(
      std::make_shared<Dense>("dense", map.features(), options.hidden, Activation::ReLU, gen));
  // Its own stream, fixed by gen, so the dropout masks repeat with the seed.
  head->add(std::make_shared<Dropout>("dropout", options.dropout, gen.next_u64()));
  head->add(
      std::make_shared<Dense>("dense_1", options.hidden, options.classes, Activation::None, gen));
  return head;
}

std::shared_ptr<Sequential> vgg16_classifier(std::int64_t image_size, const HeadOptions& options,
                                             Generator& gen) {
  KILN_CHECK(image_size >= 32, "vgg16_classifier: images must be at least 32x32 (five 2x2 ",
             "poolings), got ", image_size);
  const std::int64_t side = image_size / 32;  // five floor-halvings
  auto model = std::make_shared<Sequential>("vgg16_classifier");
  model->add(vgg16_base(gen));
  model->add(vgg16_head(MapShape{512, side, side}, options, gen));
  return model;
}

}  // namespace kiln
