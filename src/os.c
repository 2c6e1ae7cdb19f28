/*
 * os.c - libuv's portable OS and process calls: the process title, the
 * environment, the user, the host, memory and CPU figures, interfaces.
 *
 * Every function keeps libuv 1.44's signature and its rules, so that the
 * uv.h layer maps them by name only:
 *   - a string goes into a caller's buffer whose size is passed by pointer;
 *     on success *size becomes the string's length (terminator excluded),
 *     and when the buffer is too small the call fails with LURE_ENOBUFS,
 *     writes nothing, and sets *size to the size needed (terminator
 *     included), so that a second call with that size succeeds;
 *   - a NULL pointer, or a zero size, is LURE_EINVAL;
 *   - "no value" figures (memory, load) are 0, never an error.
 * Where libuv would crash on a NULL argument (lure_interface_addresses,
 * lure_cpu_info, lure_getrusage, lure_set_process_title, ...), lure returns
 * LURE_EINVAL instead.
 *
 * Field notes:
 *   - The process title.  ps(1) shows /proc/PID/cmdline, which the kernel
 *     reads from the argv area of the stack (mm->arg_start..arg_end), so a
 *     new title has to be written over the original argv strings; that is
 *     why lure_setup_args() copies argv first.  libuv assumes the argv it
 *     is given IS that area and writes over whatever argv[0] points to.
 *     lure checks first: fields 48 and 49 of /proc/self/stat (Linux 3.5)
 *     give arg_start and arg_end, and only when argv[0] is arg_start does
 *     lure write there.  With any other argv (a test's, a wrapper's) the
 *     title lives in lure's own buffer only, with the same capacity and so
 *     the same truncation as libuv.  prctl(PR_SET_NAME) also renames the
 *     calling thread (/proc/PID/comm, 15 bytes), as libuv does.
 *   - Constrained memory: libuv 1.44 reads only the cgroup v1 file
 *     /sys/fs/cgroup/memory/memory.limit_in_bytes and returns the
 *     "unlimited" sentinel (2^63 - 4096) as a limit.  lure follows the
 *     process's own cgroup (v2 memory.max, else v1), takes the smallest
 *     limit on the way up to the root, and returns 0 for "no limit", as
 *     libuv documents.
 *   - Uptime: CLOCK_BOOTTIME, which counts suspend and is what /proc/uptime
 *     prints, without opening a file; /proc/uptime is the fallback.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include "internal.h"

extern char **environ;

/* ---- small helpers -------------------------------------------------------- */

/* Read a whole (small) file into buf, terminated.  0 or a negative errno. */
static int lure__os_slurp(const char *path, char *buf, size_t len) {
  size_t got = 0;
  ssize_t n;
  int fd;

  do
    fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return -errno;
  while (got < len - 1) {
    n = read(fd, buf + got, len - 1 - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = -errno;
      close(fd);
      return err;
    }
    if (n == 0)
      break;
    got += (size_t) n;
  }
  close(fd);
  buf[got] = '\0';
  return 0;
}

/* Hand a string back under the buffer rules stated on top (libuv's: on
 * success *size is the length; too small, LURE_ENOBUFS and *size the room
 * needed, terminator included).  Also used by fs events' and fs polls'
 * getpath. */
int lure__copy_out(const char *s, size_t len, char *buffer, size_t *size) {
  if (len >= *size) {
    *size = len + 1;
    return LURE_ENOBUFS;
  }
  memcpy(buffer, s, len);
  buffer[len] = '\0';
  *size = len;
  return 0;
}

/* ---- the process title ---------------------------------------------------- */

static pthread_mutex_t lure__pt_mutex = PTHREAD_MUTEX_INITIALIZER;
static char **lure__pt_argv;  /* the copy lure_setup_args() returned */
static char *lure__pt_title;  /* the title, lure__pt_cap bytes, terminated */
static size_t lure__pt_len;
static size_t lure__pt_cap;
static char *lure__pt_area;   /* the kernel's argv area, or NULL */

/* arg_start and arg_end of this process, from /proc/self/stat. */
static int lure__os_arg_area(uintptr_t *start, uintptr_t *end) {
  char buf[2048];
  unsigned long long v[2];
  char *p;
  int field;

  if (lure__os_slurp("/proc/self/stat", buf, sizeof(buf)) != 0)
    return -1;
  /* Field 2, the command name, may hold spaces and parentheses; the fields
   * after the last ')' are plain numbers, starting with field 3. */
  p = strrchr(buf, ')');
  if (p == NULL)
    return -1;
  p++;
  for (field = 3; field < 48; field++) {
    p = strchr(p + 1, ' ');
    if (p == NULL)
      return -1;
  }
  if (sscanf(p, " %llu %llu", &v[0], &v[1]) != 2 || v[0] == 0 || v[1] <= v[0])
    return -1;
  *start = (uintptr_t) v[0];
  *end = (uintptr_t) v[1];
  return 0;
}

LURE_EXTERN char **lure_setup_args(int argc, char **argv) {
  uintptr_t start;
  uintptr_t end;
  char **copy;
  char *title;
  char *s;
  size_t size;
  size_t cap;
  size_t n;
  int i;

  if (argc <= 0 || argv == NULL)
    return argv;
  size = (size_t) (argc + 1) * sizeof(char *);
  for (i = 0; i < argc; i++) {
    if (argv[i] == NULL)
      return argv;
    size += strlen(argv[i]) + 1;
  }

  /* The room for a title: argv[0] and every argument that follows it
   * without a gap, the way the kernel lays out a new process's argv. */
  cap = strlen(argv[0]) + 1;
  for (i = 1; i < argc && argv[i] == argv[0] + cap; i++)
    cap += strlen(argv[i]) + 1;

  copy = lure__malloc(size);
  title = lure__malloc(cap);
  if (copy == NULL || title == NULL) {
    lure__free(copy);
    lure__free(title);
    return argv;
  }
  s = (char *) &copy[argc + 1];
  for (i = 0; i < argc; i++) {
    n = strlen(argv[i]) + 1;
    memcpy(s, argv[i], n);
    copy[i] = s;
    s += n;
  }
  copy[argc] = NULL;
  memcpy(title, argv[0], strlen(argv[0]) + 1);

  pthread_mutex_lock(&lure__pt_mutex);
  /* A second call replaces the title's state; the first copy of argv stays
   * allocated, since the caller may still use it. */
  lure__free(lure__pt_title);
  lure__pt_argv = copy;
  lure__pt_title = title;
  lure__pt_len = strlen(title);
  lure__pt_cap = cap;
  lure__pt_area = NULL;
  if (lure__os_arg_area(&start, &end) == 0 && (uintptr_t) argv[0] == start &&
      start + cap <= end)
    lure__pt_area = argv[0];
  pthread_mutex_unlock(&lure__pt_mutex);
  return copy;
}

LURE_EXTERN int lure_set_process_title(const char *title) {
  size_t len;

  if (title == NULL)
    return LURE_EINVAL;
  pthread_mutex_lock(&lure__pt_mutex);
  if (lure__pt_title == NULL) {
    /* lure_setup_args() was not called, or failed: no room. */
    pthread_mutex_unlock(&lure__pt_mutex);
    return LURE_ENOBUFS;
  }
  len = strlen(title);
  if (len >= lure__pt_cap)
    len = lure__pt_cap - 1;
  memcpy(lure__pt_title, title, len);
  memset(lure__pt_title + len, '\0', lure__pt_cap - len);
  lure__pt_len = len;
  if (lure__pt_area != NULL)
    memcpy(lure__pt_area, lure__pt_title, lure__pt_cap);
  /* The kernel keeps the first 15 bytes. */
  prctl(PR_SET_NAME, (unsigned long) lure__pt_title, 0, 0, 0);
  pthread_mutex_unlock(&lure__pt_mutex);
  return 0;
}

LURE_EXTERN int lure_get_process_title(char *buffer, size_t size) {
  if (buffer == NULL || size == 0)
    return LURE_EINVAL;
  pthread_mutex_lock(&lure__pt_mutex);
  if (lure__pt_title == NULL || size <= lure__pt_len) {
    pthread_mutex_unlock(&lure__pt_mutex);
    return LURE_ENOBUFS;
  }
  memcpy(buffer, lure__pt_title, lure__pt_len + 1);
  pthread_mutex_unlock(&lure__pt_mutex);
  return 0;
}

/* ---- process set-up and tear-down ---------------------------------------- */

static int lure__os_shut_down;

LURE_EXTERN void lure_library_shutdown(void) {
  if (__atomic_exchange_n(&lure__os_shut_down, 1, __ATOMIC_ACQ_REL))
    return;
  lure__threadpool_shutdown();
  pthread_mutex_lock(&lure__pt_mutex);
  lure__free(lure__pt_argv);
  lure__free(lure__pt_title);
  lure__pt_argv = NULL;
  lure__pt_title = NULL;
  lure__pt_len = 0;
  lure__pt_cap = 0;
  lure__pt_area = NULL;
  pthread_mutex_unlock(&lure__pt_mutex);
}

LURE_EXTERN void lure_sleep(unsigned int msec) {
  struct timespec ts;

  ts.tv_sec = msec / 1000;
  ts.tv_nsec = (long) (msec % 1000) * 1000000;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

LURE_EXTERN int lure_exepath(char *buffer, size_t *size) {
  ssize_t n;

  if (buffer == NULL || size == NULL || *size == 0)
    return LURE_EINVAL;
  /* As libuv: a short buffer truncates the path instead of failing. */
  n = 0;
  if (*size > 1) {
    n = readlink("/proc/self/exe", buffer, *size - 1);
    if (n < 0)
      return -errno;
  }
  buffer[n] = '\0';
  *size = (size_t) n;
  return 0;
}

/* ---- network interfaces --------------------------------------------------- */

/* The entries lure reports: up and running, with an IPv4 or IPv6 address. */
static int lure__os_ifa_wanted(const struct ifaddrs *ent) {
  if ((ent->ifa_flags & (IFF_UP | IFF_RUNNING)) != (IFF_UP | IFF_RUNNING))
    return 0;
  if (ent->ifa_addr == NULL)
    return 0;
  return ent->ifa_addr->sa_family == AF_INET ||
         ent->ifa_addr->sa_family == AF_INET6;
}

LURE_EXTERN int lure_interface_addresses(lure_interface_address_t **addresses,
                                         int *count) {
  lure_interface_address_t *a;
  struct ifaddrs *addrs;
  struct ifaddrs *ent;
  struct sockaddr_ll *sll;
  size_t nlen;
  int n;
  int i;

  if (addresses == NULL || count == NULL)
    return LURE_EINVAL;
  *addresses = NULL;
  *count = 0;
  if (getifaddrs(&addrs) != 0)
    return -errno;

  n = 0;
  for (ent = addrs; ent != NULL; ent = ent->ifa_next)
    if (lure__os_ifa_wanted(ent))
      n++;
  if (n == 0) {
    freeifaddrs(addrs);
    return 0;
  }
  a = lure__calloc((size_t) n, sizeof(*a));
  if (a == NULL) {
    freeifaddrs(addrs);
    return LURE_ENOMEM;
  }

  i = 0;
  for (ent = addrs; ent != NULL; ent = ent->ifa_next) {
    if (!lure__os_ifa_wanted(ent))
      continue;
    a[i].name = lure__strdup(ent->ifa_name);
    if (a[i].name == NULL) {
      lure_free_interface_addresses(a, i);
      freeifaddrs(addrs);
      return LURE_ENOMEM;
    }
    if (ent->ifa_addr->sa_family == AF_INET6)
      memcpy(&a[i].address.address6, ent->ifa_addr, sizeof(struct sockaddr_in6));
    else
      memcpy(&a[i].address.address4, ent->ifa_addr, sizeof(struct sockaddr_in));
    if (ent->ifa_netmask != NULL) {
      if (ent->ifa_netmask->sa_family == AF_INET6)
        memcpy(&a[i].netmask.netmask6, ent->ifa_netmask,
               sizeof(struct sockaddr_in6));
      else
        memcpy(&a[i].netmask.netmask4, ent->ifa_netmask,
               sizeof(struct sockaddr_in));
    }
    a[i].is_internal = (ent->ifa_flags & IFF_LOOPBACK) != 0;
    i++;
  }

  /* The AF_PACKET entries carry the link-layer addresses; an alias such as
   * "eth0:1" shares the address of "eth0". */
  for (ent = addrs; ent != NULL; ent = ent->ifa_next) {
    if (ent->ifa_addr == NULL || ent->ifa_addr->sa_family != AF_PACKET)
      continue;
    sll = (struct sockaddr_ll *) ent->ifa_addr;
    nlen = strlen(ent->ifa_name);
    for (i = 0; i < n; i++) {
      if (strncmp(a[i].name, ent->ifa_name, nlen) == 0 &&
          (a[i].name[nlen] == '\0' || a[i].name[nlen] == ':'))
        memcpy(a[i].phys_addr, sll->sll_addr,
               sll->sll_halen < sizeof(a[i].phys_addr)
                   ? sll->sll_halen : sizeof(a[i].phys_addr));
    }
  }

  freeifaddrs(addrs);
  *addresses = a;
  *count = n;
  return 0;
}

LURE_EXTERN void lure_free_interface_addresses(
    lure_interface_address_t *addresses, int count) {
  int i;

  if (addresses == NULL)
    return;
  for (i = 0; i < count; i++)
    lure__free(addresses[i].name);
  lure__free(addresses);
}

LURE_EXTERN int lure_if_indextoname(unsigned int ifindex, char *buffer,
                                    size_t *size) {
  char name[IF_NAMESIZE + 1];

  if (buffer == NULL || size == NULL || *size == 0)
    return LURE_EINVAL;
  memset(name, 0, sizeof(name));
  if (if_indextoname(ifindex, name) == NULL)
    return -errno;
  return lure__copy_out(name, strnlen(name, sizeof(name)), buffer, size);
}

/* On Linux an IPv6 scope id is the interface's name, as for libuv. */
LURE_EXTERN int lure_if_indextoiid(unsigned int ifindex, char *buffer,
                                   size_t *size) {
  return lure_if_indextoname(ifindex, buffer, size);
}

LURE_EXTERN int lure_ip_name(const struct sockaddr *src, char *dst,
                             size_t size) {
  if (src == NULL)
    return LURE_EINVAL;
  switch (src->sa_family) {
  case AF_INET:
    return lure_ip4_name((const struct sockaddr_in *) src, dst, size);
  case AF_INET6:
    return lure_ip6_name((const struct sockaddr_in6 *) src, dst, size);
  default:
    return LURE_EAFNOSUPPORT;
  }
}

/* ---- the process, its user and its environment --------------------------- */

LURE_EXTERN lure_pid_t lure_os_getpid(void) {
  return getpid();
}

LURE_EXTERN lure_pid_t lure_os_getppid(void) {
  return getppid();
}

LURE_EXTERN int lure_os_getpriority(lure_pid_t pid, int *priority) {
  int r;

  if (priority == NULL)
    return LURE_EINVAL;
  /* -1 is a valid nice value: only errno tells an error apart. */
  errno = 0;
  r = getpriority(PRIO_PROCESS, (id_t) pid);
  if (r == -1 && errno != 0)
    return -errno;
  *priority = r;
  return 0;
}

LURE_EXTERN int lure_os_setpriority(lure_pid_t pid, int priority) {
  if (priority < LURE_PRIORITY_HIGHEST || priority > LURE_PRIORITY_LOW)
    return LURE_EINVAL;
  if (setpriority(PRIO_PROCESS, (id_t) pid, priority) != 0)
    return -errno;
  return 0;
}

LURE_EXTERN int lure_os_gethostname(char *buffer, size_t *size) {
  char name[256];

  if (buffer == NULL || size == NULL || *size == 0)
    return LURE_EINVAL;
  /* Into a buffer of our own: glibc truncates silently when the caller's
   * is short, and ENOBUFS needs the full length. */
  if (gethostname(name, sizeof(name)) != 0)
    return -errno;
  name[sizeof(name) - 1] = '\0';
  return lure__copy_out(name, strlen(name), buffer, size);
}

/* Copy a field of struct utsname (srccap bytes, terminated or not). */
static void lure__os_field(char *dst, size_t cap, const char *src,
                           size_t srccap) {
  size_t n = strnlen(src, srccap);

  if (n >= cap)
    n = cap - 1;

  memcpy(dst, src, n);
  dst[n] = '\0';
}

LURE_EXTERN int lure_os_uname(lure_utsname_t *buffer) {
  struct utsname u;

  if (buffer == NULL)
    return LURE_EINVAL;
  if (uname(&u) != 0) {
    int err = -errno;

    buffer->sysname[0] = '\0';
    buffer->release[0] = '\0';
    buffer->version[0] = '\0';
    buffer->machine[0] = '\0';
    return err;
  }
  lure__os_field(buffer->sysname, sizeof(buffer->sysname), u.sysname,
                 sizeof(u.sysname));
  lure__os_field(buffer->release, sizeof(buffer->release), u.release,
                 sizeof(u.release));
  lure__os_field(buffer->version, sizeof(buffer->version), u.version,
                 sizeof(u.version));
  lure__os_field(buffer->machine, sizeof(buffer->machine), u.machine,
                 sizeof(u.machine));
  return 0;
}

LURE_EXTERN int lure_os_get_passwd(lure_passwd_t *pwd) {
  struct passwd pw;
  struct passwd *res;
  size_t bufsize;
  size_t nname;
  size_t nhome;
  size_t nshell;
  char *buf;
  char *mem;
  int r;

  if (pwd == NULL)
    return LURE_EINVAL;
  /* getpwuid_r() says ERANGE until the buffer holds the whole entry; an
   * entry larger than 1 MiB is taken as an error rather than chased. */
  for (bufsize = 2048;; bufsize *= 2) {
    buf = lure__malloc(bufsize);
    if (buf == NULL)
      return LURE_ENOMEM;
    do
      r = getpwuid_r(geteuid(), &pw, buf, bufsize, &res);
    while (r == EINTR);
    if (r != ERANGE || bufsize >= (1u << 20))
      break;
    lure__free(buf);
  }
  if (r != 0) {
    lure__free(buf);
    return -r;
  }
  if (res == NULL) {
    lure__free(buf);
    return LURE_ENOENT;
  }

  /* One block holds the three strings; lure_os_free_passwd() frees it
   * through username. */
  nname = strlen(pw.pw_name) + 1;
  nhome = strlen(pw.pw_dir) + 1;
  nshell = strlen(pw.pw_shell) + 1;
  mem = lure__malloc(nname + nhome + nshell);
  if (mem == NULL) {
    lure__free(buf);
    return LURE_ENOMEM;
  }
  pwd->username = mem;
  memcpy(pwd->username, pw.pw_name, nname);
  pwd->homedir = pwd->username + nname;
  memcpy(pwd->homedir, pw.pw_dir, nhome);
  pwd->shell = pwd->homedir + nhome;
  memcpy(pwd->shell, pw.pw_shell, nshell);
  pwd->uid = pw.pw_uid;
  pwd->gid = pw.pw_gid;
  lure__free(buf);
  return 0;
}

LURE_EXTERN void lure_os_free_passwd(lure_passwd_t *pwd) {
  if (pwd == NULL)
    return;
  lure__free(pwd->username);
  pwd->username = NULL;
  pwd->shell = NULL;
  pwd->homedir = NULL;
}

LURE_EXTERN int lure_os_getenv(const char *name, char *buffer, size_t *size) {
  const char *v;

  if (name == NULL || buffer == NULL || size == NULL || *size == 0)
    return LURE_EINVAL;
  v = getenv(name);
  if (v == NULL)
    return LURE_ENOENT;
  return lure__copy_out(v, strlen(v), buffer, size);
}

LURE_EXTERN int lure_os_setenv(const char *name, const char *value) {
  if (name == NULL || value == NULL)
    return LURE_EINVAL;
  if (setenv(name, value, 1) != 0)
    return -errno;
  return 0;
}

LURE_EXTERN int lure_os_unsetenv(const char *name) {
  if (name == NULL)
    return LURE_EINVAL;
  if (unsetenv(name) != 0)
    return -errno;
  return 0;
}

LURE_EXTERN int lure_os_environ(lure_env_item_t **envitems, int *count) {
  lure_env_item_t *items;
  char *eq;
  char *s;
  int n;
  int i;
  int k;

  if (envitems == NULL || count == NULL)
    return LURE_EINVAL;
  *envitems = NULL;
  *count = 0;
  for (n = 0; environ != NULL && environ[n] != NULL; n++)
    ;
  /* calloc(0) may return NULL: ask for one item at least. */
  items = lure__calloc(n > 0 ? (size_t) n : 1, sizeof(*items));
  if (items == NULL)
    return LURE_ENOMEM;
  for (i = 0, k = 0; i < n; i++) {
    /* An entry without '=' is no variable; skip it, as libuv does. */
    if (strchr(environ[i], '=') == NULL)
      continue;
    s = lure__strdup(environ[i]);
    if (s == NULL) {
      lure_os_free_environ(items, k);
      return LURE_ENOMEM;
    }
    eq = strchr(s, '=');
    *eq = '\0';
    items[k].name = s;     /* name and value share one allocation */
    items[k].value = eq + 1;
    k++;
  }
  *envitems = items;
  *count = k;
  return 0;
}

LURE_EXTERN void lure_os_free_environ(lure_env_item_t *envitems, int count) {
  int i;

  if (envitems == NULL)
    return;
  for (i = 0; i < count; i++)
    lure__free(envitems[i].name);
  lure__free(envitems);
}

LURE_EXTERN int lure_os_homedir(char *buffer, size_t *size) {
  lure_passwd_t pwd;
  int r;

  /* $HOME first; lure_os_getenv() checks the arguments. */
  r = lure_os_getenv("HOME", buffer, size);
  if (r != LURE_ENOENT)
    return r;
  r = lure_os_get_passwd(&pwd);
  if (r != 0)
    return r;
  r = lure__copy_out(pwd.homedir, strlen(pwd.homedir), buffer, size);
  lure_os_free_passwd(&pwd);
  return r;
}

LURE_EXTERN int lure_os_tmpdir(char *buffer, size_t *size) {
  static const char *const vars[] = { "TMPDIR", "TMP", "TEMP", "TEMPDIR" };
  const char *dir = NULL;
  size_t len;
  size_t i;

  if (buffer == NULL || size == NULL || *size == 0)
    return LURE_EINVAL;
  for (i = 0; i < sizeof(vars) / sizeof(vars[0]) && dir == NULL; i++) {
    dir = getenv(vars[i]);
    if (dir != NULL && *dir == '\0')
      dir = NULL;
  }
  if (dir == NULL)
    dir = "/tmp";
  len = strlen(dir);
  /* No trailing slash, except for "/" itself.  (libuv strips it after the
   * size check; lure strips first, so that the size asked for is exact.) */
  if (len > 1 && dir[len - 1] == '/')
    len--;
  return lure__copy_out(dir, len, buffer, size);
}

LURE_EXTERN int lure_cwd(char *buffer, size_t *size) {
  char scratch[PATH_MAX + 1];
  char *dir;
  size_t len;

  if (buffer == NULL || size == NULL)
    return LURE_EINVAL;
  dir = buffer;
  if (getcwd(buffer, *size) == NULL) {
    if (errno != ERANGE)
      return -errno;
    /* Too small: find out how large a buffer must be. */
    if (getcwd(scratch, sizeof(scratch)) == NULL)
      return -errno;
    dir = scratch;
  }
  len = strlen(dir);
  if (len > 1 && dir[len - 1] == '/')
    dir[--len] = '\0';
  if (dir == scratch) {
    *size = len + 1;
    return LURE_ENOBUFS;
  }
  *size = len;
  return 0;
}

LURE_EXTERN int lure_chdir(const char *dir) {
  if (dir == NULL)
    return LURE_EINVAL;
  if (chdir(dir) != 0)
    return -errno;
  return 0;
}

LURE_EXTERN int lure_translate_sys_error(int sys_errno) {
  /* A value that is already negative is a lure error. */
  return sys_errno <= 0 ? sys_errno : -sys_errno;
}

/* ---- resources of the process and of the machine ------------------------- */

/* A "Key:   N kB" line of /proc/meminfo, in bytes; 0 when missing. */
static uint64_t lure__os_meminfo(const char *key) {
  char buf[8192];
  uint64_t kb = 0;
  size_t klen = strlen(key);
  char *p;

  if (lure__os_slurp("/proc/meminfo", buf, sizeof(buf)) != 0)
    return 0;
  for (p = buf; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
    if (*p == '\n')
      p++;
    if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
      if (sscanf(p + klen + 1, "%" SCNu64, &kb) != 1)
        kb = 0;
      break;
    }
  }
  return kb * 1024;
}

LURE_EXTERN uint64_t lure_get_free_memory(void) {
  struct sysinfo si;
  uint64_t v = lure__os_meminfo("MemAvailable");

  if (v != 0)
    return v;
  if (sysinfo(&si) == 0)
    return (uint64_t) si.freeram * si.mem_unit;
  return 0;
}

LURE_EXTERN uint64_t lure_get_total_memory(void) {
  struct sysinfo si;
  uint64_t v = lure__os_meminfo("MemTotal");

  if (v != 0)
    return v;
  if (sysinfo(&si) == 0)
    return (uint64_t) si.totalram * si.mem_unit;
  return 0;
}

/* A cgroup limit file: the limit, or 0 for "max", unlimited or unreadable.
 * cgroup v1 writes "unlimited" as LONG_MAX rounded down to a page. */
static uint64_t lure__os_cgroup_limit(const char *path) {
  char buf[64];
  uint64_t v;

  if (lure__os_slurp(path, buf, sizeof(buf)) != 0)
    return 0;
  if (sscanf(buf, "%" SCNu64, &v) != 1)
    return 0;  /* "max" */
  if (v >= (UINT64_C(0x7FFFFFFFFFFFFFFF) & ~UINT64_C(0xFFFFF)))
    return 0;
  return v;
}

/* The smallest limit of file in dir and its ancestors under root. */
static uint64_t lure__os_cgroup_walk(const char *root, const char *dir,
                                     const char *file) {
  char path[PATH_MAX];
  char rel[PATH_MAX];
  uint64_t best = 0;
  uint64_t v;
  char *slash;

  if (strlen(dir) >= sizeof(rel))
    return 0;
  strcpy(rel, dir);
  for (;;) {
    if (snprintf(path, sizeof(path), "%s%s/%s", root,
                 strcmp(rel, "/") == 0 ? "" : rel, file) < (int) sizeof(path)) {
      v = lure__os_cgroup_limit(path);
      if (v != 0 && (best == 0 || v < best))
        best = v;
    }
    slash = strrchr(rel, '/');
    if (slash == NULL || strcmp(rel, "/") == 0)
      break;
    if (slash == rel)
      rel[1] = '\0';
    else
      *slash = '\0';
  }
  return best;
}

LURE_EXTERN uint64_t lure_get_constrained_memory(void) {
  char buf[4096];
  char *line;
  char *next;
  char *path;
  uint64_t v;

  if (lure__os_slurp("/proc/self/cgroup", buf, sizeof(buf)) != 0)
    return 0;
  /* Lines are "id:controllers:path"; v2 is "0::path", v1 memory is
   * "N:memory:path" (the controller list may name several). */
  for (line = buf; line != NULL && *line != '\0'; line = next) {
    char *c1;
    char *c2;

    next = strchr(line, '\n');
    if (next != NULL)
      *next++ = '\0';
    c1 = strchr(line, ':');
    if (c1 == NULL)
      continue;
    c2 = strchr(c1 + 1, ':');
    if (c2 == NULL)
      continue;
    *c2 = '\0';
    path = c2 + 1;
    if (c1[1] == '\0') {
      v = lure__os_cgroup_walk("/sys/fs/cgroup", path, "memory.max");
      if (v == 0)
        v = lure__os_cgroup_walk("/sys/fs/cgroup/unified", path, "memory.max");
    } else {
      char *tok;
      char *save;
      int memory = 0;

      for (tok = strtok_r(c1 + 1, ",", &save); tok != NULL;
           tok = strtok_r(NULL, ",", &save))
        if (strcmp(tok, "memory") == 0)
          memory = 1;
      if (!memory)
        continue;
      v = lure__os_cgroup_walk("/sys/fs/cgroup/memory", path,
                               "memory.limit_in_bytes");
    }
    if (v != 0)
      return v;
  }
  return 0;
}

LURE_EXTERN int lure_resident_set_memory(size_t *rss) {
  char buf[256];
  unsigned long size;
  unsigned long pages;
  long pagesize;
  int r;

  if (rss == NULL)
    return LURE_EINVAL;
  /* statm: total program size, then the resident set, in pages. */
  r = lure__os_slurp("/proc/self/statm", buf, sizeof(buf));
  if (r != 0)
    return r;
  if (sscanf(buf, "%lu %lu", &size, &pages) != 2)
    return LURE_EINVAL;
  pagesize = sysconf(_SC_PAGESIZE);
  *rss = (size_t) pages * (size_t) (pagesize > 0 ? pagesize : 4096);
  return 0;
}

LURE_EXTERN int lure_uptime(double *uptime) {
  struct timespec ts;
  char buf[128];

  if (uptime == NULL)
    return LURE_EINVAL;
  if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0) {
    *uptime = (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
    return 0;
  }
  if (lure__os_slurp("/proc/uptime", buf, sizeof(buf)) == 0 &&
      sscanf(buf, "%lf", uptime) == 1)
    return 0;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    return -errno;
  *uptime = (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
  return 0;
}

LURE_EXTERN void lure_loadavg(double avg[3]) {
  struct sysinfo si;
  char buf[128];

  if (avg == NULL)
    return;
  if (lure__os_slurp("/proc/loadavg", buf, sizeof(buf)) == 0 &&
      sscanf(buf, "%lf %lf %lf", &avg[0], &avg[1], &avg[2]) == 3)
    return;
  avg[0] = avg[1] = avg[2] = 0;
  if (sysinfo(&si) == 0) {
    /* sysinfo's loads are fixed point with 16 fraction bits. */
    avg[0] = (double) si.loads[0] / 65536.0;
    avg[1] = (double) si.loads[1] / 65536.0;
    avg[2] = (double) si.loads[2] / 65536.0;
  }
}

LURE_EXTERN int lure_getrusage(lure_rusage_t *rusage) {
  struct rusage ru;

  if (rusage == NULL)
    return LURE_EINVAL;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return -errno;
  rusage->ru_utime.tv_sec = ru.ru_utime.tv_sec;
  rusage->ru_utime.tv_usec = ru.ru_utime.tv_usec;
  rusage->ru_stime.tv_sec = ru.ru_stime.tv_sec;
  rusage->ru_stime.tv_usec = ru.ru_stime.tv_usec;
  rusage->ru_maxrss = (uint64_t) ru.ru_maxrss;
  rusage->ru_ixrss = (uint64_t) ru.ru_ixrss;
  rusage->ru_idrss = (uint64_t) ru.ru_idrss;
  rusage->ru_isrss = (uint64_t) ru.ru_isrss;
  rusage->ru_minflt = (uint64_t) ru.ru_minflt;
  rusage->ru_majflt = (uint64_t) ru.ru_majflt;
  rusage->ru_nswap = (uint64_t) ru.ru_nswap;
  rusage->ru_inblock = (uint64_t) ru.ru_inblock;
  rusage->ru_oublock = (uint64_t) ru.ru_oublock;
  rusage->ru_msgsnd = (uint64_t) ru.ru_msgsnd;
  rusage->ru_msgrcv = (uint64_t) ru.ru_msgrcv;
  rusage->ru_nsignals = (uint64_t) ru.ru_nsignals;
  rusage->ru_nvcsw = (uint64_t) ru.ru_nvcsw;
  rusage->ru_nivcsw = (uint64_t) ru.ru_nivcsw;
  return 0;
}

LURE_EXTERN int lure_gettimeofday(lure_timeval64_t *tv) {
  struct timeval t;

  if (tv == NULL)
    return LURE_EINVAL;
  if (gettimeofday(&t, NULL) != 0)
    return -errno;
  tv->tv_sec = (int64_t) t.tv_sec;
  tv->tv_usec = (int32_t) t.tv_usec;
  return 0;
}

LURE_EXTERN unsigned int lure_available_parallelism(void) {
  cpu_set_t set;
  long n;

  /* The CPUs this process may run on, which a container or taskset may
   * narrow below the machine's count. */
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    n = CPU_COUNT(&set);
    if (n > 0)
      return (unsigned int) n;
  }
  n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned int) n : 1;
}

/* The value after "key<spaces>:" on a line of /proc/cpuinfo, or NULL. */
static char *lure__os_cpuinfo_value(char *line, const char *key) {
  size_t klen = strlen(key);
  char *p;

  if (strncmp(line, key, klen) != 0)
    return NULL;
  p = line + klen;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p != ':')
    return NULL;
  p++;
  while (*p == ' ' || *p == '\t')
    p++;
  p[strcspn(p, "\n")] = '\0';
  return p;
}

LURE_EXTERN int lure_cpu_info(lure_cpu_info_t **cpu_infos, int *count) {
  static const char *const model_keys[] = { "model name", "Processor",
                                            "cpu model", "cpu" };
  unsigned long long t[7];
  lure_cpu_info_t *ci;
  unsigned int *ids;
  unsigned int id;
  char line[1024];
  char path[128];
  char *cpuline = NULL;
  size_t cpulinecap = 0;
  uint64_t mspertick;
  long ticks;
  FILE *f;
  char *v;
  int cur;
  int n;
  int i;
  size_t k;

  if (cpu_infos == NULL || count == NULL)
    return LURE_EINVAL;
  *cpu_infos = NULL;
  *count = 0;
  ticks = sysconf(_SC_CLK_TCK);
  mspertick = ticks > 0 && ticks <= 1000 ? (uint64_t) (1000 / ticks) : 10;

  /* /proc/stat: one "cpuN user nice system idle iowait irq softirq" line
   * per online CPU, after the "cpu" total; N may skip offline CPUs. */
  f = fopen("/proc/stat", "re");
  if (f == NULL)
    return -errno;
  n = 0;
  while (fgets(line, sizeof(line), f) != NULL)
    if (strncmp(line, "cpu", 3) == 0 && isdigit((unsigned char) line[3]))
      n++;
  if (n == 0) {
    fclose(f);
    return LURE_EIO;
  }
  ci = lure__calloc((size_t) n, sizeof(*ci));
  ids = lure__calloc((size_t) n, sizeof(*ids));
  if (ci == NULL || ids == NULL) {
    fclose(f);
    lure__free(ci);
    lure__free(ids);
    return LURE_ENOMEM;
  }
  rewind(f);
  i = 0;
  while (i < n && fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, "cpu", 3) != 0 || !isdigit((unsigned char) line[3]))
      continue;
    memset(t, 0, sizeof(t));
    if (sscanf(line + 3, "%u %llu %llu %llu %llu %llu %llu", &id, &t[0],
               &t[1], &t[2], &t[3], &t[4], &t[5]) < 5)
      continue;
    ids[i] = id;
    ci[i].cpu_times.user = t[0] * mspertick;
    ci[i].cpu_times.nice = t[1] * mspertick;
    ci[i].cpu_times.sys = t[2] * mspertick;
    ci[i].cpu_times.idle = t[3] * mspertick;
    ci[i].cpu_times.irq = t[5] * mspertick;
    i++;
  }
  fclose(f);
  n = i;

  /* /proc/cpuinfo: blocks that start with "processor : N"; the model's key
   * differs between architectures, the clock is "cpu MHz" where given. */
  f = fopen("/proc/cpuinfo", "re");
  cur = -1;
  /* getline(): the "flags" line of x86 runs past any fixed buffer. */
  while (f != NULL && getline(&cpuline, &cpulinecap, f) > 0) {
    char *line = cpuline;

    if ((v = lure__os_cpuinfo_value(line, "processor")) != NULL) {
      cur = -1;
      if (sscanf(v, "%u", &id) == 1)
        for (i = 0; i < n; i++)
          if (ids[i] == id)
            cur = i;
      continue;
    }
    if ((v = lure__os_cpuinfo_value(line, "cpu MHz")) != NULL) {
      if (cur >= 0)
        ci[cur].speed = (int) strtod(v, NULL);
      continue;
    }
    for (k = 0; k < sizeof(model_keys) / sizeof(model_keys[0]); k++) {
      v = lure__os_cpuinfo_value(line, model_keys[k]);
      if (v == NULL)
        continue;
      if (cur >= 0 && ci[cur].model == NULL)
        ci[cur].model = lure__strdup(v);
      else if (cur < 0 && n > 0 && ci[0].model == NULL)
        ci[0].model = lure__strdup(v);  /* old ARM: one model line before all */
      break;
    }
  }
  if (f != NULL)
    fclose(f);
  free(cpuline);

  for (i = 0; i < n; i++) {
    if (ci[i].model == NULL && i > 0 && ci[0].model != NULL)
      ci[i].model = lure__strdup(ci[0].model);
    if (ci[i].model == NULL)
      ci[i].model = lure__strdup("unknown");
    if (ci[i].model == NULL) {
      lure__free(ids);
      lure_free_cpu_info(ci, n);
      return LURE_ENOMEM;
    }
    if (ci[i].speed == 0) {
      unsigned long long khz;

      snprintf(path, sizeof(path),
               "/sys/devices/system/cpu/cpu%u/cpufreq/scaling_cur_freq",
               ids[i]);
      if (lure__os_slurp(path, line, sizeof(line)) == 0 &&
          sscanf(line, "%llu", &khz) == 1)
        ci[i].speed = (int) (khz / 1000);
    }
  }
  lure__free(ids);
  *cpu_infos = ci;
  *count = n;
  return 0;
}

LURE_EXTERN void lure_free_cpu_info(lure_cpu_info_t *cpu_infos, int count) {
  int i;

  if (cpu_infos == NULL)
    return;
  for (i = 0; i < count; i++)
    lure__free(cpu_infos[i].model);
  lure__free(cpu_infos);
}
