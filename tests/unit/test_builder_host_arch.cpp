// Which Debian architectures run here: natively, through a qemu binfmt_misc handler, or not.
#include <catch2/catch.hpp>

#include "builder/host_arch.hpp"
#include "util/fs.hpp"

namespace b = strata::builder;

TEST_CASE("the host's own architecture, i386 on amd64 and arch all run natively") {
  strata::util::TempDir none("binfmt");
  CHECK(b::arch_support("amd64", none.path(), "amd64").execution == b::ArchExecution::Native);
  CHECK(b::arch_support("i386", none.path(), "amd64").execution == b::ArchExecution::Native);
  CHECK(b::arch_support("all", none.path(), "arm64").execution == b::ArchExecution::Native);
  CHECK_FALSE(b::host_debian_arch().empty());
  CHECK(b::arch_support(b::host_debian_arch()).execution == b::ArchExecution::Native);
}

TEST_CASE("a foreign architecture needs an enabled qemu handler with the F flag") {
  strata::util::TempDir dir("binfmt");
  const auto arm64 = [&] { return b::arch_support("arm64", dir.path(), "amd64"); };
  CHECK(arm64().execution == b::ArchExecution::Impossible);
  CHECK_THAT(arm64().detail, Catch::Contains("qemu-aarch64") && Catch::Contains("qemu-user-static"));

  strata::util::write_file_atomic(dir.path() / "qemu-aarch64",
                                  "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n"
                                  "flags: P\noffset 0\nmagic 7f454c460201010000000000000000000200b700\n");
  CHECK(arm64().execution == b::ArchExecution::Impossible);
  CHECK_THAT(arm64().detail, Catch::Contains("F (fix-binary)"));

  strata::util::write_file_atomic(dir.path() / "qemu-aarch64",
                                  "disabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: PF\n");
  CHECK_THAT(arm64().detail, Catch::Contains("disabled"));

  strata::util::write_file_atomic(dir.path() / "qemu-aarch64",
                                  "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: PF\n");
  CHECK(arm64().execution == b::ArchExecution::Emulated);
  CHECK(b::arch_support("riscv64", dir.path(), "amd64").execution == b::ArchExecution::Impossible);
  CHECK(b::arch_support("sparc", dir.path(), "amd64").execution == b::ArchExecution::Impossible);
}

TEST_CASE("Debian architectures map to OCI platforms") {
  CHECK(b::oci_platform_for("amd64").str() == "linux/amd64");
  CHECK(b::oci_platform_for("arm64").str() == "linux/arm64/v8");
  CHECK(b::oci_platform_for("armhf").str() == "linux/arm/v7");
  CHECK(b::oci_platform_for("i386").str() == "linux/386");
  CHECK(b::oci_platform_for("ppc64el").str() == "linux/ppc64le");
}
