#pragma once
/* UTF-8 decoding and Unicode whitespace, with the semantics of Go's unicode/utf8 packages (the
 * parser and shell lexer must split text exactly as BuildKit does). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEXT_UTF8_MAX 4         /* bytes in the longest sequence */
#define TEXT_UTF8_INVALID 0xfffd /* U+FFFD, what an invalid byte decodes to */

/*
 * Decode the sequence at s[0..n), n >= 1, into *ret_cp and return its length in bytes. An
 * invalid or truncated sequence (overlong, surrogate, above U+10FFFF) decodes as one byte of
 * U+FFFD, as Go's utf8.DecodeRune does; the return value is never 0.
 */
size_t text_utf8_decode(const char *s, size_t n, uint32_t *ret_cp);
/* Encode cp (at most U+10FFFF, not checked) into out and return the number of bytes (1..4). */
size_t text_utf8_encode(uint32_t cp, char out[TEXT_UTF8_MAX]);
/* Go's unicode.IsSpace. */
bool text_utf8_is_space(uint32_t cp);
/* Go's unicode.IsPrint (as strconv.Quote uses it), approximated outside ASCII. */
bool text_utf8_is_print(uint32_t cp);
/* Bytes of Unicode whitespace at the start of s[0..n). */
size_t text_utf8_space_prefix(const char *s, size_t n);
/* Length of s[0..n) without its trailing Unicode whitespace. */
size_t text_utf8_trim_right_len(const char *s, size_t n);
