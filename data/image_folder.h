// Image folders, as Keras' flow_from_directory reads them: DIR/<class>/<image>, one subfolder
// per class. Class names are the subfolder names sorted (byte order), label = index in that order;
// inside a class, image files are found recursively and sorted by path, so the dataset's order is
// the same on every machine.
#pragma once

#include <string>

#include "data/dataset.h"
#include "data/image_decode.h"

namespace kiln {

// Decodes every .jpg/.jpeg/.png (any case) under each class folder to RGB and resizes it to
// size x size with resize_bilinear (see resize.h). Other files, and names starting with '.'
// (.DS_Store, .ipynb_checkpoints), are skipped, as Keras skips what is not an image. Errors:
// DIR missing or without class subfolders, a class folder without images, a file that does not
// decode (named, e.g. a text file called photo.jpg).
ImageDataset read_image_folder(const std::string& dir, int size);

// One file as the model sees it (predict): decoded to RGB, resized to size x size.
RgbImage decode_image_file(const std::string& path, int size);

}  // namespace kiln
