#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_digest.h"
#include "common/sb_error.h"
#include "common/sb_util.h"

Test(common_util, parse_u64_refuses_garbage_and_overflow)
{
        uint64_t v = 0;
        cr_assert_eq(sb_parse_u64("42", 100, &v), 0);
        cr_assert_eq(v, 42);
        cr_assert_eq(sb_parse_u64("", 100, &v), -EINVAL);
        cr_assert_eq(sb_parse_u64("4x", 100, &v), -EINVAL);
        cr_assert_eq(sb_parse_u64("-1", 100, &v), -EINVAL);
        cr_assert_eq(sb_parse_u64("101", 100, &v), -ERANGE);
        cr_assert_eq(sb_parse_u64("99999999999999999999999", UINT64_MAX, &v), -ERANGE);
}

Test(common_util, sha256_of_empty_input_is_the_well_known_digest)
{
        char d[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest("", 0, d);
        cr_assert_str_eq(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        cr_assert(sb_digest_valid(d));
        cr_assert_not(sb_digest_valid("sha256:E3B0"));
        cr_assert_not(sb_digest_valid("sha256:../../etc/passwd"));
}

Test(common_util, read_file_refuses_files_over_the_limit)
{
        char dir[] = "/tmp/sbuild-test-XXXXXX";
        cr_assert_not_null(mkdtemp(dir));
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        sb_error_t err = { 0 };
        cr_assert_eq(sb_write_file_atomic_at(dfd, "f", "0123456789", 10, 0644, &err), 0, "%s",
                     err.msg);
        char *data = NULL;
        size_t len = 0;
        cr_assert_eq(sb_read_file_at(dfd, "f", 100, &data, &len, &err), 0);
        cr_assert_eq(len, 10);
        cr_assert_str_eq(data, "0123456789");
        free(data);
        cr_assert_eq(sb_read_file_at(dfd, "f", 5, &data, &len, &err), -EFBIG);
        cr_assert(strstr(err.msg, "'f'") != NULL, "error names the file: %s", err.msg);
        cr_assert_eq(sb_rm_rf_at(AT_FDCWD, dir, &err), 0);
        close(dfd);
}

Test(common_util, path_join_uses_one_separator)
{
        char *p = sb_path_join("/a/", "/b");
        cr_assert_str_eq(p, "/a/b");
        free(p);
        p = sb_path_join("/", "x");
        cr_assert_str_eq(p, "/x");
        free(p);
}
