#include "apps/cifar10/text_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "weights/durable_file.h"

namespace kiln::app {

void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, text.data(), text.size());
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), path, ": cannot open: ", std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace kiln::app
