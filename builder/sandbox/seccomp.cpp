// The filter is a classic BPF program over struct seccomp_data: check the architecture
// (anything but the one strata was built for is allowed through unchanged, so a 32-bit
// program inside the image syncs normally), then compare the system call number with each
// sync call and answer ERRNO(0) on a match, ALLOW otherwise.
#include "builder/sandbox/seccomp.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>

namespace strata::builder::sandbox::detail {
namespace {

#if defined(__x86_64__)
constexpr unsigned k_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned k_arch = AUDIT_ARCH_AARCH64;
#else
constexpr unsigned k_arch = 0;  // unknown: no filter
#endif

constexpr unsigned k_offset_nr = offsetof(struct seccomp_data, nr);
constexpr unsigned k_offset_arch = offsetof(struct seccomp_data, arch);

// Jump to "return 0" when the number matches; the targets are counted from the next insn.
#define STRATA_SYNC_CALL(nr, to_ignore) \
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), to_ignore, 0)

#if defined(__x86_64__) && defined(__X32_SYSCALL_BIT)
constexpr unsigned k_x32_bit = __X32_SYSCALL_BIT;
#else
constexpr unsigned k_x32_bit = 0;
#endif

const struct sock_filter k_program[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, k_offset_arch),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k_arch, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, k_offset_nr),
    // x32 system calls share the architecture value: leave them alone.
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, k_x32_bit == 0 ? 0xffffffffU : k_x32_bit, 6, 0),
    STRATA_SYNC_CALL(SYS_fsync, 6),
    STRATA_SYNC_CALL(SYS_fdatasync, 5),
    STRATA_SYNC_CALL(SYS_sync, 4),
    STRATA_SYNC_CALL(SYS_syncfs, 3),
    STRATA_SYNC_CALL(SYS_sync_file_range, 2),
    STRATA_SYNC_CALL(SYS_msync, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0U),
};

#undef STRATA_SYNC_CALL

}  // namespace

int install_ignore_sync_filter() noexcept {
  if (k_arch == 0) {
    return ENOSYS;
  }
  struct sock_fprog program {};
  program.len = static_cast<unsigned short>(sizeof k_program / sizeof k_program[0]);
  program.filter = const_cast<struct sock_filter*>(k_program);
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) != 0) {
    return errno;
  }
  return 0;
}

}  // namespace strata::builder::sandbox::detail
