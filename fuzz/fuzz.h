#pragma once
/* Shared by the libFuzzer targets in this folder: the entry point's prototype (the project
 * builds with -Werror=missing-prototypes) and a NUL-terminated copy of the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/sb_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string; an embedded NUL simply ends it early. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
        char *s = sb_xmalloc(size + 1);

        memcpy(s, data, size);
        s[size] = '\0';
        return s;
}
