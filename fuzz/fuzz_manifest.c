/* libFuzzer target: manifest and index parsing (bodies come from registries). */
#include "fuzz/fuzz.h"
#include "image/image_oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *body = (const char *) data;
        struct image_manifest *m = NULL;
        struct image_index *idx = NULL;
        sb_error_t err = { 0 };

        (void) image_manifest_kind(body, size, NULL);
        (void) image_manifest_kind(body, size, IMAGE_MT_OCI_INDEX);
        if (image_manifest_parse(body, size, &m, &err) >= 0)
                image_manifest_free(m);
        if (image_index_parse(body, size, &idx, &err) >= 0) {
                const struct image_descriptor *d = NULL;
                (void) image_index_select(idx, "linux", "amd64", NULL, &d, &err);
                (void) image_index_select(idx, "linux", "arm64", "v8", &d, &err);
                image_index_free(idx);
        }
        return 0;
}
