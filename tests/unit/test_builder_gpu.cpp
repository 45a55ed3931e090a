// --gpus parsing, the environment a GPU run gets, and discovery's refusals (the bind mounts
// themselves are tested end to end in tests/integration/test_run_gpus.sh).
#include <catch2/catch.hpp>

#include <algorithm>

#include "builder/sandbox/gpu.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace sb = strata::builder::sandbox;
namespace fs = std::filesystem;

namespace {
bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}
}  // namespace

TEST_CASE("--gpus values: all, indices, docker's device= form; anything else refused") {
  CHECK(sb::parse_gpu_request("all").all);
  CHECK(sb::parse_gpu_request("0").indices == std::vector<unsigned>{0});
  CHECK(sb::parse_gpu_request("2,0,2").indices == std::vector<unsigned>{2, 0});
  CHECK(sb::parse_gpu_request("device=1,3").indices == std::vector<unsigned>{1, 3});
  for (const char* bad : {"", "none", "-1", "0,,x", "1e3", "99999"}) {
    INFO(bad);
    CHECK_THROWS_AS(sb::parse_gpu_request(bad), strata::util::Error);
  }
}

TEST_CASE("a GPU run's environment: driver libraries first, nvidia-smi on the PATH") {
  const auto env = sb::gpu_environment({"PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=/opt/lib",
                                        "NVIDIA_VISIBLE_DEVICES=all", "LANG=C.UTF-8"},
                                       sb::parse_gpu_request("1"));
  CHECK(has(env, "PATH=/usr/bin:/bin:/usr/local/nvidia/bin"));
  CHECK(has(env, "LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/opt/lib"));
  CHECK(has(env, "NVIDIA_VISIBLE_DEVICES=1"));
  CHECK_FALSE(has(env, "NVIDIA_VISIBLE_DEVICES=all"));
  CHECK(has(env, "LANG=C.UTF-8"));

  const auto bare = sb::gpu_environment({}, sb::parse_gpu_request("all"));
  CHECK(has(bare, "LD_LIBRARY_PATH=/usr/local/nvidia/lib64"));
  CHECK(has(bare, "NVIDIA_VISIBLE_DEVICES=all"));
  CHECK(std::any_of(bare.begin(), bare.end(), [](const std::string& e) {
    return e.rfind("PATH=/usr/local/sbin:", 0) == 0 && e.ends_with(":/usr/local/nvidia/bin");
  }));
}

TEST_CASE("discovery refuses a machine without the driver's control device") {
  strata::util::TempDir root("gpu-root");
  fs::create_directories(root.path() / "dev");
  // A regular file is not a device node: it must not count as a GPU.
  strata::util::write_file_atomic(root.path() / "dev/nvidiactl", "");
  try {
    static_cast<void>(sb::discover_gpus(sb::parse_gpu_request("all"), root.path()));
    FAIL("no error");
  } catch (const strata::util::Error& e) {
    CHECK(e.kind() == strata::util::ErrorKind::NotFound);
    CHECK_THAT(e.what(), Catch::Contains("nvidiactl is not a character device"));
  }
}
