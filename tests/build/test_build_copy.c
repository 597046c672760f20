#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
        char *srcs[] = { (char *) "nope", NULL };
        struct build_copy_opts o = { 0 };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/x/", &o, &err), -ENOENT);
        cr_assert(strstr(err.msg, "'nope'"), "%s", err.msg);
        /* as in BuildKit, a wildcard may match nothing */
        char *globs[] = { (char *) "nope*", (char *) "a.txt", NULL };
        cr_assert_eq(build_copy(src_fd, globs, dst_fd, "/y/", &o, &err), 0, "%s", err.msg);
        struct stat st;
        cr_assert_eq(fstatat(dst_fd, "y/a.txt", &st, 0), 0);
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

static mode_t mode_of(int dirfd, const char *path)
{
        struct stat st;
        cr_assert_eq(fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW), 0, "%s exists", path);
        return st.st_mode & 07777;
}

static bool exists(int dirfd, const char *path)
{
        struct stat st;
        return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

struct chmod_case {
        char spec[24];
        unsigned before;
        bool dir;
        unsigned after;
};

static struct chmod_case chmod_cases[] = {
        { "0755", 0600, false, 0755 },  { "644", 0777, false, 0644 },
        { "u+x", 0644, false, 0744 },   { "g-w", 0664, false, 0644 },
        { "a=r", 0755, false, 0444 },   { "u+x,g-w,a=r", 0777, false, 0444 },
        { "go=", 0755, false, 0700 },   { "+x", 0600, false, 0711 },
        { "a+X", 0644, true, 0755 },    { "a+X", 0644, false, 0644 },
        { "g=u", 0740, false, 0770 },   { "u+s", 0755, false, 04755 },
        { "o+t", 0777, true, 01777 },
};

ParameterizedTestParameters(build_copy, chmod_specs_apply_as_chmod_does)
{
        return cr_make_param_array(struct chmod_case, chmod_cases,
                                   sizeof(chmod_cases) / sizeof(chmod_cases[0]));
}

ParameterizedTest(struct chmod_case *c, build_copy, chmod_specs_apply_as_chmod_does)
{
        mode_t m = 0;
        cr_assert_eq(build_copy_chmod(c->spec, c->before, c->dir, &m), 0, "%s", c->spec);
        cr_expect_eq(m, c->after, "%s on %o: %o, want %o", c->spec, c->before, m, c->after);
}

Test(build_copy, invalid_chmod_specs_are_refused)
{
        static const char *const bad[] = { "", "8", "17777", "u+q", "x+r", "u", "u+x,", NULL };
        mode_t m;
        for (size_t i = 0; bad[i]; i++)
                cr_expect_eq(build_copy_chmod(bad[i], 0644, false, &m), -EINVAL, "'%s'", bad[i]);
}

Test(build_copy, chmod_sets_files_and_directories)
{
        char *srcs[] = { (char *) "dir", NULL };
        struct build_copy_opts o = { .chmod = "u=rwx,go=rx" };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/d/", &o, &err), 0, "%s", err.msg);
        cr_assert_eq(mode_of(dst_fd, "d/x"), 0755);
        cr_assert_eq(mode_of(dst_fd, "d/sub"), 0755);
        cr_assert_eq(mode_of(dst_fd, "d/sub/y"), 0755);
}

Test(build_copy, exclude_patterns_are_relative_to_each_source)
{
        put(src_fd, "dir/skip.log", "L", 0644);
        put(src_fd, "dir/sub/deep.log", "L", 0644);
        char *pats[] = { (char *) "**/*.log", (char *) "a.txt", NULL };
        struct build_ignore *ex = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(build_ignore_new(pats, &ex, &err), 0);
        char *srcs[] = { (char *) "dir", (char *) "*.txt", NULL };
        struct build_copy_opts o = { .exclude = ex };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/e/", &o, &err), 0, "%s", err.msg);
        cr_assert(exists(dst_fd, "e/x"));
        cr_assert(exists(dst_fd, "e/sub/y"));
        cr_assert_not(exists(dst_fd, "e/skip.log"));
        cr_assert_not(exists(dst_fd, "e/sub/deep.log"));
        cr_assert_not(exists(dst_fd, "e/a.txt"), "a file source matched by name");
        cr_assert(exists(dst_fd, "e/b.txt"));
        build_ignore_free(ex);
}

Test(build_copy, parents_keep_the_path_after_the_pivot)
{
        char *srcs[] = { (char *) "dir/sub/y", (char *) "./dir/./sub", (char *) "a.txt", NULL };
        struct build_copy_opts o = { .parents = true };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/p", &o, &err), 0, "%s", err.msg);
        cr_assert(exists(dst_fd, "p/dir/sub/y"), "full path without a pivot");
        cr_assert(exists(dst_fd, "p/sub/y"), "path after the /./ pivot");
        cr_assert(exists(dst_fd, "p/a.txt"));
}

Test(build_copy, ignored_paths_do_not_exist_unless_re_included)
{
        put(src_fd, "dir/sub/keep", "K", 0644);
        put(src_fd, "secret", "S", 0600);
        char *pats[] = { (char *) "dir", (char *) "!dir/sub/keep", (char *) "secret", NULL };
        struct build_ignore *ig = NULL;
        sb_error_t err = { 0 };
        cr_assert_eq(build_ignore_new(pats, &ig, &err), 0);
        struct build_copy_opts o = { .ignore = ig };
        char *all[] = { (char *) ".", NULL };
        cr_assert_eq(build_copy(src_fd, all, dst_fd, "/app", &o, &err), 0, "%s", err.msg);
        cr_assert(exists(dst_fd, "app/a.txt"));
        cr_assert(exists(dst_fd, "app/dir/sub/keep"), "the exception is copied with its parents");
        cr_assert_not(exists(dst_fd, "app/dir/x"));
        cr_assert_not(exists(dst_fd, "app/dir/sub/y"));
        cr_assert_not(exists(dst_fd, "app/secret"));
        char *one[] = { (char *) "secret", NULL };
        cr_assert_eq(build_copy(src_fd, one, dst_fd, "/s", &o, &err), -ENOENT);
        char *glob[] = { (char *) "dir/*", NULL };
        cr_assert_eq(build_copy(src_fd, glob, dst_fd, "/g/", &o, &err), 0, "%s", err.msg);
        cr_assert(exists(dst_fd, "g/keep"), "dir/sub matched: its visible contents copied");
        cr_assert_not(exists(dst_fd, "g/x"));
        build_ignore_free(ig);
}

Test(build_copy, a_new_directory_destination_takes_the_source_directory_mode)
{
        cr_assert_eq(fchmodat(src_fd, "dir/sub", 0750, 0), 0);
        char *srcs[] = { (char *) "dir/sub", NULL };
        struct build_copy_opts o = { 0 };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/newdir", &o, &err), 0, "%s", err.msg);
        cr_assert_eq(mode_of(dst_fd, "newdir"), 0750);
        cr_assert(exists(dst_fd, "newdir/y"));
}

Test(build_copy, an_fd_source_lands_at_dest_or_inside_a_directory)
{
        int fd = memfd_create("t", MFD_CLOEXEC);
        cr_assert_eq(write(fd, "hello\n", 6), 6);
        struct build_copy_opts o = { .chown = true, .uid = 1000, .gid = 1000 };
        sb_error_t err = { 0 };
        struct timespec t = { .tv_sec = 1000000000 };
        cr_assert_eq(build_copy_fd(fd, "EOF", 0644, &t, dst_fd, "/h/file", &o, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(mode_of(dst_fd, "h/file"), 0644);
        struct stat st;
        cr_assert_eq(fstatat(dst_fd, "h/file", &st, 0), 0);
        cr_assert_eq(st.st_mtim.tv_sec, 1000000000);
        cr_assert_eq(st.st_uid, 1000);
        cr_assert_eq(build_copy_fd(fd, "EOF", 0600, NULL, dst_fd, "/h/", &o, &err), 0);
        cr_assert_eq(mode_of(dst_fd, "h/EOF"), 0600);
        char *got = read_at(dst_fd, "h/EOF");
        cr_assert_str_eq(got, "hello\n");
        free(got);
        close(fd);
}

static void make_tar(const char *name, int filter)
{
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (filter >= 0)
                cr_assert_eq(archive_write_add_filter(a, filter), ARCHIVE_OK, "%s",
                             archive_error_string(a));
        char *path = sb_xasprintf("%s/src/%s", base, name);
        cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, "inner/file.txt");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0640);
        archive_entry_set_size(e, 2);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
        cr_assert_eq(archive_write_data(a, "hi", 2), 2);
        archive_entry_free(e);
        archive_write_close(a);
        archive_write_free(a);
        free(path);
}

Test(build_copy, add_extracts_tar_in_every_compression_and_copies_other_files)
{
        static const struct { const char *name; int filter; } kinds[] = {
                { "plain.tar", -1 },
                { "g.tar.gz", ARCHIVE_FILTER_GZIP },
                { "b.tar.bz2", ARCHIVE_FILTER_BZIP2 },
                { "x.tar.xz", ARCHIVE_FILTER_XZ },
                { "z.tar.zst", ARCHIVE_FILTER_ZSTD },
        };
        sb_error_t err = { 0 };
        struct build_copy_opts o = { .add = true };
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                make_tar(kinds[i].name, kinds[i].filter);
                char *srcs[] = { (char *) kinds[i].name, NULL };
                char *dest = sb_xasprintf("/x%zu", i);
                cr_assert_eq(build_copy(src_fd, srcs, dst_fd, dest, &o, &err), 0, "%s: %s",
                             kinds[i].name, err.msg);
                char *inner = sb_xasprintf("x%zu/inner/file.txt", i);
                char *got = read_at(dst_fd, inner);
                cr_expect_str_eq(got ? got : "", "hi", "%s extracted", kinds[i].name);
                free(got);
                free(inner);
                free(dest);
        }
        /* gzip data that is not a tar is a plain file */
        put(src_fd, "notatar.gz", "\x1f\x8b garbage", 0644);
        char *srcs[] = { (char *) "notatar.gz", NULL };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/plain", &o, &err), 0, "%s", err.msg);
        struct stat st;
        cr_assert_eq(fstatat(dst_fd, "plain", &st, 0), 0);
        cr_assert(S_ISREG(st.st_mode), "copied as is");
}

Test(build_copy, a_named_symlink_is_followed_and_links_inside_directories_are_kept)
{
        cr_assert_eq(symlinkat("a.txt", src_fd, "link"), 0);
        cr_assert_eq(symlinkat("../a.txt", src_fd, "dir/inner"), 0);
        char *srcs[] = { (char *) "link", NULL };
        struct build_copy_opts o = { 0 };
        sb_error_t err = { 0 };
        cr_assert_eq(build_copy(src_fd, srcs, dst_fd, "/followed", &o, &err), 0, "%s", err.msg);
        struct stat st;
        cr_assert_eq(fstatat(dst_fd, "followed", &st, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert(S_ISREG(st.st_mode), "the link's target is copied");
        char *dir[] = { (char *) "dir", NULL };
        cr_assert_eq(build_copy(src_fd, dir, dst_fd, "/kept", &o, &err), 0, "%s", err.msg);
        cr_assert_eq(fstatat(dst_fd, "kept/inner", &st, AT_SYMLINK_NOFOLLOW), 0);
        cr_assert(S_ISLNK(st.st_mode), "a link inside a copied directory stays a link");
}
