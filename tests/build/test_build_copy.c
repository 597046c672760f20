#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build/build_copy.h"
#include "build/build_fs.h"
#include "common/sb_util.h"

static char base[64];
static int src_fd = -1, dst_fd = -1;

static void put(int dirfd, const char *path, const char *content, mode_t mode)
{
        sb_error_t err = { 0 };
        char *dir = sb_xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash) {
                *slash = '\0';
                cr_assert_eq(sb_mkdir_p_at(dirfd, dir, 0755, &err), 0, "%s", err.msg);
        }
        free(dir);
        int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        fchmod(fd, mode);
        close(fd);
}

static void setup(void)
{
        snprintf(base, sizeof(base), "/tmp/sbuild-copy-XXXXXX");
        cr_assert_not_null(mkdtemp(base));
        char *s = sb_path_join(base, "src"), *d = sb_path_join(base, "dst");
        mkdir(s, 0755);
        mkdir(d, 0755);
        src_fd = open(s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dst_fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(s);
        free(d);
        put(src_fd, "a.txt", "A", 0644);
        put(src_fd, "b.txt", "B", 0755);
        put(src_fd, "dir/x", "X", 0600);
        put(src_fd, "dir/sub/y", "Y", 0644);
}

static void teardown(void)
{
        sb_error_t err = { 0 };
        close(src_fd);
        close(dst_fd);
        sb_rm_rf_at(AT_FDCWD, base, &err);
}

TestSuite(build_copy, .init = setup, .fini = teardown);

static char *read_at(int dirfd, const char *path)
{
        char *data = NULL;
        sb_error_t err = { 0 };
        if (sb_read_file_at(dirfd, path, 1024, &data, NULL, &err) < 0)
                return NULL;
        return data;
}

Test(build_copy, glob_into_a_directory_keeps_modes)
{
        char *srcs[] = { (char *) "*.txt", NULL };
        struct build_copy_opts o = { 0 };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/out/", &o, &err), 0, "%s", err.msg);
        char *a = read_at(dst_fd, "out/a.txt");
        cr_assert_str_eq(a, "A");
        free(a);
        struct stat st;
        cr_assert_eq(fstatat(dst_fd, "out/b.txt", &st, 0), 0);
        cr_assert_eq(st.st_mode & 07777, 0755);
}

Test(build_copy, a_directory_source_copies_its_contents)
{
        char *srcs[] = { (char *) "dir", NULL };
        struct build_copy_opts o = { .chown = true, .uid = 1000, .gid = 1000 };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/data", &o, &err), 0, "%s", err.msg);
        struct stat st;
        cr_assert_eq(fstatat(dst_fd, "data/x", &st, 0), 0, "dir's contents land in /data");
        cr_assert_eq(st.st_uid, 1000);
        cr_assert_eq(st.st_mode & 07777, 0600);
        cr_assert_eq(fstatat(dst_fd, "data/sub/y", &st, 0), 0);
        cr_assert_neq(fstatat(dst_fd, "data/dir", &st, 0), 0, "not the directory itself");
}

Test(build_copy, single_file_to_a_new_name_and_several_sources_need_a_slash)
{
        char *one[] = { (char *) "a.txt", NULL };
        struct build_copy_opts o = { 0 };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, one, dst_fd, "/etc/renamed", &o, &err), 0, "%s",
                     err.msg);
        char *a = read_at(dst_fd, "etc/renamed");
        cr_assert_str_eq(a, "A");
        free(a);
        char *two[] = { (char *) "a.txt", (char *) "b.txt", NULL };
        cr_assert_eq(build_copy(src_fd, two, dst_fd, "/notadir", &o, &err), -EINVAL);
        cr_assert(strstr(err.msg, "end with a /"), "%s", err.msg);
}

Test(build_copy, missing_sources_are_named)
{
        char *srcs[] = { (char *) "nope*", NULL };
        struct build_copy_opts o = { 0 };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/x/", &o, &err), -ENOENT);
        cr_assert(strstr(err.msg, "'nope*'"), "%s", err.msg);
}

Test(build_copy, symlinks_in_either_tree_stay_inside_their_root)
{
        /* the destination image has /escape -> the host's test dir outside its root */
        char *outside = sb_path_join(base, "outside");
        mkdir(outside, 0755);
        cr_assert_eq(symlinkat(outside, dst_fd, "escape"), 0);
        /* the context has a symlink pointing far up */
        cr_assert_eq(symlinkat("../../../../../../etc", src_fd, "up"), 0);
        char *srcs[] = { (char *) "a.txt", NULL };
        struct build_copy_opts o = { 0 };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/escape/", &o, &err), 0, "%s", err.msg);
        char *p = sb_path_join(outside, "a.txt");
        cr_assert_neq(access(p, F_OK), 0, "nothing may be written outside the root");
        free(p);
        /* resolved inside the root instead: <dst>/<outside path>/a.txt */
        char *inside = sb_path_join(outside + 1, "a.txt");
        char *got = read_at(dst_fd, inside);
        cr_assert_str_eq(got, "A");
        free(got);
        free(inside);
        char *up[] = { (char *) "up/passwd", NULL };
        int r = build_copy(src_fd, up, dst_fd, "/stolen", &o, &err);
        cr_assert_eq(r, -ENOENT, "the context's ../ symlink resolves inside the context");
        free(outside);
}

Test(build_copy, clean_keeps_paths_rooted)
{
        char *c = build_fs_clean("../../a/./b//../c/");
        cr_assert_str_eq(c, "/a/c");
        free(c);
        c = build_fs_clean("");
        cr_assert_str_eq(c, "/");
        free(c);
}
