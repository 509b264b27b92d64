// cifar10's pictures (apps/plot): the training curves `train` redraws after every epoch and
// `plot` draws from any history.csv, the confusion matrix `evaluate` draws, and the contact sheet
// of `predict --sheet`. Each is written as SVG, and as PNG when the build has Cairo.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/cifar10/evaluate.h"
#include "apps/cifar10/history.h"
#include "apps/plot/canvas.h"

namespace kiln::app {

struct TrainingFacts {
  std::string title;               // "CIFAR-10 binary (data/cifar-10-batches-bin)"; "" for none
  std::string model, device;       // "VGG16 + head 256 (frozen base)", "cpu"; "" for none
  std::int64_t stopped_epoch = 0;  // the epoch early stopping ended the run at; 0 if it did not
};

// Loss and accuracy per epoch, train and validation, the best epoch (lowest val_loss, what
// best.h5 holds) and the early stop marked, the learning rate in a third panel when it changed.
// Throws kiln::Error when `rows` is empty.
plot::Drawing training_picture(const std::vector<EpochRecord>& rows, const TrainingFacts& facts,
                               int& width, int& height);
// `prefix`.svg always, `prefix`.png too when png_supported(); returns the paths written.
std::vector<std::string> write_training_pictures(const std::string& prefix,
                                                 const std::vector<EpochRecord>& rows,
                                                 const TrainingFacts& facts);

// The matrix as a heat map: counts in the cells, colour by the row's share, class names on both
// axes, each class's accuracy beside its row.
plot::Drawing confusion_picture(const Evaluation& e, const std::vector<std::string>& names,
                                const std::string& title, int& width, int& height);
std::vector<std::string> write_confusion_pictures(const std::string& prefix, const Evaluation& e,
                                                  const std::vector<std::string>& names,
                                                  const std::string& title);

// One image of a contact sheet: its pixels (side, side, 3) as the model saw them, a caption (the
// file's name), its top classes with their probabilities, and its true class when known.
struct SheetImage {
  const std::uint8_t* pixels = nullptr;
  std::string caption;
  std::vector<std::pair<std::string, double>> top;  // best first
  std::string truth;                                // "" when unknown
};
constexpr std::size_t kSheetMaxImages = 100;  // a .bin's 10,000 would make a 300-megapixel sheet

// A grid of the images (the first kSheetMaxImages; the title says how many of how many), each
// above its caption and top classes; a wrong top class is drawn red when the truth is known.
plot::Drawing contact_sheet(const std::vector<SheetImage>& images, std::int64_t side,
                            const std::string& title, int& width, int& height);

}  // namespace kiln::app
