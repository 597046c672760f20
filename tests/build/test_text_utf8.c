#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "build/text_utf8.h"

static uint32_t decode_one(const char *s, size_t n, size_t *ret_len)
{
        uint32_t cp = 0;

        *ret_len = text_utf8_decode(s, n, &cp);
        return cp;
}

Test(text_utf8, valid_sequences_of_every_length_decode_to_their_code_point)
{
        static const struct { char s[5]; uint32_t cp; } v[] = {
                { "A", 'A' }, { "\xc3\xa9", 0xe9 }, { "\xe4\xb8\xad", 0x4e2d },
                { "\xf0\x9f\x98\x80", 0x1f600 },
        };

        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                size_t len;
                uint32_t cp = decode_one(v[i].s, strlen(v[i].s), &len);
                cr_expect_eq(cp, v[i].cp, "case %zu: U+%04x", i, cp);
                cr_expect_eq(len, strlen(v[i].s), "case %zu", i);
        }
}

Test(text_utf8, invalid_or_truncated_sequence_is_one_byte_of_replacement_character)
{
        /* stray continuation, overlong '/', surrogate U+D800, above U+10FFFF, cut short */
        static const struct { char s[5]; size_t n; } v[] = {
                { "\x80", 1 }, { "\xc0\xaf", 2 }, { "\xed\xa0\x80", 3 },
                { "\xf4\x90\x80\x80", 4 }, { "\xe4\xb8\xad", 2 }, { "\xff", 1 },
        };

        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                size_t len;
                uint32_t cp = decode_one(v[i].s, v[i].n, &len);
                cr_expect_eq(cp, TEXT_UTF8_INVALID, "case %zu: U+%04x", i, cp);
                cr_expect_eq(len, 1, "case %zu: %zu bytes", i, len);
        }
}

Test(text_utf8, encoding_then_decoding_gives_back_the_code_point)
{
        static const uint32_t cps[] = { 0, 0x7f, 0x80, 0x7ff, 0x800, 0xfffd, 0xffff, 0x10000,
                                        0x10ffff };

        for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
                char out[TEXT_UTF8_MAX];
                size_t n = text_utf8_encode(cps[i], out), len;
                cr_expect_eq(decode_one(out, n, &len), cps[i], "U+%04x", cps[i]);
                cr_expect_eq(len, n, "U+%04x", cps[i]);
        }
}

Test(text_utf8, unicode_spaces_are_trimmed_but_zero_width_space_is_not_one)
{
        /* U+3000 ideographic space, U+00A0 no-break space, then text, then U+2003 em space */
        static const char s[] = "\xe3\x80\x80\xc2\xa0 x y\t\xe2\x80\x83";
        static const char zwsp[] = "\xe2\x80\x8bx";

        cr_expect_eq(text_utf8_space_prefix(s, strlen(s)), 6);
        cr_expect_eq(text_utf8_trim_right_len(s, strlen(s)), 9);
        cr_expect_eq(text_utf8_space_prefix(zwsp, strlen(zwsp)), 0);
        cr_expect_eq(text_utf8_space_prefix("  \n", 3), 3);
        cr_expect_eq(text_utf8_trim_right_len("  \n", 3), 0);
}

Test(text_utf8, controls_and_format_characters_are_not_printable)
{
        cr_expect(text_utf8_is_print('a'));
        cr_expect(text_utf8_is_print(0xe9));
        cr_expect(text_utf8_is_print(0x1f600));
        cr_expect_not(text_utf8_is_print('\n'));
        cr_expect_not(text_utf8_is_print(0x7f));
        cr_expect_not(text_utf8_is_print(0x85));
        cr_expect_not(text_utf8_is_print(0x200b));
        cr_expect_not(text_utf8_is_print(0xfeff));
}
