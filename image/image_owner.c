/*
 * Owners that the user namespace cannot represent, recorded in xattrs (see image_owner.h for
 * where each record lives and why).
 */
#include "image/image_owner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_digest.h"
#include "common/sb_util.h"

#define XATTR_NAME_MAX_BYTES 255
#define ID_MAP_MAX_BYTES     8192
/* "uid:gid:ino" with 10 + 10 + 20 digits and two colons, plus slack */
#define OWNER_VALUE_MAX 64
/* chown(2) reads (uid_t)-1 as "leave unchanged", so it is never a real owner */
#define ID_MAX ((uint64_t) UINT32_MAX - 1)

bool image_owner_is_record_xattr(const char *xattr_name)
{
        return strcmp(xattr_name, IMAGE_OWNER_XATTR) == 0 ||
               sb_str_has_prefix(xattr_name, IMAGE_OWNER_CHILD_PREFIX) ||
               sb_str_has_prefix(xattr_name, IMAGE_OWNER_CHILD_HASHED);
}

/* Regular files and directories are the only inodes that can hold user.* xattrs. */
static bool holds_own_record(mode_t mode)
{
        return S_ISREG(mode) || S_ISDIR(mode);
}

static const char *leaf_of(const char *name)
{
        const char *slash = strrchr(name, '/');
        return slash ? slash + 1 : name;
}

/* The parent-directory xattr that records the owner of the child called leaf. */
static void child_key(const char *leaf, char *key, size_t size)
{
        if (strlen(IMAGE_OWNER_CHILD_PREFIX) + strlen(leaf) <= XATTR_NAME_MAX_BYTES) {
                snprintf(key, size, "%s%s", IMAGE_OWNER_CHILD_PREFIX, leaf);
                return;
        }
        char digest[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest(leaf, strlen(leaf), digest);
        snprintf(key, size, "%s%s", IMAGE_OWNER_CHILD_HASHED, digest + 7);
}

/* Open the directory holding dirfd/name's last component. */
static int open_parent(int dirfd, const char *name)
{
        const char *slash = strrchr(name, '/');
        if (!slash) {
                int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                return fd < 0 ? -errno : fd;
        }
        cleanup_free char *dir = slash == name ? sb_xstrdup("/")
                                               : sb_xstrndup(name, (size_t) (slash - name));
        int fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Open dirfd/name itself (a regular file or directory) and check it is the inode st names. */
static int open_entry(int dirfd, const char *name, const struct stat *st)
{
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat now;
        if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
                close(fd);
                return -EBUSY;
        }
        return fd;
}

/* Next space-separated decimal field of a map line, advancing *p; -EINVAL if none. */
static int next_field(const char **p, const char *end, uint64_t *ret)
{
        while (*p < end && **p == ' ')
                (*p)++;
        char num[24];
        size_t n = 0;
        while (*p < end && **p != ' ') {
                if (n + 1 >= sizeof(num))
                        return -EINVAL;
                num[n++] = *(*p)++;
        }
        num[n] = '\0';
        return sb_parse_u64(num, UINT32_MAX, ret);
}

/* Is id mapped in the map file (/proc/self/uid_map or gid_map) of this process? */
static bool id_mapped(const char *map_path, uint32_t id)
{
        cleanup_free char *data = NULL;
        size_t len = 0;
        sb_error_t ignored = { 0 };
        if (sb_read_file_at(AT_FDCWD, map_path, ID_MAP_MAX_BYTES, &data, &len, &ignored) < 0)
                return false;
        const char *p = data, *end = data + len;
        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t) (end - p));
                if (!eol)
                        eol = end;
                uint64_t inside, outside, count;
                if (next_field(&p, eol, &inside) == 0 && next_field(&p, eol, &outside) == 0 &&
                    next_field(&p, eol, &count) == 0 && id >= inside && id - inside < count)
                        return true;
                p = eol + 1;
        }
        return false;
}

/* Where the record of one entry lives: an xattr key on an fd (the entry's or its parent's). */
struct record_loc {
        int fd;
        int owned_fd; /* fd to close, or -1 when fd is the caller's */
        bool child;   /* on the parent directory: the value carries the entry's inode */
        uint64_t ino;
        char key[XATTR_NAME_MAX_BYTES + 64];
};

static void record_loc_done(struct record_loc *loc)
{
        if (loc->owned_fd >= 0)
                close(loc->owned_fd);
}

/*
 * Locate dirfd/name's record. fd: the entry's open fd (a regular file or directory) or -1;
 * st: its lstat if the caller has it, else NULL. Costs no syscall when fd is given, and none
 * beyond the lstat for an entry directly in dirfd.
 */
static int record_locate(int dirfd, const char *name, int fd, const struct stat *st,
                         struct record_loc *loc)
{
        loc->fd = loc->owned_fd = -1;
        loc->child = false;
        loc->ino = 0;
        if (fd >= 0) {
                loc->fd = fd;
                snprintf(loc->key, sizeof(loc->key), "%s", IMAGE_OWNER_XATTR);
                return 0;
        }
        struct stat own_st;
        if (!st) {
                if (fstatat(dirfd, name, &own_st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                st = &own_st;
        }
        if (holds_own_record(st->st_mode)) {
                int r = open_entry(dirfd, name, st);
                if (r < 0)
                        return r;
                loc->fd = loc->owned_fd = r;
                snprintf(loc->key, sizeof(loc->key), "%s", IMAGE_OWNER_XATTR);
                return 0;
        }
        if (!strchr(name, '/') && dirfd != AT_FDCWD) {
                loc->fd = dirfd;
        } else {
                int r = open_parent(dirfd, name);
                if (r < 0)
                        return r;
                loc->fd = loc->owned_fd = r;
        }
        loc->child = true;
        loc->ino = (uint64_t) st->st_ino;
        child_key(leaf_of(name), loc->key, sizeof(loc->key));
        return 0;
}

static int owner_record(int dirfd, const char *name, int fd, uid_t uid, gid_t gid)
{
        struct record_loc loc;
        int r = record_locate(dirfd, name, fd, NULL, &loc);
        if (r < 0)
                return r;
        char value[OWNER_VALUE_MAX];
        int n = loc.child ? snprintf(value, sizeof(value), "%" PRIu32 ":%" PRIu32 ":%" PRIu64,
                                     (uint32_t) uid, (uint32_t) gid, loc.ino)
                          : snprintf(value, sizeof(value), "%" PRIu32 ":%" PRIu32,
                                     (uint32_t) uid, (uint32_t) gid);
        r = fsetxattr(loc.fd, loc.key, value, (size_t) n, 0) < 0 ? -errno : 0;
        record_loc_done(&loc);
        return r;
}

/* After a real chown: drop a record that would contradict it. Cheap when there is none. */
static int owner_clear(int dirfd, const char *name, int fd)
{
        struct record_loc loc;
        int r = record_locate(dirfd, name, fd, NULL, &loc);
        if (r < 0)
                return r;
        if (fremovexattr(loc.fd, loc.key) < 0 && errno != ENODATA && errno != ENOTSUP)
                r = -errno;
        record_loc_done(&loc);
        return r;
}

int image_owner_apply_fd(int dirfd, const char *name, int fd, uid_t uid, gid_t gid)
{
        if (!name || !*name)
                return -EINVAL;
        int r = fd >= 0 ? fchown(fd, uid, gid)
                        : fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
        if (r == 0)
                return owner_clear(dirfd, name, fd);
        int e = errno;
        /*
         * EINVAL: an id has no mapping in this user namespace. EPERM with an unmapped id is the
         * same situation reported by a filesystem that checks permissions first.
         */
        bool unmapped = e == EINVAL ||
                        (e == EPERM && (!id_mapped("/proc/self/uid_map", (uint32_t) uid) ||
                                        !id_mapped("/proc/self/gid_map", (uint32_t) gid)));
        if (!unmapped)
                return -e;
        return owner_record(dirfd, name, fd, uid, gid);
}

int image_owner_apply(int dirfd, const char *name, uid_t uid, gid_t gid)
{
        return image_owner_apply_fd(dirfd, name, -1, uid, gid);
}

/* Parse "uid:gid" (want_ino false) or "uid:gid:ino" from an xattr value of length len. */
static int parse_value(const char *value, size_t len, bool want_ino, uid_t *ret_uid,
                       gid_t *ret_gid, uint64_t *ret_ino)
{
        char buf[OWNER_VALUE_MAX];
        if (len == 0 || len >= sizeof(buf))
                return -EBADMSG;
        memcpy(buf, value, len);
        buf[len] = '\0';
        char *fields[3] = { buf, NULL, NULL };
        size_t n = 1;
        for (char *p = buf; *p; p++) {
                if (*p != ':')
                        continue;
                if (n == 3)
                        return -EBADMSG;
                *p = '\0';
                fields[n++] = p + 1;
        }
        if (n != (want_ino ? 3u : 2u))
                return -EBADMSG;
        uint64_t u, g, ino = 0;
        if (sb_parse_u64(fields[0], ID_MAX, &u) < 0 || sb_parse_u64(fields[1], ID_MAX, &g) < 0 ||
            (want_ino && sb_parse_u64(fields[2], UINT64_MAX, &ino) < 0))
                return -EBADMSG;
        *ret_uid = (uid_t) u;
        *ret_gid = (gid_t) g;
        if (ret_ino)
                *ret_ino = ino;
        return 0;
}

int image_owner_lookup(int dirfd, const char *name, int fd, const struct stat *st,
                       uid_t *ret_uid, gid_t *ret_gid)
{
        *ret_uid = st->st_uid;
        *ret_gid = st->st_gid;
        /* only the mapped root writes records; anyone else's file keeps its real owner */
        if (st->st_uid != 0)
                return 0;
        struct record_loc loc;
        int r = record_locate(dirfd, name, fd, st, &loc);
        if (r < 0)
                return r;
        char value[OWNER_VALUE_MAX];
        ssize_t n = fgetxattr(loc.fd, loc.key, value, sizeof(value));
        int e = errno;
        record_loc_done(&loc);
        if (n < 0) {
                if (e == ENODATA || e == ENOTSUP)
                        return 0;
                return e == ERANGE ? -EBADMSG : -e;
        }
        uid_t uid;
        gid_t gid;
        uint64_t ino = 0;
        r = parse_value(value, (size_t) n, loc.child, &uid, &gid, &ino);
        if (r < 0)
                return r;
        /* a record for an earlier entry of that name (since replaced) does not apply */
        if (loc.child && ino != loc.ino)
                return 0;
        *ret_uid = uid;
        *ret_gid = gid;
        return 1;
}
