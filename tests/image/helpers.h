#pragma once
/* Shared fixtures for the image/ tests: scratch directories, tar building, file checks. */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sb_digest.h"
#include "common/sb_util.h"
#include "image/image_store.h"

#define UNUSED __attribute__((unused))

/* A fresh scratch directory under /tmp; returns its path (static storage per test process). */
static UNUSED const char *scratch_dir(void)
{
        static char path[64];
        snprintf(path, sizeof(path), "/tmp/sb-image-test-XXXXXX");
        cr_assert_not_null(mkdtemp(path), "mkdtemp: %s", strerror(errno));
        return path;
}

static UNUSED void scratch_remove(const char *path)
{
        sb_error_t err = { 0 };
        sb_rm_rf_at(AT_FDCWD, path, &err);
}

static UNUSED struct image_store *open_store(const char *dir)
{
        struct image_store *s = NULL;
        sb_error_t err = { 0 };
        char *root = sb_path_join(dir, "store");
        cr_assert_eq(image_store_open(root, &s, &err), 0, "%s", err.msg);
        free(root);
        return s;
}

/* Number of entries in dirfd/name (excluding . and ..); -1 if it cannot be opened. */
static UNUSED int count_entries(int dirfd, const char *name)
{
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        DIR *d = fdopendir(fd);
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static UNUSED void write_file_at(int dirfd, const char *name, const char *content, mode_t mode)
{
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        cr_assert_geq(fd, 0, "create %s: %s", name, strerror(errno));
        cr_assert_eq(sb_write_all(fd, content, strlen(content)), 0);
        cr_assert_eq(fchmod(fd, mode), 0);
        close(fd);
}

/* Digest of a whole file. */
static UNUSED void file_digest(const char *path, char out[SB_DIGEST_STR_LEN + 1])
{
        char *data = NULL;
        size_t len = 0;
        sb_error_t err = { 0 };
        cr_assert_eq(sb_read_file_at(AT_FDCWD, path, 1u << 30, &data, &len, &err), 0, "%s",
                     err.msg);
        sb_sha256_digest(data, len, out);
        free(data);
}

/* One entry of a tar built by a test. type is 'f', 'd', 'l' (symlink), 'h' (hardlink). */
struct tar_spec {
        char name[128];
        char type;
        char link[128];
        char content[32];
        unsigned mode;
        char xattr_name[64];
};

struct tar_buf {
        char *data;
        size_t len;
};

static UNUSED la_ssize_t tar_buf_write(struct archive *a, void *ud, const void *buf, size_t len)
{
        (void) a;
        struct tar_buf *b = ud;
        b->data = sb_xrealloc(b->data, b->len + len);
        memcpy(b->data + b->len, buf, len);
        b->len += len;
        return (la_ssize_t) len;
}

/* Build a (gzip if gz) pax tar from specs; caller frees ret->data. */
static UNUSED void build_tar(const struct tar_spec *specs, size_t n, bool gz, struct tar_buf *ret)
{
        struct archive *a = archive_write_new();
        ret->data = NULL;
        ret->len = 0;
        archive_write_set_format_pax_restricted(a);
        if (gz)
                archive_write_add_filter_gzip(a);
        else
                archive_write_add_filter_none(a);
        archive_write_set_bytes_in_last_block(a, 1);
        cr_assert_eq(archive_write_open(a, ret, NULL, tar_buf_write, NULL), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                const struct tar_spec *t = &specs[i];
                struct archive_entry *e = archive_entry_new();
                archive_entry_copy_pathname(e, t->name);
                unsigned mode = t->mode ? t->mode : 0644;
                switch (t->type) {
                case 'd':
                        archive_entry_set_mode(e, AE_IFDIR | mode);
                        break;
                case 'l':
                        archive_entry_set_mode(e, AE_IFLNK | 0777);
                        archive_entry_copy_symlink(e, t->link);
                        break;
                case 'h':
                        archive_entry_set_mode(e, AE_IFREG | mode);
                        archive_entry_copy_hardlink(e, t->link);
                        break;
                default:
                        archive_entry_set_mode(e, AE_IFREG | mode);
                        archive_entry_set_size(e, (la_int64_t) strlen(t->content));
                }
                if (t->xattr_name[0])
                        archive_entry_xattr_add_entry(e, t->xattr_name, "y", 1);
                archive_entry_set_mtime(e, 1600000000, 0);
                cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
                if (t->type == 'f' || t->type == 0)
                        archive_write_data(a, t->content, strlen(t->content));
                archive_entry_free(e);
        }
        cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

/* Run argv[0] with argv, stdout to /dev/null; returns the exit status (or -1). */
static UNUSED int run_quiet(const char *const argv[])
{
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null >= 0)
                        dup2(null, STDOUT_FILENO);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
