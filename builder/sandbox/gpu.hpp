// NVIDIA GPUs for `strata run --gpus`: find the host's driver (device nodes, user-space
// driver libraries, utilities) and describe how to bind it into the sandbox.
//
// An image built by strata holds the CUDA *runtime* (libcudart, libcublas, PyTorch) but never
// the *driver*: the driver's user-space half (libcuda.so.1, libnvidia-ml.so.1, the PTX JIT
// compiler, nvidia-smi) must match the host's kernel module exactly, so, as the NVIDIA
// container toolkit does, strata takes it from the host at run time. Discovery looks in the
// driver root (default "/"): device nodes /dev/nvidiactl, /dev/nvidia-uvm,
// /dev/nvidia-uvm-tools, /dev/nvidia-modeset, /dev/nvidia-caps/ and the chosen /dev/nvidiaN;
// libraries of the compute and utility sets in the host's library directories
// (/usr/local/nvidia/lib64, the multiarch and lib64 directories, and, with the root "/",
// LD_LIBRARY_PATH and the dynamic linker's cache as `ldconfig -p` prints it); utilities in
// /usr/local/nvidia/bin and /usr/bin. Inside the sandbox the libraries appear read-only
// under /usr/local/nvidia/lib64 (symlinks such as libcuda.so.1 recreated) and the utilities
// under /usr/local/nvidia/bin; LD_LIBRARY_PATH and PATH point there. Builds never get GPUs:
// an image's bytes must not depend on the machine that built it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace strata::builder::sandbox {

/// Which GPUs a run asks for: "all", or device indices ("0", "0,2").
struct GpuRequest {
  bool all = false;
  std::vector<unsigned> indices;
};

/// Parses the value of --gpus ("all", "0", "0,2"; also "device=0,2" as docker writes it).
/// Throws InvalidInput naming the text when it is neither.
GpuRequest parse_gpu_request(const std::string& text);

/// A host file to appear inside the sandbox.
struct GpuFile {
  std::filesystem::path host;  // absolute path on the host
  std::string name;            // file name inside the target directory
};

/// A symbolic link to recreate inside the sandbox's library directory.
struct GpuLink {
  std::string name;    // e.g. "libcuda.so.1"
  std::string target;  // e.g. "libcuda.so.580.95.05" (a name in the same directory)
};

/// What `--gpus` adds to a sandbox run. Empty (no devices) means no GPU.
struct GpuInjection {
  /// Device nodes, host path -> the same path under /dev inside (e.g. /dev/nvidia0).
  std::vector<std::filesystem::path> devices;
  /// Device directories bound whole (/dev/nvidia-caps).
  std::vector<std::filesystem::path> device_dirs;
  /// Files bound into /usr/local/nvidia/lib64, and links recreated there.
  std::vector<GpuFile> libraries;
  std::vector<GpuLink> library_links;
  /// Files bound into /usr/local/nvidia/bin.
  std::vector<GpuFile> binaries;
  /// The driver version read from the library names (libcuda.so.VERSION), or "".
  std::string driver_version;
  [[nodiscard]] bool empty() const { return devices.empty(); }
};

/// The directory inside the sandbox that holds the injected driver (lib64/, bin/).
inline constexpr const char* k_gpu_mount_point = "/usr/local/nvidia";

/// Finds the NVIDIA driver under `driver_root` for `request`. Throws NotFound with what is
/// missing and what to do when the control device, a requested /dev/nvidiaN or libcuda.so.1
/// cannot be found. Reads only the host (and runs no program but `ldconfig -p` when
/// driver_root is "/"). Thread-safe.
GpuInjection discover_gpus(const GpuRequest& request,
                           const std::filesystem::path& driver_root = "/");

/// Returns `env` ("NAME=value" entries) with LD_LIBRARY_PATH prefixed by the injected
/// library directory, PATH extended by the injected bin directory (the image's default PATH
/// when it has none) and NVIDIA_VISIBLE_DEVICES set to the chosen devices unless present.
std::vector<std::string> gpu_environment(std::vector<std::string> env,
                                         const GpuRequest& request);

}  // namespace strata::builder::sandbox
