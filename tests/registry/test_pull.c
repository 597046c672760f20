/*
 * The agent's pulls against a real docker-registry on 127.0.0.1: images of many layers, whose
 * blobs are downloaded in parallel, each checked against its digest.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/sb_cleanup.h"
#include "common/sb_error.h"
#include "common/sb_util.h"
#include "image/image_oci.h"
#include "image/image_store.h"
#include "registry/registry_agent.h"

#include "registry_fixture.h"

TestSuite(registry_pull, .init = setup, .fini = teardown, .timeout = 60);

static struct registry_agent *start_agent(const char *store_name)
{
        char *root = tmp_path(store_name);
        struct registry_options o = { .store_root = root };
        struct registry_agent *a = NULL;
        sb_error_t err = { 0 };

        cr_assert_eq(registry_agent_start(&o, &a, &err), 0, "%s", err.msg);
        free(root);
        return a;
}

/* ---- pulls: layers downloaded in parallel ---- */

#define MANY_LAYERS 9

/*
 * Push an image of MANY_LAYERS pseudo-random layers (the last repeats the first, as images
 * with an empty layer twice do) from store1 to repo; layers[] gets their descriptors.
 */
static char *push_many_layer_image(const char *repo, struct image_descriptor *layers,
                                   char manifest[SB_DIGEST_STR_LEN + 1])
{
        char *root = tmp_path("store1");
        struct image_store *s = NULL;
        struct image_descriptor config = { 0 };
        struct registry_agent *a;
        sb_error_t err = { 0 };
        char pushed[SB_DIGEST_STR_LEN + 1];
        uint64_t msize = 0;

        for (size_t i = 0; i + 1 < MANY_LAYERS; i++) {
                layers[i].size = 100000 + 37 * i;
                put_random_blob("store1", layers[i].size, layers[i].digest);
                snprintf(layers[i].media_type, sizeof(layers[i].media_type), "%s",
                         IMAGE_MT_OCI_LAYER_GZIP);
        }
        layers[MANY_LAYERS - 1] = layers[0];
        cr_assert_eq(image_store_open(root, &s, &err), 0, "%s", err.msg);
        static const char cfg[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{}}";
        snprintf(config.media_type, sizeof(config.media_type), "%s", IMAGE_MT_OCI_CONFIG);
        cr_assert_eq(image_store_put_blob(s, cfg, sizeof(cfg) - 1, config.digest, &err), 0, "%s",
                     err.msg);
        config.size = sizeof(cfg) - 1;
        cr_assert_eq(image_manifest_write(s, &config, layers, MANY_LAYERS, manifest, &msize,
                                          &err),
                     0, "%s", err.msg);
        image_store_free(s);

        char *ref = sb_xasprintf("127.0.0.1:%d/%s:v1", port, repo);
        a = start_agent("store1");
        cr_assert_eq(registry_agent_push(a, ref, manifest, pushed, &err), 0, "%s", err.msg);
        registry_agent_stop(a);
        free(root);
        return ref;
}

/* Entries of the store's tmp folder (a failed download must leave none). */
static size_t store_tmp_entries(const char *store_name)
{
        char *dir = sb_xasprintf("%s/%s/tmp", tmp, store_name);
        cleanup_closedir DIR *d = opendir(dir);
        size_t n = 0;
        struct dirent *e;

        free(dir);
        while (d && (e = readdir(d)))
                n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
        return n;
}

Test(registry_pull, every_layer_of_a_many_layer_image_is_pulled_intact)
{
        struct image_descriptor layers[MANY_LAYERS];
        char manifest[SB_DIGEST_STR_LEN + 1];
        struct registry_pulled p = { 0 };
        sb_error_t err = { 0 };

        start_registry("");
        memset(layers, 0, sizeof(layers));
        char *ref = push_many_layer_image("test/many", layers, manifest);

        /* the store already holds one layer: it is not fetched, the rest is */
        put_random_blob("store2", layers[3].size, layers[3].digest);
        struct registry_agent *a = start_agent("store2");
        cr_assert_eq(registry_agent_pull(a, ref, NULL, NULL, NULL, &p, &err), 0, "%s", err.msg);
        cr_assert_str_eq(p.manifest_digest, manifest);
        cr_assert_eq(p.n_layers, MANY_LAYERS);
        for (size_t i = 0; i < MANY_LAYERS; i++)
                cr_assert_str_eq(p.layers[i].digest, layers[i].digest);
        registry_pulled_done(&p);
        registry_agent_stop(a);

        char *root = tmp_path("store2");
        struct image_store *s = NULL;
        cr_assert_eq(image_store_open(root, &s, &err), 0, "%s", err.msg);
        for (size_t i = 0; i < MANY_LAYERS; i++) {
                char *data = NULL, got[SB_DIGEST_STR_LEN + 1];
                size_t len = 0;
                cr_assert_eq(image_store_read_blob(s, layers[i].digest, 1 << 20, &data, &len,
                                                   &err),
                             0, "layer %zu: %s", i, err.msg);
                sb_sha256_digest(data, len, got);
                cr_assert_str_eq(got, layers[i].digest, "layer %zu", i);
                cr_assert_eq(len, layers[i].size);
                free(data);
        }
        image_store_free(s);
        cr_assert_eq(store_tmp_entries("store2"), 0);
        free(root);
        free(ref);
}

Test(registry_pull, a_layer_the_registry_serves_corrupted_fails_the_pull_by_name_and_is_not_kept)
{
        struct image_descriptor layers[MANY_LAYERS];
        char manifest[SB_DIGEST_STR_LEN + 1];
        struct registry_pulled p = { 0 };
        sb_error_t err = { 0 };

        start_registry("");
        memset(layers, 0, sizeof(layers));
        char *ref = push_many_layer_image("test/corrupt", layers, manifest);

        /* flip one byte of layer 5 in the registry's storage: same size, another digest */
        const char *hex = layers[5].digest + 7;
        char *data = sb_xasprintf("%s/regdata/docker/registry/v2/blobs/sha256/%.2s/%s/data", tmp,
                                  hex, hex);
        int fd = open(data, O_RDWR | O_CLOEXEC);
        cr_assert_geq(fd, 0, "%s: %s", data, strerror(errno));
        unsigned char b = 0;
        cr_assert_eq(pread(fd, &b, 1, 1000), 1);
        b ^= 0xff;
        cr_assert_eq(pwrite(fd, &b, 1, 1000), 1);
        close(fd);

        struct registry_agent *a = start_agent("store2");
        cr_assert_lt(registry_agent_pull(a, ref, NULL, NULL, NULL, &p, &err), 0);
        cr_assert(strstr(err.msg, ref), "the image is named: %s", err.msg);
        cr_assert(strstr(err.msg, layers[5].digest), "the layer is named: %s", err.msg);
        registry_agent_stop(a);

        char *root = tmp_path("store2");
        struct image_store *s = NULL;
        cr_assert_eq(image_store_open(root, &s, &err), 0, "%s", err.msg);
        cr_assert_not(image_store_has_blob(s, layers[5].digest));
        image_store_free(s);
        cr_assert_eq(store_tmp_entries("store2"), 0);
        free(root);
        free(data);
        free(ref);
}
