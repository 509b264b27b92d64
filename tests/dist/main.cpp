// The data-parallel suites run as one job of several processes (tests/dist/run_mpi.sh starts
// them with mpirun). Every rank runs every test; a test that needs more ranks than it got skips.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "kernels/comm.h"

int main(int argc, char** argv) {
  // run_mpi.sh asks first whether mpirun would be any use.
  if (argc == 2 && std::strcmp(argv[1], "--built-with-mpi") == 0) {
    return kiln::kernels::comm::built_with_mpi() ? 0 : 1;
  }
  kiln::kernels::comm::init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  std::int64_t failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  kiln::kernels::comm::allreduce_sum(&failed, 1);  // the job fails when any rank failed
  kiln::kernels::comm::finalize();
  return failed != 0 ? 1 : 0;
}
