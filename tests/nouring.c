/*
 * nouring.c - run a program where io_uring_setup(2) fails, the way a
 * container's seccomp policy makes it fail.
 *
 * Usage: nouring [enter:]ERRNO PROGRAM [ARG...]
 *
 * ERRNO is one io_uring_setup(2) fails with in the field (URING-NOTES 1):
 * ENOSYS (no io_uring in the kernel), EPERM (seccomp, or
 * kernel.io_uring_disabled), EINVAL (setup flags the kernel does not
 * know), ENOMEM (RLIMIT_MEMLOCK before 5.12), EOPNOTSUPP (some sandboxes)
 * or EACCES.  Installs a seccomp BPF filter that returns it for
 * io_uring_setup and allows every other system call, checks that the
 * filter bites, exports LURE_NOURING_ERRNO=<name> (so that the tests can
 * check it too) and execs PROGRAM.  With "enter:" ("register:") the filter
 * leaves io_uring_setup alone and fails io_uring_enter(2)
 * (io_uring_register(2)) instead: a policy that lets a ring be made but
 * not used.  Exit status 77 (the automake SKIP)
 * when this kernel or architecture cannot filter system calls; 99 (hard
 * error) when the filter was installed but io_uring_setup still works.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425 /* the same number on every architecture */
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

/* The audit architecture of this build: a filter must check it, since the
 * syscall numbers mean different calls under another ABI. */
#if defined(__x86_64__) && defined(__ILP32__)
#define NOURING_ARCH AUDIT_ARCH_X86_64 /* x32 runs on the x86_64 audit arch */
#elif defined(__x86_64__)
#define NOURING_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define NOURING_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define NOURING_ARCH AUDIT_ARCH_AARCH64
#elif defined(__arm__)
#define NOURING_ARCH AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#define NOURING_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NOURING_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__powerpc64__)
#define NOURING_ARCH AUDIT_ARCH_PPC64
#elif defined(__s390x__)
#define NOURING_ARCH AUDIT_ARCH_S390X
#elif defined(__loongarch64)
#define NOURING_ARCH AUDIT_ARCH_LOONGARCH64
#endif

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

#define SKIP 77
#define HARD_ERROR 99

static int install_filter(long nr, int err) {
#ifdef NOURING_ARCH
  struct sock_filter filter[] = {
    /* Another ABI than ours: not our business, allow. */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NOURING_ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    /* The call, native or (on x86_64) through the x32 ABI. */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned) nr, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
             (unsigned) nr | __X32_SYSCALL_BIT, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K,
             SECCOMP_RET_ERRNO | ((unsigned) err & SECCOMP_RET_DATA)),
  };
  struct sock_fprog prog = {
    .len = (unsigned short) (sizeof(filter) / sizeof(filter[0])),
    .filter = filter,
  };

  /* Needed to install a filter without CAP_SYS_ADMIN; harmless otherwise. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "nouring: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
    return SKIP;
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
    fprintf(stderr, "nouring: PR_SET_SECCOMP: %s\n", strerror(errno));
    return SKIP;
  }
  return 0;
#else
  (void) err;
  (void) nr;
  fprintf(stderr, "nouring: no seccomp audit arch known for this build\n");
  return SKIP;
#endif
}

static const struct {
  const char *name;
  int err;
} errnos[] = {
  { "ENOSYS", ENOSYS },
  { "EPERM", EPERM },
  { "EINVAL", EINVAL },
  { "ENOMEM", ENOMEM },
  { "EOPNOTSUPP", EOPNOTSUPP },
  { "EACCES", EACCES },
};

int main(int argc, char **argv) {
  unsigned char params[120]; /* struct io_uring_params is 120 bytes */
  const char *name;
  long nr = __NR_io_uring_setup;
  long rc;
  int err = 0;
  int saved;
  size_t i;

  if (argc < 3) {
    fprintf(stderr, "usage: nouring [enter:|register:]ERRNO PROGRAM [ARG...]\n");
    return 2;
  }
  name = argv[1];
  if (strncmp(name, "enter:", 6) == 0) {
    nr = __NR_io_uring_enter;
    name += 6;
  } else if (strncmp(name, "register:", 9) == 0) {
    nr = __NR_io_uring_register;
    name += 9;
  }
  for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
    if (strcmp(name, errnos[i].name) == 0)
      err = errnos[i].err;
  if (err == 0) {
    fprintf(stderr, "nouring: unknown errno \"%s\" (ENOSYS, EPERM, EINVAL, "
            "ENOMEM, EOPNOTSUPP or EACCES)\n", name);
    return 2;
  }

  rc = install_filter(nr, err);
  if (rc != 0)
    return (int) rc;

  /* Prove that the filter bites before trusting the run. */
  memset(params, 0, sizeof(params));
  errno = 0;
  if (nr == __NR_io_uring_setup) {
    rc = syscall(__NR_io_uring_setup, 4, params);
  } else {
    int fd = (int) syscall(__NR_io_uring_setup, 4, params);

    if (fd < 0) {
      fprintf(stderr, "nouring: io_uring_setup: %s\n", strerror(errno));
      return SKIP;
    }
    errno = 0;
    if (nr == __NR_io_uring_enter)
      rc = syscall(__NR_io_uring_enter, fd, 0, 0, 0, NULL, 0);
    else /* IORING_REGISTER_PROBE with no room: EINVAL when allowed */
      rc = syscall(__NR_io_uring_register, fd, 8, NULL, 0);
    saved = errno;
    close(fd);
    errno = saved;
  }
  saved = errno;
  if (rc >= 0) {
    if (nr == __NR_io_uring_setup)
      close((int) rc);
    fprintf(stderr, "nouring: the filtered call still works\n");
    return HARD_ERROR;
  }
  if (saved != err) {
    fprintf(stderr, "nouring: the filtered call failed with %s, not %s\n",
            strerror(saved), name);
    return HARD_ERROR;
  }

  if (setenv("LURE_NOURING_ERRNO", argv[1], 1) != 0) {
    perror("nouring: setenv");
    return HARD_ERROR;
  }
  execvp(argv[2], argv + 2);
  fprintf(stderr, "nouring: %s: %s\n", argv[2], strerror(errno));
  return 127;
}
