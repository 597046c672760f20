#include "image/image_store.h"

#include <sys/file.h>

#include "helpers.h"

static const char *dir;
static struct image_store *store;

static void setup(void)
{
        dir = scratch_dir();
        store = open_store(dir);
}

static void teardown(void)
{
        image_store_free(store);
        scratch_remove(dir);
}

TestSuite(image_store, .init = setup, .fini = teardown);

Test(image_store, open_creates_the_layout_with_an_absolute_root)
{
        cr_assert_eq(store->root[0], '/');
        cr_assert_eq(count_entries(store->root_fd, "blobs/sha256"), 0);
        cr_assert_eq(count_entries(store->root_fd, "layers"), 0);
        cr_assert_eq(count_entries(store->root_fd, "tmp"), 0);
        cr_assert_eq(count_entries(store->root_fd, "locks"), 0);
}

Test(image_store, put_blob_stores_content_under_its_digest)
{
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1], want[SB_DIGEST_STR_LEN + 1];
        const char data[] = "hello blob";

        cr_assert_eq(image_store_put_blob(store, data, strlen(data), digest, &err), 0, "%s",
                     err.msg);
        sb_sha256_digest(data, strlen(data), want);
        cr_assert_str_eq(digest, want);
        cr_assert(image_store_has_blob(store, digest));
        char *path = image_store_blob_path(store, digest);
        char on_disk[SB_DIGEST_STR_LEN + 1];
        file_digest(path, on_disk);
        cr_assert_str_eq(on_disk, digest);
        free(path);

        char *back = NULL;
        size_t len = 0;
        cr_assert_eq(image_store_read_blob(store, digest, 1024, &back, &len, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(len, strlen(data));
        cr_assert_eq(memcmp(back, data, len), 0);
        free(back);
        cr_assert_eq(count_entries(store->tmp_fd, "."), 0, "temporary file left behind");
}

Test(image_store, read_blob_refuses_a_blob_corrupted_on_disk)
{
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        cr_assert_eq(image_store_put_blob(store, "original", 8, digest, &err), 0);
        write_file_at(store->blobs_fd, digest + 7, "tampered", 0644);

        char *back = NULL;
        size_t len = 0;
        cr_assert_eq(image_store_read_blob(store, digest, 1024, &back, &len, &err), -EBADMSG);
        cr_assert_null(back);
        cr_assert(strstr(err.msg, "corrupt"), "%s", err.msg);
}

Test(image_store, read_blob_refuses_blobs_over_the_limit)
{
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        char *back = NULL;
        size_t len = 0;
        cr_assert_eq(image_store_put_blob(store, "0123456789", 10, digest, &err), 0);
        cr_assert_eq(image_store_read_blob(store, digest, 9, &back, &len, &err), -EFBIG);
}

Test(image_store, open_blob_tells_malformed_from_missing)
{
        sb_error_t err = { 0 };
        int fd = -1;
        cr_assert_eq(image_store_open_blob(store, "sha256:abc", &fd, &err), -EINVAL);
        cr_assert_eq(image_store_open_blob(store, "sha256:../../etc/passwd", &fd, &err), -EINVAL);
        char missing[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest("nothing", 7, missing);
        cr_assert_eq(image_store_open_blob(store, missing, &fd, &err), -ENOENT);
        cr_assert_not(image_store_has_blob(store, missing));
        cr_assert_null(image_store_blob_path(store, "md5:00"));
}

Test(image_store, streaming_writer_hashes_every_chunk)
{
        sb_error_t err = { 0 };
        struct image_blob_writer *w = NULL;
        cr_assert_eq(image_blob_writer_new(store, &w, &err), 0, "%s", err.msg);
        cr_assert_eq(image_blob_writer_write(w, "abc", 3, &err), 0);
        cr_assert_eq(image_blob_writer_write(w, "defg", 4, &err), 0);
        cr_assert_eq(image_blob_writer_size(w), 7);
        char want[SB_DIGEST_STR_LEN + 1], got[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest("abcdefg", 7, want);
        cr_assert_eq(image_blob_writer_commit(w, want, got, &err), 0, "%s", err.msg);
        cr_assert_str_eq(got, want);
        cr_assert(image_store_has_blob(store, want));
}

Test(image_store, writer_with_wrong_expected_digest_keeps_nothing)
{
        sb_error_t err = { 0 };
        struct image_blob_writer *w = NULL;
        char other[SB_DIGEST_STR_LEN + 1], actual[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest("something else", 14, other);
        sb_sha256_digest("payload", 7, actual);

        cr_assert_eq(image_blob_writer_new(store, &w, &err), 0);
        cr_assert_eq(image_blob_writer_write(w, "payload", 7, &err), 0);
        cr_assert_eq(image_blob_writer_commit(w, other, NULL, &err), -EBADMSG);
        cr_assert_not(image_store_has_blob(store, other));
        cr_assert_not(image_store_has_blob(store, actual));
        cr_assert_eq(count_entries(store->blobs_fd, "."), 0);
        cr_assert_eq(count_entries(store->tmp_fd, "."), 0);
}

Test(image_store, aborted_writer_leaves_no_temporary_file)
{
        sb_error_t err = { 0 };
        struct image_blob_writer *w = NULL;
        cr_assert_eq(image_blob_writer_new(store, &w, &err), 0);
        cr_assert_eq(image_blob_writer_write(w, "partial", 7, &err), 0);
        cr_assert_eq(count_entries(store->tmp_fd, "."), 1);
        image_blob_writer_abort(w);
        cr_assert_eq(count_entries(store->tmp_fd, "."), 0);
        image_blob_writer_abort(NULL);
}

Test(image_store, mkdtemp_makes_distinct_private_dirs_under_tmp)
{
        sb_error_t err = { 0 };
        char *a = NULL, *b = NULL;
        cr_assert_eq(image_store_mkdtemp(store, "x", &a, &err), 0, "%s", err.msg);
        cr_assert_eq(image_store_mkdtemp(store, "x", &b, &err), 0, "%s", err.msg);
        cr_assert_str_neq(a, b);
        char *prefix = sb_xasprintf("%s/tmp/x-", store->root);
        cr_assert(sb_str_has_prefix(a, prefix), "%s", a);
        struct stat st;
        cr_assert_eq(stat(a, &st), 0);
        cr_assert(S_ISDIR(st.st_mode));
        cr_assert_eq(st.st_mode & 0777, 0700);
        free(prefix);
        free(a);
        free(b);
}

Test(image_store, lock_excludes_other_processes_until_closed)
{
        sb_error_t err = { 0 };
        int fd = -1;
        cr_assert_eq(image_store_lock(store, "layer-x", &fd, &err), 0, "%s", err.msg);
        cr_assert_eq(image_store_lock(store, "../escape", &fd, &err), -EINVAL);

        pid_t pid = fork();
        if (pid == 0) {
                int other = openat(store->locks_fd, "layer-x", O_RDWR | O_CLOEXEC);
                _exit(other >= 0 && flock(other, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK
                              ? 0
                              : 1);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "lock was not exclusive");
        close(fd);
}

Test(image_store, layer_paths_are_named_by_diff_id_hex)
{
        char d[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest("layer", 5, d);
        char *p = image_store_layer_path(store, d);
        char *want = sb_xasprintf("%s/layers/%s", store->root, d + 7);
        cr_assert_str_eq(p, want);
        cr_assert_not(image_store_has_layer(store, d));
        cr_assert_eq(mkdirat(store->layers_fd, d + 7, 0755), 0);
        cr_assert(image_store_has_layer(store, d));
        cr_assert_null(image_store_layer_path(store, "sha256:zz"));
        free(p);
        free(want);
}
