#include "common/sb_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/sb_cleanup.h"

static void oom(void)
{
        static const char msg[] = "sbuild: out of memory\n";
        ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void) r;
        abort();
}

void *sb_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                oom();
        return p;
}

void *sb_xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                oom();
        return p;
}

void *sb_xrealloc(void *p, size_t n)
{
        void *r = realloc(p, n ? n : 1);
        if (!r)
                oom();
        return r;
}

char *sb_xstrdup(const char *s)
{
        if (!s)
                return NULL;
        char *r = strdup(s);
        if (!r)
                oom();
        return r;
}

char *sb_xstrndup(const char *s, size_t n)
{
        char *r = strndup(s, n);
        if (!r)
                oom();
        return r;
}

char *sb_xasprintf(const char *fmt, ...)
{
        va_list ap;
        char *r = NULL;
        va_start(ap, fmt);
        int n = vasprintf(&r, fmt, ap);
        va_end(ap);
        if (n < 0)
                oom();
        return r;
}

size_t sb_strv_len(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

void sb_strv_push_take(char ***v, char *s)
{
        size_t n = sb_strv_len(*v);
        *v = sb_xrealloc(*v, (n + 2) * sizeof(char *));
        (*v)[n] = s;
        (*v)[n + 1] = NULL;
}

void sb_strv_push(char ***v, const char *s)
{
        sb_strv_push_take(v, sb_xstrdup(s));
}

char **sb_strv_copy(char *const *v)
{
        char **r = sb_xcalloc(sb_strv_len(v) + 1, sizeof(char *));
        for (size_t i = 0; v && v[i]; i++)
                r[i] = sb_xstrdup(v[i]);
        return r;
}

void sb_strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

bool sb_str_has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool sb_str_has_suffix(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && strcmp(s + a - b, suffix) == 0;
}

int sb_parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
        if (!s || !*s)
                return -EINVAL;
        uint64_t v = 0;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        if (v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int sb_write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

ssize_t sb_read_all(int fd, void *buf, size_t len)
{
        char *p = buf;
        size_t got = 0;
        while (got < len) {
                ssize_t n = read(fd, p + got, len - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        return (ssize_t) got;
}

int sb_read_fd(int fd, size_t max, char **ret_data, size_t *ret_len, sb_error_t *err)
{
        size_t cap = 4096, len = 0;
        cleanup_free char *buf = sb_xmalloc(cap + 1);
        for (;;) {
                if (len == cap) {
                        if (cap > max)
                                return sb_error_set(err, EFBIG, "more than %zu bytes", max);
                        cap *= 2;
                        buf = sb_xrealloc(buf, cap + 1);
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return sb_error_errno(err, errno, "read");
                }
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return sb_error_set(err, EFBIG, "more than %zu bytes", max);
        }
        buf[len] = '\0';
        *ret_data = steal_pointer(&buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int sb_read_file_at(int dirfd, const char *path, size_t max, char **ret_data, size_t *ret_len,
                    sb_error_t *err)
{
        cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return sb_error_errno(err, errno, "open '%s'", path);
        int r = sb_read_fd(fd, max, ret_data, ret_len, err);
        if (r < 0)
                return sb_error_prefix(err, "read '%s'", path);
        return 0;
}

int sb_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len,
                            mode_t mode, sb_error_t *err)
{
        cleanup_free char *tmp = sb_xasprintf("%s.tmp.%ld", path, (long) getpid());
        cleanup_close int fd =
                openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return sb_error_errno(err, errno, "create '%s'", tmp);
        int r = sb_write_all(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0) {
                unlinkat(dirfd, tmp, 0);
                return sb_error_errno(err, -r, "write '%s'", path);
        }
        if (renameat(dirfd, tmp, dirfd, path) < 0) {
                int e = errno;
                unlinkat(dirfd, tmp, 0);
                return sb_error_errno(err, e, "rename to '%s'", path);
        }
        return 0;
}

int sb_mkdir_p_at(int dirfd, const char *path, mode_t mode, sb_error_t *err)
{
        cleanup_free char *copy = sb_xstrdup(path);
        for (char *p = copy + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdirat(dirfd, copy, mode) < 0 && errno != EEXIST)
                        return sb_error_errno(err, errno, "mkdir '%s'", copy);
                *p = '/';
        }
        if (mkdirat(dirfd, copy, mode) < 0 && errno != EEXIST)
                return sb_error_errno(err, errno, "mkdir '%s'", copy);
        return 0;
}

static int rm_rf_children(int fd, sb_error_t *err)
{
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return sb_error_errno(err, errno, "opendir");
        }
        cleanup_closedir DIR *dir = d;
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                int r = sb_rm_rf_at(dirfd(dir), de->d_name, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sb_rm_rf_at(int dirfd, const char *name, sb_error_t *err)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return sb_error_errno(err, errno, "stat '%s'", name);
        }
        if (S_ISDIR(st.st_mode)) {
                int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 && errno == EACCES) {
                        /* a step may leave a directory with mode 000: make it walkable */
                        fchmodat(dirfd, name, 0700, 0);
                        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (fd < 0)
                        return sb_error_errno(err, errno, "open '%s'", name);
                if ((st.st_mode & 0700) != 0700)
                        fchmod(fd, st.st_mode | 0700);
                int r = rm_rf_children(fd, err);
                if (r < 0)
                        return r;
                if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                        return sb_error_errno(err, errno, "rmdir '%s'", name);
                return 0;
        }
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return sb_error_errno(err, errno, "unlink '%s'", name);
        return 0;
}

char *sb_path_join(const char *a, const char *b)
{
        size_t la = strlen(a);
        while (la > 1 && a[la - 1] == '/')
                la--;
        while (*b == '/')
                b++;
        if (!*b)
                return sb_xstrndup(a, la);
        if (la == 1 && a[0] == '/')
                return sb_xasprintf("/%s", b);
        return sb_xasprintf("%.*s/%s", (int) la, a, b);
}

double sb_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}
