/*
 * test-os.c - the OS and process utilities of os.c, each checked against
 * what the system call or libc says, with libuv's error rules: a NULL
 * argument or a zero size is LURE_EINVAL, a short buffer LURE_ENOBUFS with
 * the size needed written back.
 *
 * Each test runs in its own process (CK_FORK), so changing the title, the
 * environment, the cwd or the nice value touches no other test; the tests
 * still put back what the runner itself uses (its argv area, $HOME).
 */
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include "harness.h"

/* Read a small file into buf (terminated); the byte count, or -1. */
static ssize_t read_file(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "r");
  size_t n;

  if (f == NULL)
    return -1;
  n = fread(buf, 1, len - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (ssize_t) n;
}

/* ---- lure_sleep, lure_exepath ---------------------------------------------- */

START_TEST(os_sleep) {
  uint64_t t0 = lure_hrtime();

  lure_sleep(60);
  ck_assert_uint_ge(lt_ms_since(t0), 60);
  t0 = lure_hrtime();
  lure_sleep(0);
  ck_assert_uint_lt(lt_ms_since(t0), 1000);
}
END_TEST

START_TEST(os_exepath) {
  char want[PATH_MAX];
  char buf[PATH_MAX];
  size_t size;
  ssize_t n;

  n = readlink("/proc/self/exe", want, sizeof(want) - 1);
  ck_assert_int_gt(n, 0);
  want[n] = '\0';
  size = sizeof(buf);
  ck_assert_int_eq(lure_exepath(buf, &size), 0);
  ck_assert_str_eq(buf, want);
  ck_assert_uint_eq(size, (size_t) n);

  /* A short buffer truncates, as in libuv. */
  memset(buf, 'Z', sizeof(buf));
  size = 1;
  ck_assert_int_eq(lure_exepath(buf, &size), 0);
  ck_assert_uint_eq(size, 0);
  ck_assert_int_eq(buf[0], '\0');
  memset(buf, 'Z', sizeof(buf));
  size = 2;
  ck_assert_int_eq(lure_exepath(buf, &size), 0);
  ck_assert_uint_eq(size, 1);
  ck_assert_int_eq(buf[0], want[0]);
  ck_assert_int_eq(buf[1], '\0');

  size = sizeof(buf);
  ck_assert_int_eq(lure_exepath(NULL, &size), LURE_EINVAL);
  ck_assert_int_eq(lure_exepath(buf, NULL), LURE_EINVAL);
  size = 0;
  ck_assert_int_eq(lure_exepath(buf, &size), LURE_EINVAL);
}
END_TEST

/* ---- the process title ----------------------------------------------------- */

/* With an argv of the caller's own (not the kernel's argv area): a usable
 * copy, a title as long as the contiguous arguments, and the caller's
 * strings left alone. */
START_TEST(os_title_private_argv) {
  static char area[] = "prog\0-a\0bb";   /* 11 bytes, contiguous */
  char other[] = "elsewhere";
  char saved[sizeof(area)];
  char *argv[4];
  char **copy;
  char buf[64];

  /* Before lure_setup_args(): no room for a title, as libuv. */
  ck_assert_int_eq(lure_set_process_title("x"), LURE_ENOBUFS);
  ck_assert_int_eq(lure_get_process_title(buf, sizeof(buf)), LURE_ENOBUFS);

  ck_assert_ptr_eq(lure_setup_args(0, NULL), NULL);
  argv[0] = area;
  argv[1] = area + 5;
  argv[2] = area + 8;
  argv[3] = other;
  ck_assert_ptr_eq(lure_setup_args(0, argv), argv);
  ck_assert_ptr_eq(lure_setup_args(-1, argv), argv);
  memcpy(saved, area, sizeof(area));

  copy = lure_setup_args(4, argv);
  ck_assert_ptr_nonnull(copy);
  ck_assert_ptr_ne(copy, argv);
  ck_assert_str_eq(copy[0], "prog");
  ck_assert_str_eq(copy[1], "-a");
  ck_assert_str_eq(copy[2], "bb");
  ck_assert_str_eq(copy[3], "elsewhere");
  ck_assert_ptr_null(copy[4]);
  ck_assert_ptr_ne(copy[0], area);

  ck_assert_int_eq(lure_get_process_title(buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "prog");

  /* Room: "prog\0-a\0bb\0" = 11 bytes, so 10 characters. */
  ck_assert_int_eq(lure_set_process_title("a title of some length"), 0);
  ck_assert_int_eq(lure_get_process_title(buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "a title of");
  ck_assert_int_eq(lure_get_process_title(buf, 11), 0);
  ck_assert_int_eq(lure_get_process_title(buf, 10), LURE_ENOBUFS);
  ck_assert_int_eq(lure_set_process_title("%s%s%n"), 0);
  ck_assert_int_eq(lure_get_process_title(buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, "%s%s%n");
  ck_assert_int_eq(lure_set_process_title(""), 0);
  ck_assert_int_eq(lure_get_process_title(buf, 1), 0);
  ck_assert_str_eq(buf, "");

  /* Not the kernel's argv area: never written. */
  ck_assert_int_eq(memcmp(area, saved, sizeof(area)), 0);
  ck_assert_str_eq(copy[0], "prog");

  ck_assert_int_eq(lure_get_process_title(NULL, 100), LURE_EINVAL);
  ck_assert_int_eq(lure_get_process_title(buf, 0), LURE_EINVAL);
  ck_assert_int_eq(lure_set_process_title(NULL), LURE_EINVAL);
}
END_TEST

/* The runner's real argv, rebuilt from the kernel's arg_start..arg_end. */
static int real_argv(char **argv, int max, char **start, size_t *len) {
  char buf[2048];
  unsigned long long a;
  unsigned long long e;
  char *p;
  char *s;
  int field;
  int argc = 0;

  if (read_file("/proc/self/stat", buf, sizeof(buf)) <= 0)
    return -1;
  p = strrchr(buf, ')') + 1;
  for (field = 3; field < 48; field++)
    p = strchr(p + 1, ' ');
  if (sscanf(p, " %llu %llu", &a, &e) != 2)
    return -1;
  *start = (char *) (uintptr_t) a;
  *len = (size_t) (e - a);
  for (s = *start; s < *start + *len && argc < max; s += strlen(s) + 1)
    argv[argc++] = s;
  return argc;
}

START_TEST(os_title_real_argv) {
  const char *title = "lure-title-test";  /* 15 bytes: all of it in comm */
  char *argv[64];
  char *area;
  char *saved;
  size_t len;
  char buf[4096];
  char **copy;
  int argc;
  ssize_t n;

  argc = real_argv(argv, 64, &area, &len);
  ck_assert_int_gt(argc, 0);
  saved = malloc(len);
  ck_assert_ptr_nonnull(saved);
  memcpy(saved, area, len);

  copy = lure_setup_args(argc, argv);
  ck_assert_ptr_ne(copy, argv);
  ck_assert_str_eq(copy[0], saved);
  ck_assert_int_eq(lure_get_process_title(buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, saved);

  if (len <= strlen(title)) {
    /* "./x" with no arguments: too little room to check the whole title. */
    memcpy(area, saved, len);
    free(saved);
    return;
  }
  ck_assert_int_eq(lure_set_process_title(title), 0);
  ck_assert_int_eq(lure_get_process_title(buf, sizeof(buf)), 0);
  ck_assert_str_eq(buf, title);
  /* What ps(1) reads: the argv area, and the thread's name. */
  n = read_file("/proc/self/cmdline", buf, sizeof(buf));
  ck_assert_int_ge(n, (ssize_t) strlen(title));
  ck_assert_str_eq(buf, title);
  n = read_file("/proc/self/comm", buf, sizeof(buf));
  ck_assert_int_gt(n, 0);
  buf[strcspn(buf, "\n")] = '\0';
  ck_assert_str_eq(buf, title);
  /* The copy is not the area. */
  ck_assert_str_eq(copy[0], saved);

  memcpy(area, saved, len);
  free(saved);
}
END_TEST

/* ---- lure_library_shutdown ------------------------------------------------- */

static pid_t worker_tid;
static int after_status = 1;

static void tid_work_cb(lure_work_t *req) {
  worker_tid = (pid_t) syscall(SYS_gettid);
}

static void tid_after_cb(lure_work_t *req, int status) {
  after_status = status;
}

START_TEST(os_library_shutdown) {
  static char area[] = "prog";
  char *argv[] = { area, NULL };
  char path[64];
  char buf[16];
  lure_loop_t loop;
  lure_work_t req;
  int i;

  ck_assert_ptr_nonnull(lure_setup_args(1, argv));
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_queue_work(&loop, &req, tid_work_cb, tid_after_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(after_status, 0);
  ck_assert_int_gt(worker_tid, 0);
  snprintf(path, sizeof(path), "/proc/self/task/%d", (int) worker_tid);
  ck_assert_int_eq(access(path, F_OK), 0);
  lt_loop_finish(&loop);

  /* The workers are joined: their tasks are gone once it returns.  The
   * kernel wakes pthread_join() when the thread's tid is cleared, a little
   * before it removes the task from /proc (release_task): under load that
   * took a moment (make distcheck saw the entry right after the call), so
   * give it up to 2 s; a worker left running keeps it for good. */
  lure_library_shutdown();
  for (i = 0; i < 2000 && access(path, F_OK) == 0; i++)
    lt_sleep_ms(1);
  ck_assert_int_eq(access(path, F_OK), -1);
  /* The argv copy and the title are released. */
  ck_assert_int_eq(lure_get_process_title(buf, sizeof(buf)), LURE_ENOBUFS);
  /* Later calls do nothing. */
  lure_library_shutdown();
  lure_library_shutdown();

  /* The pool starts again on demand. */
  worker_tid = 0;
  after_status = 1;
  lt_loop_init(&loop);
  ck_assert_int_eq(lure_queue_work(&loop, &req, tid_work_cb, tid_after_cb), 0);
  ck_assert_int_eq(lure_run(&loop, LURE_RUN_DEFAULT), 0);
  ck_assert_int_eq(after_status, 0);
  ck_assert_int_gt(worker_tid, 0);
  lt_loop_finish(&loop);
}
END_TEST

/* ---- network interfaces ----------------------------------------------------- */

START_TEST(os_interface_addresses) {
  lure_interface_address_t *a;
  struct ifaddrs *addrs;
  struct ifaddrs *ent;
  char name[64];
  int want = 0;
  int count;
  int lo4 = 0;
  int i;

  ck_assert_int_eq(getifaddrs(&addrs), 0);
  for (ent = addrs; ent != NULL; ent = ent->ifa_next)
    if ((ent->ifa_flags & IFF_UP) && (ent->ifa_flags & IFF_RUNNING) &&
        ent->ifa_addr != NULL && (ent->ifa_addr->sa_family == AF_INET ||
                                  ent->ifa_addr->sa_family == AF_INET6))
      want++;
  freeifaddrs(addrs);

  ck_assert_int_eq(lure_interface_addresses(&a, &count), 0);
  ck_assert_int_eq(count, want);
  for (i = 0; i < count; i++) {
    int fam = a[i].address.address4.sin_family;

    ck_assert_ptr_nonnull(a[i].name);
    ck_assert(fam == AF_INET || fam == AF_INET6);
    ck_assert_uint_ne(if_nametoindex(a[i].name), 0);
    ck_assert_int_eq(lure_ip_name((const struct sockaddr *) &a[i].address,
                                  name, sizeof(name)), 0);
    if (strcmp(name, "127.0.0.1") == 0) {
      lo4 = 1;
      ck_assert_int_eq(a[i].is_internal, 1);
      ck_assert_int_eq(a[i].netmask.netmask4.sin_family, AF_INET);
      ck_assert_int_eq(lure_ip4_name(&a[i].netmask.netmask4, name,
                                     sizeof(name)), 0);
      ck_assert_str_eq(name, "255.0.0.0");
    }
  }
  if (if_nametoindex("lo") != 0)
    ck_assert_int_eq(lo4, 1);
  lure_free_interface_addresses(a, count);

  ck_assert_int_eq(lure_interface_addresses(NULL, &count), LURE_EINVAL);
  ck_assert_int_eq(lure_interface_addresses(&a, NULL), LURE_EINVAL);
  lure_free_interface_addresses(NULL, 0);
}
END_TEST

START_TEST(os_if_indextoname) {
  unsigned int lo = if_nametoindex("lo");
  char want[IF_NAMESIZE];
  char buf[LURE_IF_NAMESIZE];
  size_t size;
  int err;

  if (lo == 0)
    return;  /* no loopback in this network namespace */
  size = sizeof(buf);
  ck_assert_int_eq(lure_if_indextoname(lo, buf, &size), 0);
  ck_assert_str_eq(buf, "lo");
  ck_assert_uint_eq(size, 2);
  size = sizeof(buf);
  ck_assert_int_eq(lure_if_indextoiid(lo, buf, &size), 0);
  ck_assert_str_eq(buf, "lo");

  memset(buf, 'Z', sizeof(buf));
  size = 2;
  ck_assert_int_eq(lure_if_indextoname(lo, buf, &size), LURE_ENOBUFS);
  ck_assert_uint_eq(size, 3);
  ck_assert_int_eq(buf[0], 'Z');
  ck_assert_int_eq(lure_if_indextoname(lo, buf, &size), 0);

  /* No such interface: libc's errno, negated. */
  errno = 0;
  ck_assert_ptr_null(if_indextoname(0x7fffffff, want));
  err = errno;
  size = sizeof(buf);
  ck_assert_int_eq(lure_if_indextoname(0x7fffffff, buf, &size), -err);

  ck_assert_int_eq(lure_if_indextoname(lo, NULL, &size), LURE_EINVAL);
  ck_assert_int_eq(lure_if_indextoname(lo, buf, NULL), LURE_EINVAL);
  size = 0;
  ck_assert_int_eq(lure_if_indextoname(lo, buf, &size), LURE_EINVAL);
}
END_TEST

START_TEST(os_ip_name) {
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } u;
  char dst[INET6_ADDRSTRLEN];

  ck_assert_int_eq(lure_ip4_addr("192.168.0.1", 80, &u.in4), 0);
  ck_assert_int_eq(lure_ip_name(&u.sa, dst, sizeof(dst)), 0);
  ck_assert_str_eq(dst, "192.168.0.1");
  ck_assert_int_eq(lure_ip6_addr("fe80::2acf:daff:fedd:342a", 80, &u.in6), 0);
  ck_assert_int_eq(lure_ip_name(&u.sa, dst, sizeof(dst)), 0);
  ck_assert_str_eq(dst, "fe80::2acf:daff:fedd:342a");
  ck_assert_int_eq(lure_ip_name(&u.sa, dst, 4), LURE_ENOSPC);
  u.sa.sa_family = AF_UNIX;
  ck_assert_int_eq(lure_ip_name(&u.sa, dst, sizeof(dst)), LURE_EAFNOSUPPORT);
  ck_assert_int_eq(lure_ip_name(NULL, dst, sizeof(dst)), LURE_EINVAL);
}
END_TEST

/* ---- the process, its user, its host --------------------------------------- */

START_TEST(os_pids) {
  ck_assert_int_eq(lure_os_getpid(), getpid());
  ck_assert_int_eq(lure_os_getppid(), getppid());
  ck_assert_int_gt(lure_os_getppid(), 0);
}
END_TEST

START_TEST(os_priority) {
  int orig;
  int prio;
  int i;

  ck_assert_int_eq(lure_os_getpriority(0, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_os_getpriority(0, &orig), 0);
  errno = 0;
  ck_assert_int_eq(orig, getpriority(PRIO_PROCESS, 0));

  /* Every value from the highest to the lowest; raising it back needs
   * CAP_SYS_NICE, hence EACCES (or EPERM) for others. */
  for (i = LURE_PRIORITY_HIGHEST; i <= LURE_PRIORITY_LOW; i++) {
    int r = lure_os_setpriority(0, i);

    if (r == LURE_EACCES || r == LURE_EPERM)
      continue;
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(lure_os_getpriority(0, &prio), 0);
    ck_assert_int_eq(prio, i);
    ck_assert_int_eq(getpriority(PRIO_PROCESS, 0), i);
    ck_assert_int_eq(lure_os_getpriority(lure_os_getpid(), &prio), 0);
    ck_assert_int_eq(prio, i);
  }
  ck_assert_int_eq(lure_os_setpriority(0, LURE_PRIORITY_HIGHEST - 1),
                   LURE_EINVAL);
  ck_assert_int_eq(lure_os_setpriority(0, LURE_PRIORITY_LOW + 1), LURE_EINVAL);
  /* A process that does not exist (pids stop below 2^22). */
  ck_assert_int_eq(lure_os_getpriority(0x7ffffff0, &prio), LURE_ESRCH);
  ck_assert_int_eq(lure_os_setpriority(0x7ffffff0, 0), LURE_ESRCH);
  lure_os_setpriority(0, orig);

  ck_assert_int_eq(LURE_PRIORITY_LOW, 19);
  ck_assert_int_eq(LURE_PRIORITY_BELOW_NORMAL, 10);
  ck_assert_int_eq(LURE_PRIORITY_NORMAL, 0);
  ck_assert_int_eq(LURE_PRIORITY_ABOVE_NORMAL, -7);
  ck_assert_int_eq(LURE_PRIORITY_HIGH, -14);
  ck_assert_int_eq(LURE_PRIORITY_HIGHEST, -20);
}
END_TEST

START_TEST(os_gethostname) {
  struct utsname u;
  char buf[LURE_MAXHOSTNAMESIZE];
  size_t size;
  size_t len;

  ck_assert_int_eq(uname(&u), 0);
  len = strlen(u.nodename);
  size = sizeof(buf);
  ck_assert_int_eq(lure_os_gethostname(buf, &size), 0);
  ck_assert_str_eq(buf, u.nodename);
  ck_assert_uint_eq(size, len);

  buf[0] = 'Z';
  size = len;  /* no room for the terminator */
  ck_assert_int_eq(lure_os_gethostname(buf, &size), LURE_ENOBUFS);
  ck_assert_uint_eq(size, len + 1);
  ck_assert_int_eq(buf[0], 'Z');
  ck_assert_int_eq(lure_os_gethostname(buf, &size), 0);
  ck_assert_uint_eq(size, len);

  size = 1;
  ck_assert_int_eq(lure_os_gethostname(NULL, &size), LURE_EINVAL);
  ck_assert_int_eq(lure_os_gethostname(buf, NULL), LURE_EINVAL);
  size = 0;
  ck_assert_int_eq(lure_os_gethostname(buf, &size), LURE_EINVAL);
}
END_TEST

START_TEST(os_uname) {
  struct utsname u;
  lure_utsname_t l;

  ck_assert_int_eq(lure_os_uname(NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_os_uname(&l), 0);
  ck_assert_int_eq(uname(&u), 0);
  ck_assert_str_eq(l.sysname, u.sysname);
  ck_assert_str_eq(l.release, u.release);
  ck_assert_str_eq(l.version, u.version);
  ck_assert_str_eq(l.machine, u.machine);
  ck_assert_str_eq(l.sysname, "Linux");
}
END_TEST

START_TEST(os_get_passwd) {
  struct passwd *pw = getpwuid(geteuid());
  lure_passwd_t p;

  ck_assert_int_eq(lure_os_get_passwd(NULL), LURE_EINVAL);
  if (pw == NULL) {
    /* A uid without an entry (some containers). */
    ck_assert_int_eq(lure_os_get_passwd(&p), LURE_ENOENT);
    return;
  }
  ck_assert_int_eq(lure_os_get_passwd(&p), 0);
  ck_assert_str_eq(p.username, pw->pw_name);
  ck_assert_str_eq(p.homedir, pw->pw_dir);
  ck_assert_str_eq(p.shell, pw->pw_shell);
  ck_assert_uint_eq(p.uid, geteuid());
  ck_assert_uint_eq(p.gid, pw->pw_gid);
  lure_os_free_passwd(&p);
  ck_assert_ptr_null(p.username);
  ck_assert_ptr_null(p.homedir);
  ck_assert_ptr_null(p.shell);
  lure_os_free_passwd(&p);  /* twice: harmless */
  lure_os_free_passwd(NULL);
}
END_TEST

/* ---- the environment -------------------------------------------------------- */

START_TEST(os_env) {
  const char *name = "LURE_TEST_FOO";
  const char *name2 = "LURE_TEST_FOO2";
  lure_env_item_t *items;
  char buf[10];
  size_t size;
  int count;
  int found;
  int i;

  ck_assert_int_eq(lure_os_setenv(NULL, "x"), LURE_EINVAL);
  ck_assert_int_eq(lure_os_setenv(name, NULL), LURE_EINVAL);
  ck_assert_int_eq(lure_os_unsetenv(NULL), LURE_EINVAL);
  size = sizeof(buf);
  ck_assert_int_eq(lure_os_getenv(NULL, buf, &size), LURE_EINVAL);
  ck_assert_int_eq(lure_os_getenv(name, NULL, &size), LURE_EINVAL);
  ck_assert_int_eq(lure_os_getenv(name, buf, NULL), LURE_EINVAL);
  size = 0;
  ck_assert_int_eq(lure_os_getenv(name, buf, &size), LURE_EINVAL);
  /* What setenv(3) refuses. */
  ck_assert_int_eq(lure_os_setenv("A=B", "x"), LURE_EINVAL);
  ck_assert_int_eq(lure_os_setenv("", "x"), LURE_EINVAL);

  ck_assert_int_eq(lure_os_setenv(name, "123456789"), 0);
  ck_assert_str_eq(getenv(name), "123456789");
  size = sizeof(buf);
  ck_assert_int_eq(lure_os_getenv(name, buf, &size), 0);
  ck_assert_str_eq(buf, "123456789");
  ck_assert_uint_eq(size, 9);
  buf[0] = 'Z';
  size = 9;
  ck_assert_int_eq(lure_os_getenv(name, buf, &size), LURE_ENOBUFS);
  ck_assert_uint_eq(size, 10);
  ck_assert_int_eq(buf[0], 'Z');

  ck_assert_int_eq(lure_os_unsetenv(name), 0);
  ck_assert_ptr_null(getenv(name));
  size = sizeof(buf);
  ck_assert_int_eq(lure_os_getenv(name, buf, &size), LURE_ENOENT);
  ck_assert_int_eq(lure_os_unsetenv(name), 0);

  /* Empty is a value, not an absence. */
  ck_assert_int_eq(lure_os_setenv(name, ""), 0);
  size = sizeof(buf);
  ck_assert_int_eq(lure_os_getenv(name, buf, &size), 0);
  ck_assert_uint_eq(size, 0);
  ck_assert_str_eq(buf, "");

  ck_assert_int_eq(lure_os_setenv(name, "a=b=c"), 0);
  ck_assert_int_eq(lure_os_setenv(name2, ""), 0);
  ck_assert_int_eq(lure_os_environ(&items, &count), 0);
  ck_assert_int_gt(count, 1);
  found = 0;
  for (i = 0; i < count; i++) {
    ck_assert_ptr_nonnull(items[i].name);
    ck_assert_ptr_nonnull(items[i].value);
    ck_assert_str_eq(getenv(items[i].name), items[i].value);
    if (strcmp(items[i].name, name) == 0) {
      ck_assert_str_eq(items[i].value, "a=b=c");
      found++;
    } else if (strcmp(items[i].name, name2) == 0) {
      ck_assert_str_eq(items[i].value, "");
      found++;
    }
  }
  ck_assert_int_eq(found, 2);
  lure_os_free_environ(items, count);
  lure_os_free_environ(NULL, 0);
  ck_assert_int_eq(lure_os_environ(NULL, &count), LURE_EINVAL);
  ck_assert_int_eq(lure_os_environ(&items, NULL), LURE_EINVAL);

  /* Large values go through whole. */
  for (i = 1; i <= 4; i++) {
    size_t n = (size_t) i * 32768;
    char *p = malloc(n + 1);

    ck_assert_ptr_nonnull(p);
    memset(p, 'x', n);
    p[n] = '\0';
    ck_assert_int_eq(lure_os_setenv(name, p), 0);
    memset(p, 0, n + 1);
    size = n + 1;
    ck_assert_int_eq(lure_os_getenv(name, p, &size), 0);
    ck_assert_uint_eq(size, n);
    ck_assert_uint_eq(strspn(p, "x"), n);
    free(p);
  }
  ck_assert_int_eq(lure_os_unsetenv(name), 0);
  ck_assert_int_eq(lure_os_unsetenv(name2), 0);
}
END_TEST

START_TEST(os_homedir) {
  char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
  struct passwd *pw;
  char buf[PATH_MAX];
  size_t size;

  ck_assert_int_eq(setenv("HOME", "/some/where", 1), 0);
  size = sizeof(buf);
  ck_assert_int_eq(lure_os_homedir(buf, &size), 0);
  ck_assert_str_eq(buf, "/some/where");
  ck_assert_uint_eq(size, 11);
  size = 1;
  ck_assert_int_eq(lure_os_homedir(buf, &size), LURE_ENOBUFS);
  ck_assert_uint_eq(size, 12);

  /* Without $HOME: the passwd entry's directory. */
  ck_assert_int_eq(unsetenv("HOME"), 0);
  pw = getpwuid(geteuid());
  size = sizeof(buf);
  if (pw != NULL) {
    ck_assert_int_eq(lure_os_homedir(buf, &size), 0);
    ck_assert_str_eq(buf, pw->pw_dir);
    ck_assert_uint_eq(size, strlen(pw->pw_dir));
    size = 1;
    ck_assert_int_eq(lure_os_homedir(buf, &size), LURE_ENOBUFS);
    ck_assert_uint_eq(size, strlen(pw->pw_dir) + 1);
  } else {
    ck_assert_int_eq(lure_os_homedir(buf, &size), LURE_ENOENT);
  }

  size = sizeof(buf);
  ck_assert_int_eq(lure_os_homedir(NULL, &size), LURE_EINVAL);
  ck_assert_int_eq(lure_os_homedir(buf, NULL), LURE_EINVAL);
  size = 0;
  ck_assert_int_eq(lure_os_homedir(buf, &size), LURE_EINVAL);
  if (home != NULL)
    setenv("HOME", home, 1);
  free(home);
}
END_TEST

START_TEST(os_tmpdir) {
  char buf[PATH_MAX];
  size_t size;

  unsetenv("TMPDIR");
  unsetenv("TMP");
  unsetenv("TEMP");
  unsetenv("TEMPDIR");
  size = sizeof(buf);
  ck_assert_int_eq(lure_os_tmpdir(buf, &size), 0);
  ck_assert_str_eq(buf, "/tmp");
  ck_assert_uint_eq(size, 4);

  /* The order of the variables; an empty one does not count. */
  setenv("TEMPDIR", "/d", 1);
  setenv("TEMP", "/c", 1);
  setenv("TMP", "/b", 1);
  setenv("TMPDIR", "", 1);
  size = sizeof(buf);
  ck_assert_int_eq(lure_os_tmpdir(buf, &size), 0);
  ck_assert_str_eq(buf, "/b");

  /* No trailing slash, and the size asked for is the exact one. */
  setenv("TMPDIR", "/var/tmp/", 1);
  size = 8;
  ck_assert_int_eq(lure_os_tmpdir(buf, &size), LURE_ENOBUFS);
  ck_assert_uint_eq(size, 9);
  ck_assert_int_eq(lure_os_tmpdir(buf, &size), 0);
  ck_assert_str_eq(buf, "/var/tmp");
  ck_assert_uint_eq(size, 8);
  setenv("TMPDIR", "/", 1);
  size = sizeof(buf);
  ck_assert_int_eq(lure_os_tmpdir(buf, &size), 0);
  ck_assert_str_eq(buf, "/");

  size = sizeof(buf);
  ck_assert_int_eq(lure_os_tmpdir(NULL, &size), LURE_EINVAL);
  ck_assert_int_eq(lure_os_tmpdir(buf, NULL), LURE_EINVAL);
  size = 0;
  ck_assert_int_eq(lure_os_tmpdir(buf, &size), LURE_EINVAL);
}
END_TEST

START_TEST(os_cwd_chdir) {
  char want[PATH_MAX];
  char buf[PATH_MAX];
  size_t size;
  size_t len;

  ck_assert_ptr_nonnull(getcwd(want, sizeof(want)));
  len = strlen(want);
  size = sizeof(buf);
  ck_assert_int_eq(lure_cwd(buf, &size), 0);
  ck_assert_str_eq(buf, want);
  ck_assert_uint_eq(size, len);

  size = 1;
  ck_assert_int_eq(lure_cwd(buf, &size), LURE_ENOBUFS);
  ck_assert_uint_eq(size, len + 1);
  ck_assert_int_eq(lure_cwd(buf, &size), 0);
  ck_assert_uint_eq(size, len);

  ck_assert_int_eq(lure_chdir("/"), 0);
  size = sizeof(buf);
  ck_assert_int_eq(lure_cwd(buf, &size), 0);
  ck_assert_str_eq(buf, "/");
  ck_assert_uint_eq(size, 1);
  ck_assert_int_eq(lure_chdir(want), 0);
  size = sizeof(buf);
  ck_assert_int_eq(lure_cwd(buf, &size), 0);
  ck_assert_str_eq(buf, want);

  ck_assert_int_eq(lure_chdir("/nonexistent/lure/dir"), LURE_ENOENT);
  ck_assert_int_eq(lure_chdir(NULL), LURE_EINVAL);
  size = sizeof(buf);
  ck_assert_int_eq(lure_cwd(NULL, &size), LURE_EINVAL);
  ck_assert_int_eq(lure_cwd(buf, NULL), LURE_EINVAL);
  size = 0;
  ck_assert_int_eq(lure_cwd(buf, &size), LURE_EINVAL);
}
END_TEST

START_TEST(os_translate_sys_error) {
  ck_assert_int_eq(lure_translate_sys_error(EINVAL), LURE_EINVAL);
  ck_assert_int_eq(lure_translate_sys_error(ENOENT), LURE_ENOENT);
  ck_assert_int_eq(lure_translate_sys_error(LURE_EPIPE), LURE_EPIPE);
  ck_assert_int_eq(lure_translate_sys_error(0), 0);
}
END_TEST

/* ---- resources --------------------------------------------------------------- */

static uint64_t meminfo_kb(const char *key) {
  char buf[8192];
  unsigned long long kb = 0;
  char *p;

  ck_assert_int_gt(read_file("/proc/meminfo", buf, sizeof(buf)), 0);
  p = strstr(buf, key);
  ck_assert_ptr_nonnull(p);
  sscanf(p + strlen(key), " %llu", &kb);
  return kb;
}

START_TEST(os_memory) {
  uint64_t total = lure_get_total_memory();
  uint64_t free_mem = lure_get_free_memory();
  uint64_t limit = lure_get_constrained_memory();
  uint64_t avail = meminfo_kb("MemAvailable:") * 1024;
  char buf[256];
  unsigned long pages;
  size_t rss;

  ck_assert_uint_eq(total, meminfo_kb("MemTotal:") * 1024);
  ck_assert_uint_gt(free_mem, 0);
  ck_assert_uint_gt(total, free_mem);
  /* Free memory moves; within 25% of what meminfo said a moment ago. */
  ck_assert_uint_lt(free_mem > avail ? free_mem - avail : avail - free_mem,
                    avail / 4 + 1);
  /* 0 is "no limit"; the unlimited sentinels of cgroup v1 never show. */
  ck_assert_uint_lt(limit, UINT64_C(0x7FFFFFFFFFF00000));

  ck_assert_int_eq(lure_resident_set_memory(&rss), 0);
  ck_assert_int_gt(read_file("/proc/self/statm", buf, sizeof(buf)), 0);
  ck_assert_int_eq(sscanf(buf, "%*u %lu", &pages), 1);
  ck_assert_uint_gt(rss, 0);
  ck_assert_uint_lt(rss > pages * 4096 ? rss - pages * 4096
                                       : pages * 4096 - rss,
                    (size_t) 8 << 20);
  ck_assert_int_eq(lure_resident_set_memory(NULL), LURE_EINVAL);
}
END_TEST

START_TEST(os_uptime_loadavg) {
  char buf[256];
  double up;
  double proc_up;
  double avg[3] = { -1, -1, -1 };
  double proc_avg[3];

  ck_assert_int_eq(lure_uptime(&up), 0);
  ck_assert_int_gt(read_file("/proc/uptime", buf, sizeof(buf)), 0);
  ck_assert_int_eq(sscanf(buf, "%lf", &proc_up), 1);
  ck_assert(up > 0);
  ck_assert(up - proc_up < 2 && proc_up - up < 2);
  ck_assert_int_eq(lure_uptime(NULL), LURE_EINVAL);

  lure_loadavg(avg);
  ck_assert_int_gt(read_file("/proc/loadavg", buf, sizeof(buf)), 0);
  ck_assert_int_eq(sscanf(buf, "%lf %lf %lf", &proc_avg[0], &proc_avg[1],
                          &proc_avg[2]), 3);
  ck_assert(avg[0] >= 0 && avg[1] >= 0 && avg[2] >= 0);
  /* The 15-minute figure moves slowly. */
  ck_assert(avg[2] - proc_avg[2] < 0.5 && proc_avg[2] - avg[2] < 0.5);
  lure_loadavg(NULL);
}
END_TEST

START_TEST(os_getrusage) {
  struct rusage before;
  struct rusage after;
  lure_rusage_t ru;
  volatile unsigned long spin = 0;
  unsigned long i;

  for (i = 0; i < 20000000; i++)
    spin += i;
  ck_assert_int_eq(getrusage(RUSAGE_SELF, &before), 0);
  ck_assert_int_eq(lure_getrusage(&ru), 0);
  ck_assert_int_eq(getrusage(RUSAGE_SELF, &after), 0);
  ck_assert_int_ge(ru.ru_utime.tv_sec, before.ru_utime.tv_sec);
  ck_assert_int_le(ru.ru_utime.tv_sec, after.ru_utime.tv_sec);
  ck_assert(ru.ru_utime.tv_usec >= 0 && ru.ru_utime.tv_usec < 1000000);
  ck_assert(ru.ru_stime.tv_usec >= 0 && ru.ru_stime.tv_usec < 1000000);
  ck_assert(ru.ru_utime.tv_sec > 0 || ru.ru_utime.tv_usec > 0);
  ck_assert_uint_ge(ru.ru_maxrss, (uint64_t) before.ru_maxrss);
  ck_assert_uint_le(ru.ru_maxrss, (uint64_t) after.ru_maxrss);
  ck_assert_uint_ge(ru.ru_minflt, (uint64_t) before.ru_minflt);
  ck_assert_uint_le(ru.ru_minflt, (uint64_t) after.ru_minflt);
  ck_assert_uint_ge(ru.ru_nvcsw, (uint64_t) before.ru_nvcsw);
  ck_assert_uint_le(ru.ru_nvcsw, (uint64_t) after.ru_nvcsw);
  ck_assert_int_eq(lure_getrusage(NULL), LURE_EINVAL);
}
END_TEST

START_TEST(os_gettimeofday) {
  struct timeval before;
  struct timeval after;
  lure_timeval64_t tv;
  int64_t us;

  ck_assert_int_eq(gettimeofday(&before, NULL), 0);
  ck_assert_int_eq(lure_gettimeofday(&tv), 0);
  ck_assert_int_eq(gettimeofday(&after, NULL), 0);
  us = tv.tv_sec * 1000000 + tv.tv_usec;
  ck_assert_int_ge(us, (int64_t) before.tv_sec * 1000000 + before.tv_usec);
  ck_assert_int_le(us, (int64_t) after.tv_sec * 1000000 + after.tv_usec);
  ck_assert(tv.tv_usec >= 0 && tv.tv_usec < 1000000);
  ck_assert_int_eq(lure_gettimeofday(NULL), LURE_EINVAL);
}
END_TEST

START_TEST(os_parallelism_cpu_info) {
  lure_cpu_info_t *ci;
  cpu_set_t set;
  int count;
  int i;

  ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
  ck_assert_uint_eq(lure_available_parallelism(), (unsigned) CPU_COUNT(&set));
  ck_assert_uint_ge(lure_available_parallelism(), 1);

  ck_assert_int_eq(lure_cpu_info(&ci, &count), 0);
  ck_assert_int_eq(count, (int) sysconf(_SC_NPROCESSORS_ONLN));
  for (i = 0; i < count; i++) {
    ck_assert_ptr_nonnull(ci[i].model);
    ck_assert_int_gt((int) strlen(ci[i].model), 0);
    ck_assert_int_ge(ci[i].speed, 0);
    /* Every online CPU has run or idled since boot. */
    ck_assert_uint_gt(ci[i].cpu_times.user + ci[i].cpu_times.sys +
                          ci[i].cpu_times.idle + ci[i].cpu_times.nice, 0);
  }
  lure_free_cpu_info(ci, count);
  lure_free_cpu_info(NULL, 0);
  ck_assert_int_eq(lure_cpu_info(NULL, &count), LURE_EINVAL);
  ck_assert_int_eq(lure_cpu_info(&ci, NULL), LURE_EINVAL);
}
END_TEST

LT_SUITE(os) {
  Suite *s = suite_create("os");
  TCase *tc = lt_tcase("os", 10);

  tcase_add_test(tc, os_sleep);
  tcase_add_test(tc, os_exepath);
  tcase_add_test(tc, os_title_private_argv);
  tcase_add_test(tc, os_title_real_argv);
  tcase_add_test(tc, os_library_shutdown);
  tcase_add_test(tc, os_interface_addresses);
  tcase_add_test(tc, os_if_indextoname);
  tcase_add_test(tc, os_ip_name);
  tcase_add_test(tc, os_pids);
  tcase_add_test(tc, os_priority);
  tcase_add_test(tc, os_gethostname);
  tcase_add_test(tc, os_uname);
  tcase_add_test(tc, os_get_passwd);
  tcase_add_test(tc, os_env);
  tcase_add_test(tc, os_homedir);
  tcase_add_test(tc, os_tmpdir);
  tcase_add_test(tc, os_cwd_chdir);
  tcase_add_test(tc, os_translate_sys_error);
  tcase_add_test(tc, os_memory);
  tcase_add_test(tc, os_uptime_loadavg);
  tcase_add_test(tc, os_getrusage);
  tcase_add_test(tc, os_gettimeofday);
  tcase_add_test(tc, os_parallelism_cpu_info);
  suite_add_tcase(s, tc);
  return s;
}
