#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "build/text_buf.h"

Test(text_buf, appends_keep_embedded_nul_bytes_and_terminate_the_result)
{
        struct text_buf b = { 0 };
        char *s;

        text_buf_adds(&b, "ab");
        text_buf_add(&b, "\0c", 2);
        text_buf_addc(&b, 'd');
        cr_assert_eq(b.len, 5);
        s = text_buf_take(&b);
        cr_expect(memcmp(s, "ab\0cd", 6) == 0);
        cr_expect_null(b.p);
        cr_expect_eq(b.len, 0);
        free(s);
}

Test(text_buf, growing_past_many_reallocations_keeps_every_byte)
{
        struct text_buf b = { 0 };

        for (int i = 0; i < 10000; i++)
                text_buf_addc(&b, (char) ('a' + i % 26));
        cr_assert_eq(b.len, 10000);
        for (int i = 0; i < 10000; i++)
                cr_assert_eq(b.p[i], 'a' + i % 26, "byte %d", i);
        cr_expect_eq(b.p[10000], '\0');
        text_buf_free(&b);
        cr_expect_null(b.p);
}

Test(text_buf, taking_an_empty_buffer_gives_an_empty_string_not_null)
{
        struct text_buf b = { 0 };
        char *s = text_buf_take(&b);

        cr_assert_not_null(s);
        cr_expect_str_eq(s, "");
        free(s);
        text_buf_free(&b);
}
