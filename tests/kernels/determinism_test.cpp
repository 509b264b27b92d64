// The deterministic-mode setting (kernels/cuda_runtime.h): parsing, the process-wide value, the
// scope guard and KILN_DETERMINISTIC. Runs in every build, CUDA or not; what the setting does to
// the GPU kernels is tested in tests/cuda/conv_algorithms_test.cpp (on the CPU) and
// tests/cuda/conv_determinism_test.cpp (on a GPU).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "base/error.h"
#include "kernels/cuda_runtime.h"
#include "tests/support/error_of.h"

namespace kiln {
namespace {

namespace cuda = kernels::cuda;

TEST(Deterministic, ParsesOneAndZero) {
  EXPECT_TRUE(cuda::parse_deterministic("1"));
  EXPECT_FALSE(cuda::parse_deterministic("0"));
}

TEST(Deterministic, AnythingElseIsAnErrorNamingTheTextAndTheChoices) {
  for (const char* bad : {"", "yes", "true", "on", " 1", "10"}) {
    const std::string message = test::error_of([bad] { cuda::parse_deterministic(bad); });
    EXPECT_NE(message.find(std::string("'") + bad + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("1 (on) or 0 (off)"), std::string::npos) << message;
  }
}

TEST(Deterministic, TheSettingIsKeptAndReadBack) {
  const bool before = cuda::deterministic();
  cuda::set_deterministic(true);
  EXPECT_TRUE(cuda::deterministic());
  cuda::set_deterministic(false);
  EXPECT_FALSE(cuda::deterministic());
  cuda::set_deterministic(before);
}

TEST(Deterministic, ScopesRestoreThePreviousSettingOnExit) {
  const cuda::DeterministicScope outer(false);
  {
    const cuda::DeterministicScope inner(true);
    EXPECT_TRUE(cuda::deterministic());
    {
      const cuda::DeterministicScope innermost(false);
      EXPECT_FALSE(cuda::deterministic());
    }
    EXPECT_TRUE(cuda::deterministic());
  }
  EXPECT_FALSE(cuda::deterministic());
}

// Sets KILN_DETERMINISTIC for one test and puts back what was there.
class EnvironmentVariable {
 public:
  EnvironmentVariable(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~EnvironmentVariable() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  EnvironmentVariable(const EnvironmentVariable&) = delete;
  EnvironmentVariable& operator=(const EnvironmentVariable&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

TEST(Deterministic, TheEnvironmentVariableTurnsItOnOrOff) {
  {
    const EnvironmentVariable env("KILN_DETERMINISTIC", "1");
    EXPECT_TRUE(cuda::deterministic_from_environment());
  }
  {
    const EnvironmentVariable env("KILN_DETERMINISTIC", "0");
    EXPECT_FALSE(cuda::deterministic_from_environment());
  }
}

TEST(Deterministic, UnsetOrEmptyEnvironmentMeansOff) {
  {
    const EnvironmentVariable env("KILN_DETERMINISTIC", nullptr);
    EXPECT_FALSE(cuda::deterministic_from_environment());
  }
  {
    const EnvironmentVariable env("KILN_DETERMINISTIC", "");
    EXPECT_FALSE(cuda::deterministic_from_environment());
  }
}

TEST(Deterministic, ABadEnvironmentValueIsAnErrorNamingTheVariable) {
  const EnvironmentVariable env("KILN_DETERMINISTIC", "yes");
  const std::string message = test::error_of([] { cuda::deterministic_from_environment(); });
  EXPECT_NE(message.find("KILN_DETERMINISTIC"), std::string::npos) << message;
  EXPECT_NE(message.find("'yes'"), std::string::npos) << message;
}

}  // namespace
}  // namespace kiln
