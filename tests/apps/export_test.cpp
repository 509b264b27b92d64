// cifar10 export end to end: a model file as train writes it becomes a checked ONNX file with the
// file's class names; bad input (a missing or garbage model file, an unwritable output path) is
// one line naming the file, exit status 1, and no file, half-written or whole, left behind.
// export creates no folders: an output folder that does not exist is a path that cannot be
// written.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "apps/cifar10/model_file.h"
#include "core/random.h"
#include "tests/apps/app_runner.h"

#ifdef KILN_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <sstream>
#endif

namespace kiln::test {
namespace {

const std::vector<std::string> kNames = {"plane", "car", "bird"};

class Export : public ::testing::Test {
 protected:
  void SetUp() override {
    app::ModelConfig config;
    config.hidden = 8;
    config.classes = 3;
    Generator init(21);
    const auto model = app::build_classifier(config, init);
    for (const char* name : {"best.h5", "best.weights.h5", "best.keras"}) {
      app::save_model_file(dir.file(name), *model, kNames, {{"image_size", "32"}, {"epoch", "4"}});
    }
  }

  // The folder's entries (names only), sorted.
  std::vector<std::string> entries(const std::string& sub) const {
    std::vector<std::string> out;
    for (const auto& e :
         std::filesystem::directory_iterator(std::filesystem::path(dir.str()) / sub)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void expect_failure(const std::string& args, const std::string& culprit) {
    SCOPED_TRACE("cifar10 " + args);
    const AppRun run = run_cifar10(dir, args);
    EXPECT_EQ(run.status, 1) << run.err;
    const std::vector<std::string> lines = lines_of(run.err);
    ASSERT_EQ(lines.size(), 1u) << "stderr:\n" << run.err;
    EXPECT_EQ(lines[0].rfind("cifar10: ", 0), 0u) << lines[0];
    EXPECT_CONTAINS(lines[0], culprit);
  }

  TempFolder dir;
};

#ifdef KILN_WITH_ONNX

onnx::ModelProto read_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes.str())) << path;
  return m;
}

std::string metadata(const onnx::ModelProto& m, const std::string& key) {
  for (const auto& p : m.metadata_props()) {
    if (p.key() == key) return p.value();
  }
  return "<absent>";
}

TEST_F(Export, WritesACheckedOnnxModelWithTheFilesClassNames) {
  std::filesystem::create_directories(std::filesystem::path(dir.str()) / "out");
  for (const bool raw : {false, true}) {
    SCOPED_TRACE(raw ? "--raw-input" : "float input");
    const std::string out = raw ? "out/raw.onnx" : "out/model.onnx";
    const AppRun run = run_cifar10(
        dir, "export --device cpu --model best.h5 --onnx " + out + (raw ? " --raw-input" : ""));
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_CONTAINS(run.out, "wrote " + out);
    EXPECT_NO_THROW(onnx::checker::check_model(dir.file(out)));
    const onnx::ModelProto m = read_model(dir.file(out));
    EXPECT_EQ(metadata(m, "class_names"), R"(["plane","car","bird"])");
    EXPECT_EQ(metadata(m, "kiln_image_size"), "32");
    EXPECT_EQ(metadata(m, "kiln_epoch"), "4");
    ASSERT_EQ(m.graph().input_size(), 1);
    EXPECT_EQ(m.graph().input(0).type().tensor_type().elem_type(),
              raw ? onnx::TensorProto::UINT8 : onnx::TensorProto::FLOAT);
    int convs = 0;
    for (const auto& n : m.graph().node()) convs += n.op_type() == "Conv";
    EXPECT_EQ(convs, 13);
    EXPECT_EQ(m.graph().node(m.graph().node_size() - 1).op_type(), "Softmax");
  }
  EXPECT_EQ(entries("out"), (std::vector<std::string>{"model.onnx", "raw.onnx"}));
}

TEST_F(Export, ReadsEveryModelFileFormatPredictReads) {
  for (const char* name : {"best.weights.h5", "best.keras"}) {
    SCOPED_TRACE(name);
    const AppRun run =
        run_cifar10(dir, std::string("export --device cpu --model ") + name + " --onnx m.onnx");
    ASSERT_EQ(run.status, 0) << run.err;
    EXPECT_NO_THROW(onnx::checker::check_model(dir.file("m.onnx")));
    EXPECT_EQ(metadata(read_model(dir.file("m.onnx")), "class_names"), R"(["plane","car","bird"])");
  }
}

TEST_F(Export, AnUnwritableOutputPathIsOneLineAndLeavesNothing) {
  write_text(dir.file("out/a_file"), "not a folder\n");
  expect_failure("export --device cpu --model best.h5 --onnx out/a_file/model.onnx",
                 "out/a_file/model.onnx");
  EXPECT_EQ(entries("out"), std::vector<std::string>{"a_file"});
}

#else  // no libonnx in this build

TEST_F(Export, SaysTheBuildHasNoOnnxSupport) {
  expect_failure("export --device cpu --model best.h5 --onnx model.onnx", "no ONNX support");
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.onnx")));
}

#endif

TEST_F(Export, AMissingOrGarbageModelFileIsOneLineNamingIt) {
  std::filesystem::create_directories(std::filesystem::path(dir.str()) / "out");
#ifdef KILN_WITH_ONNX
  expect_failure("export --device cpu --model missing.h5 --onnx out/model.onnx", "missing.h5");
  write_text(dir.file("garbage.h5"), "garbage");
  expect_failure("export --device cpu --model garbage.h5 --onnx out/model.onnx", "garbage.h5");
#endif
  EXPECT_TRUE(entries("out").empty());
}

TEST_F(Export, WithoutOnnxIsAUsageError) {
  const AppRun run = run_cifar10(dir, "export --model best.h5");
  EXPECT_EQ(run.status, 2) << run.err;
  EXPECT_CONTAINS(run.err, "--onnx");
}

}  // namespace
}  // namespace kiln::test
