/* libFuzzer target: image reference parsing (from users, Dockerfiles and registries). */
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "registry/registry_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = fuzz_cstr(data, size);
        struct registry_ref *r = NULL;
        sb_error_t err = { 0 };

        if (registry_ref_parse(s, &r, &err) >= 0) {
                free(registry_ref_format(r));
                free(registry_ref_name(r));
                (void) registry_host_is_loopback(r->registry);
                registry_ref_free(r);
        }
        (void) registry_host_is_loopback(s);
        free(s);
        return 0;
}
