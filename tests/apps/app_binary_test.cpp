// Which cifar10 the apps tests run (tests/apps/app_runner.h): $KILN_CIFAR10_BIN, else cifar10
// beside the test binary, else the build tree's compile-time path. These tests caught the bundle
// case, where only the compile-time path was used and it did not exist on the GPU machine.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "tests/apps/app_runner.h"

namespace kiln::test {
namespace {

// An executable shell script at `path` (the lookup only checks that it can be executed).
std::string make_executable(const std::string& path) {
  write_text(path, "#!/bin/sh\nexit 0\n");
  ::chmod(path.c_str(), 0755);
  return path;
}

class Cifar10BinaryLookup : public ::testing::Test {
 protected:
  TempFolder dir;
  const std::string env = make_executable(dir.file("env/cifar10"));
  const std::string beside = make_executable(dir.file("bin/cifar10"));
  const std::string built = make_executable(dir.file("build/apps/cifar10/cifar10"));
  const std::string bin_dir = dir.str() + "/bin";
};

TEST_F(Cifar10BinaryLookup, TheEnvironmentVariableComesFirst) {
  const BinaryLookup found = find_cifar10_binary(env.c_str(), bin_dir, built);
  EXPECT_EQ(found.path, env);
  EXPECT_CONTAINS(found.how, "KILN_CIFAR10_BIN");
}

TEST_F(Cifar10BinaryLookup, AnEnvironmentVariableNamingNothingFailsInsteadOfFallingBack) {
  const std::string missing = dir.str() + "/no/such/cifar10";
  const BinaryLookup found = find_cifar10_binary(missing.c_str(), bin_dir, built);
  EXPECT_EQ(found.path, "");
  EXPECT_CONTAINS(found.how, "KILN_CIFAR10_BIN");
  EXPECT_CONTAINS(found.how, missing);
}

TEST_F(Cifar10BinaryLookup, AFolderOrAPlainFileIsNotABinary) {
  EXPECT_EQ(find_cifar10_binary(dir.str().c_str(), bin_dir, built).path, "");
  const std::string plain = dir.file("plain/cifar10");
  write_text(plain, "not executable\n");
  EXPECT_EQ(find_cifar10_binary(plain.c_str(), bin_dir, built).path, "");
  EXPECT_EQ(find_cifar10_binary(nullptr, dir.str() + "/plain", "").path, "");
}

TEST_F(Cifar10BinaryLookup, UnsetOrEmptyUsesTheOneBesideTheTestBinary) {
  for (const char* unset : {static_cast<const char*>(nullptr), ""}) {
    const BinaryLookup found = find_cifar10_binary(unset, bin_dir, built);
    EXPECT_EQ(found.path, beside);
    EXPECT_CONTAINS(found.how, "beside the test binary");
  }
}

TEST_F(Cifar10BinaryLookup, TheCompileTimePathIsTheLastResort) {
  const BinaryLookup found = find_cifar10_binary(nullptr, dir.str() + "/elsewhere", built);
  EXPECT_EQ(found.path, built);
  EXPECT_CONTAINS(found.how, "compile time");
}

TEST_F(Cifar10BinaryLookup, NoneFoundSaysEverythingItTried) {
  const std::string gone = dir.str() + "/gone/cifar10";
  const BinaryLookup found = find_cifar10_binary(nullptr, dir.str() + "/elsewhere", gone);
  EXPECT_EQ(found.path, "");
  EXPECT_CONTAINS(found.how, "cannot find the cifar10 binary");
  EXPECT_CONTAINS(found.how, "KILN_CIFAR10_BIN is not set");
  EXPECT_CONTAINS(found.how, dir.str() + "/elsewhere/cifar10");
  EXPECT_CONTAINS(found.how, gone);
}

// This process's own lookup (the one run_cifar10 uses) finds a binary wherever the suite runs: a
// build tree, or an unpacked bundle with or without KILN_CIFAR10_BIN.
TEST(Cifar10Binary, ThisProcessFindsOne) {
  const BinaryLookup& found = cifar10_binary();
  ASSERT_NE(found.path, "") << found.how;
  EXPECT_TRUE(is_executable_file(found.path)) << found.path;
}

}  // namespace
}  // namespace kiln::test
