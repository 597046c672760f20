/*
 * The registry agent against a real registry: Debian's docker-registry (distribution 2.8.2),
 * started by each test on 127.0.0.1 with a free port and a temporary storage root.
 */
#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/sb_error.h"
#include "common/sb_util.h"
#include "image/image_oci.h"
#include "image/image_store.h"
#include "registry/registry_agent.h"
#include "registry/registry_client.h"
#include "registry/registry_http.h"
#include "registry/registry_ref.h"

#include "registry_fixture.h"

TestSuite(registry_agent, .init = setup, .fini = teardown, .timeout = 60);

/* A one-file tar, gzip-compressed or not; deterministic so both share one diff_id. */
static void make_tar(bool gzip, char **ret, size_t *ret_len)
{
        size_t cap = 64 * 1024, used = 0;
        char *buf = malloc(cap);
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        static const char content[] = "hello from sbuild\n";

        if (gzip) {
                archive_write_add_filter_gzip(a);
                archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
        }
        archive_write_set_format_pax_restricted(a);
        cr_assert_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
        archive_entry_set_pathname(e, "hello.txt");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, sizeof(content) - 1);
        archive_entry_set_mtime(e, 1700000000, 0);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
        cr_assert_eq(archive_write_data(a, content, sizeof(content) - 1),
                     (ssize_t) sizeof(content) - 1);
        archive_entry_free(e);
        cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        *ret = buf;
        *ret_len = used;
}

struct image {
        struct image_descriptor config, layer;
        char manifest[SB_DIGEST_STR_LEN + 1];
        uint64_t manifest_size;
};

/* Build a one-layer image in the store at root; returns its descriptors. */
static void build_image(const char *root, struct image *img)
{
        struct image_store *s = NULL;
        sb_error_t err = { 0 };
        char *tar, *tgz, *cfg;
        size_t tar_len, tgz_len;
        char diff_id[SB_DIGEST_STR_LEN + 1];
        const char *os, *arch, *variant;
        cr_assert_eq(image_store_open(root, &s, &err), 0, "%s", err.msg);
        make_tar(false, &tar, &tar_len);
        make_tar(true, &tgz, &tgz_len);
        sb_sha256_digest(tar, tar_len, diff_id);
        image_host_platform(&os, &arch, &variant);
        cfg = sb_xasprintf("{\"architecture\":\"%s\",\"os\":\"%s\",\"config\":{},"
                           "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                           arch, os, diff_id);

        memset(img, 0, sizeof(*img));
        snprintf(img->config.media_type, sizeof(img->config.media_type), "%s", IMAGE_MT_OCI_CONFIG);
        cr_assert_eq(image_store_put_blob(s, cfg, strlen(cfg), img->config.digest, &err), 0, "%s",
                     err.msg);
        img->config.size = strlen(cfg);
        snprintf(img->layer.media_type, sizeof(img->layer.media_type), "%s",
                 IMAGE_MT_OCI_LAYER_GZIP);
        cr_assert_eq(image_store_put_blob(s, tgz, tgz_len, img->layer.digest, &err), 0, "%s",
                     err.msg);
        img->layer.size = tgz_len;
        cr_assert_eq(image_manifest_write(s, &img->config, &img->layer, 1, img->manifest,
                                          &img->manifest_size, &err),
                     0, "%s", err.msg);
        free(tar);
        free(tgz);
        free(cfg);
        image_store_free(s);
}

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

static int run_quiet(char *const argv[])
{
        int status = -1;
        pid_t pid = fork();

        cr_assert_geq(pid, 0);
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(fd, 1);
                dup2(fd, 2);
                execv(argv[0], argv);
                _exit(127);
        }
        waitpid(pid, &status, 0);
        return status;
}

Test(registry_agent, pushed_image_pulls_back_identically_and_skopeo_reads_it)
{
        struct image img;
        struct registry_agent *pusher, *puller;
        struct registry_pulled p = { 0 };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1], again[SB_DIGEST_STR_LEN + 1];
        char *store1 = tmp_path("store1");
        char *ref, *resolved;

        start_registry("");
        build_image(store1, &img);
        ref = sb_xasprintf("127.0.0.1:%d/test/img:v1", port);

        pusher = start_agent("store1");
        cr_assert_eq(registry_agent_push(pusher, ref, img.manifest, digest, &err), 0, "%s",
                     err.msg);
        cr_assert_str_eq(digest, img.manifest);
        /* a second push finds every blob present and records the same manifest */
        cr_assert_eq(registry_agent_push(pusher, ref, img.manifest, again, &err), 0, "%s", err.msg);
        cr_assert_str_eq(again, img.manifest);
        registry_agent_stop(pusher);

        puller = start_agent("store2");
        cr_assert_eq(registry_agent_pull(puller, ref, NULL, NULL, NULL, &p, &err), 0, "%s",
                     err.msg);
        resolved = sb_xasprintf("127.0.0.1:%d/test/img@%s", port, img.manifest);
        cr_assert_str_eq(p.resolved, resolved);
        cr_assert_str_eq(p.manifest_digest, img.manifest);
        cr_assert_str_eq(p.config.digest, img.config.digest);
        cr_assert_eq(p.config.size, img.config.size);
        cr_assert_eq(p.n_layers, 1);
        cr_assert_str_eq(p.layers[0].digest, img.layer.digest);
        cr_assert_str_eq(p.layers[0].media_type, IMAGE_MT_OCI_LAYER_GZIP);
        registry_pulled_done(&p);

        /* everything landed in the second store, intact */
        {
                char *root2 = tmp_path("store2");
                struct image_store *s2 = NULL;
                char *data = NULL;
                size_t len = 0;
                cr_assert_eq(image_store_open(root2, &s2, &err), 0, "%s", err.msg);
                cr_assert_eq(
                        image_store_read_blob(s2, img.layer.digest, 1 << 20, &data, &len, &err), 0,
                        "%s", err.msg);
                cr_assert_eq(len, img.layer.size);
                free(data);
                cr_assert(image_store_has_blob(s2, img.config.digest));
                cr_assert(image_store_has_blob(s2, img.manifest));
                image_store_free(s2);
                free(root2);
        }

        /* pulling by digest works too */
        {
                char *byd = sb_xasprintf("127.0.0.1:%d/test/img@%s", port, img.manifest);
                cr_assert_eq(registry_agent_pull(puller, byd, NULL, NULL, NULL, &p, &err), 0, "%s",
                             err.msg);
                cr_assert_str_eq(p.manifest_digest, img.manifest);
                registry_pulled_done(&p);
                free(byd);
        }
        registry_agent_stop(puller);

        {
                char *dref = sb_xasprintf("docker://127.0.0.1:%d/test/img:v1", port);
                char *argv[] = { (char *) "/usr/bin/skopeo", (char *) "inspect",
                                 (char *) "--tls-verify=false", dref, NULL };
                int st = run_quiet(argv);
                cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "skopeo inspect failed (%d)", st);
                free(dref);
        }
        free(resolved);
        free(ref);
        free(store1);
}

Test(registry_agent, missing_tag_and_missing_repository_are_named_in_the_error)
{
        struct image img;
        struct registry_agent *a;
        struct registry_pulled p = { 0 };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        char *store1 = tmp_path("store1");
        char *ref = NULL, *missing = NULL, *norepo = NULL;

        start_registry("");
        build_image(store1, &img);
        ref = sb_xasprintf("127.0.0.1:%d/test/img:v1", port);
        missing = sb_xasprintf("127.0.0.1:%d/test/img:nope", port);
        norepo = sb_xasprintf("127.0.0.1:%d/no/such:v1", port);
        a = start_agent("store1");
        cr_assert_eq(registry_agent_push(a, ref, img.manifest, digest, &err), 0, "%s", err.msg);

        cr_assert_eq(registry_agent_pull(a, missing, NULL, NULL, NULL, &p, &err), -ENOENT, "%s",
                     err.msg);
        cr_log_info("%s", err.msg);
        cr_assert(strstr(err.msg, missing), "%s", err.msg);
        cr_assert(strstr(err.msg, "manifest unknown"), "%s", err.msg);
        cr_assert_null(strchr(err.msg, '\n'));

        cr_assert_eq(registry_agent_pull(a, norepo, NULL, NULL, NULL, &p, &err), -ENOENT);
        cr_log_info("%s", err.msg);
        cr_assert(strstr(err.msg, norepo), "%s", err.msg);

        /* a malformed reference never reaches the network */
        cr_assert_eq(registry_agent_pull(a, "Bad/Name", NULL, NULL, NULL, &p, &err), -EINVAL);
        cr_assert(strstr(err.msg, "Bad/Name"), "%s", err.msg);
        registry_agent_stop(a);
        free(ref);
        free(missing);
        free(norepo);
        free(store1);
}

Test(registry_agent, unreachable_registry_fails_fast_with_a_clear_message)
{
        struct registry_agent *a = start_agent("store");
        struct registry_pulled p = { 0 };
        sb_error_t err = { 0 };
        char *ref = sb_xasprintf("127.0.0.1:%d/x/y:1", free_port());
        double t0 = sb_now();

        cr_assert_eq(registry_agent_pull(a, ref, NULL, NULL, NULL, &p, &err), -ECONNREFUSED);
        cr_assert_lt(sb_now() - t0, 5.0);
        cr_log_info("%s", err.msg);
        cr_assert(strstr(err.msg, ref), "%s", err.msg);
        cr_assert(strstr(err.msg, "connection refused"), "%s", err.msg);
        cr_assert(strstr(err.msg, "is the registry running?"), "%s", err.msg);
        registry_agent_stop(a);
        free(ref);
}

Test(registry_agent, dead_agent_gives_an_error_not_a_hang)
{
        struct registry_agent *a = start_agent("store");
        struct registry_pulled p = { 0 };
        sb_error_t err = { 0 };

        cr_assert_gt(registry_agent_pid(a), 0);
        kill(registry_agent_pid(a), SIGKILL);
        cr_assert_eq(registry_agent_pull(a, "localhost:1/x:1", NULL, NULL, NULL, &p, &err), -EPIPE);
        cr_log_info("%s", err.msg);
        cr_assert(strstr(err.msg, "registry agent"), "%s", err.msg);
        registry_agent_stop(a);
}

Test(registry_agent, push_follows_relative_upload_locations)
{
        struct image img;
        struct registry_agent *a;
        struct registry_pulled p = { 0 };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        char *store1 = tmp_path("store1");
        char *ref;

        /* 2.8.2 then answers POST with "Location: /v2/...?_state=..." */
        start_registry("  relativeurls: true\n");
        build_image(store1, &img);
        ref = sb_xasprintf("localhost:%d/rel/img", port);
        a = start_agent("store1");
        cr_assert_eq(registry_agent_push(a, ref, img.manifest, digest, &err), 0, "%s", err.msg);
        cr_assert_str_eq(digest, img.manifest);
        registry_agent_stop(a);

        a = start_agent("store2");
        cr_assert_eq(registry_agent_pull(a, ref, NULL, NULL, NULL, &p, &err), 0, "%s", err.msg);
        cr_assert_str_eq(p.manifest_digest, img.manifest);
        registry_pulled_done(&p);
        registry_agent_stop(a);
        free(ref);
        free(store1);
}

Test(registry_agent, pull_of_an_index_selects_the_requested_platform)
{
        struct image img;
        struct registry_agent *a;
        struct registry_pulled p = { 0 };
        struct registry_ref *r = NULL;
        struct registry_client *c = NULL;
        struct registry_options o = { 0 };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1], idx_digest[SB_DIGEST_STR_LEN + 1];
        char *store1 = tmp_path("store1");
        char *ref, *multi, *index, *resolved;
        const char *os, *arch, *variant;

        start_registry("");
        build_image(store1, &img);
        ref = sb_xasprintf("127.0.0.1:%d/multi/img:single", port);
        multi = sb_xasprintf("127.0.0.1:%d/multi/img:multi", port);
        a = start_agent("store1");
        cr_assert_eq(registry_agent_push(a, ref, img.manifest, digest, &err), 0, "%s", err.msg);
        registry_agent_stop(a);

        /* a one-entry index for the host platform (the registry refuses index entries whose
         * manifests it does not hold, so a decoy entry cannot be pushed) */
        image_host_platform(&os, &arch, &variant);
        index = sb_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
                             "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%llu,"
                             "\"platform\":{\"os\":\"%s\",\"architecture\":\"%s\"%s%s%s}}]}",
                             IMAGE_MT_OCI_INDEX, IMAGE_MT_OCI_MANIFEST, img.manifest,
                             (unsigned long long) img.manifest_size, os, arch,
                             variant && *variant ? ",\"variant\":\"" : "", variant ? variant : "",
                             variant && *variant ? "\"" : "");
        cr_assert_eq(registry_ref_parse(multi, &r, &err), 0, "%s", err.msg);
        cr_assert_eq(registry_client_new(&o, r, true, &c, &err), 0);
        cr_assert_eq(registry_client_put_manifest(c, "multi", IMAGE_MT_OCI_INDEX, index,
                                                  strlen(index), idx_digest, &err),
                     0, "%s", err.msg);
        registry_client_free(c);
        registry_ref_free(r);

        a = start_agent("store2");
        cr_assert_eq(registry_agent_pull(a, multi, NULL, NULL, NULL, &p, &err), 0, "%s", err.msg);
        cr_assert_str_eq(p.manifest_digest, img.manifest);
        resolved = sb_xasprintf("127.0.0.1:%d/multi/img@%s", port, idx_digest);
        cr_assert_str_eq(p.resolved, resolved);
        registry_pulled_done(&p);

        cr_assert_eq(registry_agent_pull(a, multi, "linux", "s390x", NULL, &p, &err), -ENOENT, "%s",
                     err.msg);
        cr_log_info("%s", err.msg);
        cr_assert(strstr(err.msg, multi), "%s", err.msg);
        registry_agent_stop(a);
        free(resolved);
        free(index);
        free(ref);
        free(multi);
        free(store1);
}

static void write_docker_config(const char *user, const char *pass)
{
        char *json = sb_xasprintf("{\"auths\":{\"127.0.0.1:%d\":{\"username\":\"%s\","
                                  "\"password\":\"%s\"}}}",
                                  port, user, pass);
        write_text("config.json", json);
        free(json);
}

Test(registry_agent, htpasswd_registry_accepts_configured_credentials_only)
{
        struct image img;
        struct registry_agent *a;
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        char *store1 = tmp_path("store1"), *htpasswd = tmp_path("htpasswd");
        char *yaml, *ref, *cmd_out;
        int st;

        /* htpasswd -nbB prints "user:$2y$..." */
        cmd_out = tmp_path("htpasswd");
        {
                pid_t pid = fork();
                cr_assert_geq(pid, 0);
                if (pid == 0) {
                        int fd = open(cmd_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                        dup2(fd, 1);
                        execl("/usr/bin/htpasswd", "htpasswd", "-nbB", "builder", "s3cret",
                              (char *) NULL);
                        _exit(127);
                }
                waitpid(pid, &st, 0);
                cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "htpasswd failed");
        }
        yaml = sb_xasprintf("auth:\n  htpasswd: {realm: test-realm, path: %s}\n", htpasswd);
        start_registry(yaml);
        build_image(store1, &img);
        ref = sb_xasprintf("127.0.0.1:%d/secure/img:v1", port);

        /* no credentials at all */
        a = start_agent("store1");
        cr_assert_eq(registry_agent_push(a, ref, img.manifest, digest, &err), -EACCES);
        cr_log_info("%s", err.msg);
        cr_assert(strstr(err.msg, "authentication required"), "%s", err.msg);
        cr_assert(strstr(err.msg, ref), "%s", err.msg);

        /* wrong password (credentials are read when needed, so the same agent sees it) */
        write_docker_config("builder", "wrong");
        cr_assert_eq(registry_agent_push(a, ref, img.manifest, digest, &err), -EACCES);
        cr_log_info("%s", err.msg);
        cr_assert(strstr(err.msg, "authentication failed"), "%s", err.msg);
        cr_assert_null(strstr(err.msg, "wrong"), "the password leaked: %s", err.msg);

        write_docker_config("builder", "s3cret");
        cr_assert_eq(registry_agent_push(a, ref, img.manifest, digest, &err), 0, "%s", err.msg);
        cr_assert_str_eq(digest, img.manifest);
        registry_agent_stop(a);

        free(yaml);
        free(ref);
        free(cmd_out);
        free(htpasswd);
        free(store1);
}

/* ---- push paths: chunked uploads, cross-repository mounts, background uploads ---- */

static struct registry_client *client_for(const char *repo, const char *store_name,
                                          struct image_store **ret_store)
{
        static struct registry_options o = { 0 };
        char *root = tmp_path(store_name);
        char *refs = sb_xasprintf("127.0.0.1:%d/%s", port, repo);
        struct registry_ref *ref = NULL;
        struct registry_client *c = NULL;
        sb_error_t err = { 0 };

        cr_assert_eq(image_store_open(root, ret_store, &err), 0, "%s", err.msg);
        cr_assert_eq(registry_ref_parse(refs, &ref, &err), 0, "%s", err.msg);
        cr_assert_eq(registry_client_new(&o, ref, true, &c, &err), 0, "%s", err.msg);
        registry_ref_free(ref);
        free(refs);
        free(root);
        return c;
}

/* GET digest from repo into a fresh store (the client checks the bytes against the digest). */
static void assert_blob_pulls_back(const char *repo, const char *digest, uint64_t size)
{
        struct image_store *s = NULL;
        struct registry_client *c = client_for(repo, "check-store", &s);
        sb_error_t err = { 0 };

        cr_assert_eq(registry_client_get_blob(c, s, digest, size, &err), 0, "%s: %s", repo,
                     err.msg);
        cr_assert(image_store_has_blob(s, digest));
        registry_client_free(c);
        image_store_free(s);
        char *root = tmp_path("check-store");
        sb_rm_rf_at(AT_FDCWD, root, NULL);
        free(root);
}

static void chunked_upload_round_trip(void)
{
        const size_t size = 3 * 1024 * 1024 + 12345;
        char digest[SB_DIGEST_STR_LEN + 1];
        struct image_store *s = NULL;
        struct registry_client *c;
        struct registry_push_blob_opts o = { .chunk_threshold = 1024 * 1024,
                                             .chunk_size = 1024 * 1024 + 7 };
        struct registry_push_blob_stats st = { 0 };
        sb_error_t err = { 0 };

        put_random_blob("store1", size, digest);
        c = client_for("chunked/img", "store1", &s);
        cr_assert_eq(registry_client_push_blob(c, s, digest, &o, &st, &err), 0, "%s", err.msg);
        /* 3 MiB + 12345 in chunks of 1 MiB + 7: three full chunks and a short one */
        cr_assert_eq(st.n_patches, 4);
        cr_assert_not(st.mounted);
        registry_client_free(c);
        image_store_free(s);
        assert_blob_pulls_back("chunked/img", digest, size);
}

Test(registry_agent, large_blob_goes_up_in_patch_chunks_to_absolute_locations_with_a_query)
{
        start_registry("");
        chunked_upload_round_trip();
}

Test(registry_agent, large_blob_goes_up_in_patch_chunks_to_relative_locations)
{
        start_registry("  relativeurls: true\n");
        chunked_upload_round_trip();
}

Test(registry_agent, blob_in_another_repository_is_mounted_not_uploaded)
{
        char digest[SB_DIGEST_STR_LEN + 1];
        struct image_store *s = NULL;
        struct registry_client *a, *b;
        const char *from[] = { "team/base", NULL };
        struct registry_push_blob_opts o = { .mount_from = from };
        struct registry_push_blob_stats st = { 0 };
        sb_error_t err = { 0 };
        bool exists = true;

        start_registry("");
        put_random_blob("store1", 200000, digest);
        a = client_for("team/base", "store1", &s);
        cr_assert_eq(registry_client_put_blob(a, s, digest, &err), 0, "%s", err.msg);
        registry_client_free(a);
        image_store_free(s);

        b = client_for("team/app", "store1", &s);
        cr_assert_eq(registry_client_has_blob(b, digest, &exists, &err), 0, "%s", err.msg);
        cr_assert_not(exists, "repositories do not share blobs until mounted");
        cr_assert_eq(registry_client_push_blob(b, s, digest, &o, &st, &err), 0, "%s", err.msg);
        cr_assert(st.mounted, "the registry answered the mount with 201");
        cr_assert_eq(st.n_patches, 0);
        cr_assert_eq(registry_client_has_blob(b, digest, &exists, &err), 0, "%s", err.msg);
        cr_assert(exists);
        registry_client_free(b);
        image_store_free(s);
        assert_blob_pulls_back("team/app", digest, 200000);
}

Test(registry_agent, mount_the_registry_cannot_do_falls_back_to_its_upload_session)
{
        char digest[SB_DIGEST_STR_LEN + 1];
        struct image_store *s = NULL;
        struct registry_client *c;
        const char *from[] = { "nobody/has-it", NULL };
        /* over the threshold: the chunks go into the 202 session the mount answer opened */
        struct registry_push_blob_opts o = { .mount_from = from, .chunk_threshold = 100000,
                                             .chunk_size = 65536 };
        struct registry_push_blob_stats st = { 0 };
        sb_error_t err = { 0 };

        start_registry("");
        put_random_blob("store1", 200000, digest);
        c = client_for("team/other", "store1", &s);
        cr_assert_eq(registry_client_push_blob(c, s, digest, &o, &st, &err), 0, "%s", err.msg);
        cr_assert_not(st.mounted);
        cr_assert_eq(st.n_patches, 4);
        registry_client_free(c);
        image_store_free(s);
        assert_blob_pulls_back("team/other", digest, 200000);
}

Test(registry_agent, background_uploads_reach_every_destination_before_the_push_ends)
{
        struct image img;
        struct registry_agent *a;
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        char *store1 = tmp_path("store1");
        char *dest1, *dest2, *dest3;
        char *const none[] = { NULL };

        start_registry("");
        build_image(store1, &img);
        dest1 = sb_xasprintf("127.0.0.1:%d/bg/one:v1", port);
        dest2 = sb_xasprintf("127.0.0.1:%d/bg/one:v2", port);
        dest3 = sb_xasprintf("127.0.0.1:%d/bg/two:v1", port);
        a = start_agent("store1");
        /* queued uploads answer at once; the same blob twice for one repository goes up once */
        cr_assert_eq(registry_agent_upload(a, dest1, img.layer.digest, none, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(registry_agent_upload(a, dest2, img.layer.digest, NULL, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(registry_agent_upload(a, dest3, img.layer.digest, NULL, &err), 0, "%s",
                     err.msg);
        /* the worker uploads without any further request */
        for (int i = 0; i < 200; i++) {
                struct image_store *s = NULL;
                struct registry_client *c = client_for("bg/one", "probe", &s);
                /* the probe may meet docker-registry's transient 500 while the worker's upload
                 * is being committed: the probe (not the code under test) retries as
                 * --push-retry would */
                c->retries = 3;
                c->backoff_ms = 50;
                bool exists = false;
                int r = registry_client_has_blob(c, img.layer.digest, &exists, &err);
                registry_client_free(c);
                image_store_free(s);
                cr_assert_eq(r, 0, "%s", err.msg);
                if (exists)
                        break;
                cr_assert_lt(i, 199, "the background upload never arrived");
                nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
        cr_assert_eq(registry_agent_upload(a, dest1, "sha256:0000000000000000000000000000000000000"
                                                     "000000000000000000000000000",
                                           NULL, &err),
                     -ENOENT, "a blob not in the store is refused");
        cr_assert_eq(registry_agent_push(a, dest1, img.manifest, digest, &err), 0, "%s", err.msg);
        cr_assert_eq(registry_agent_push(a, dest2, img.manifest, digest, &err), 0, "%s", err.msg);
        cr_assert_eq(registry_agent_push(a, dest3, img.manifest, digest, &err), 0, "%s", err.msg);
        cr_assert_str_eq(digest, img.manifest);
        registry_agent_stop(a);
        assert_blob_pulls_back("bg/two", img.layer.digest, img.layer.size);
        assert_blob_pulls_back("bg/one", img.config.digest, img.config.size);
        free(dest1);
        free(dest2);
        free(dest3);
        free(store1);
}

Test(registry_agent, push_permission_check_names_the_destination_it_may_not_push_to)
{
        struct registry_agent *a;
        sb_error_t err = { 0 };
        char *htpasswd = tmp_path("htpasswd");
        char *yaml, *ref;
        int st;

        {
                pid_t pid = fork();
                cr_assert_geq(pid, 0);
                if (pid == 0) {
                        int fd = open(htpasswd, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                        dup2(fd, 1);
                        execl("/usr/bin/htpasswd", "htpasswd", "-nbB", "builder", "s3cret",
                              (char *) NULL);
                        _exit(127);
                }
                waitpid(pid, &st, 0);
                cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "htpasswd failed");
        }
        yaml = sb_xasprintf("auth:\n  htpasswd: {realm: test-realm, path: %s}\n", htpasswd);
        start_registry(yaml);
        ref = sb_xasprintf("127.0.0.1:%d/locked/img:v1", port);
        a = start_agent("store1");
        cr_assert_eq(registry_agent_check_push(a, ref, &err), -EACCES, "%s", err.msg);
        cr_assert(strstr(err.msg, "no push access"), "%s", err.msg);
        cr_assert(strstr(err.msg, ref), "%s", err.msg);
        write_docker_config("builder", "s3cret");
        cr_assert_eq(registry_agent_check_push(a, ref, &err), 0, "%s", err.msg);
        registry_agent_stop(a);
        free(yaml);
        free(ref);
        free(htpasswd);
}

/* Move the layer out of the store at store_name into the directory blobs (a layout's
 * blobs/sha256), optionally flipping one byte of it. */
static void layer_to_layout(const char *store_name, const struct image *img, const char *blobs,
                            bool corrupt)
{
        char *dir = tmp_path(blobs);
        char *from = sb_xasprintf("%s/%s/blobs/sha256/%s", tmp, store_name, img->layer.digest + 7);
        char *to = sb_xasprintf("%s/%s", dir, img->layer.digest + 7);
        cr_assert_eq(mkdir(dir, 0755), 0);
        cr_assert_eq(rename(from, to), 0, "%s: %s", from, strerror(errno));
        if (corrupt) {
                int fd = open(to, O_RDWR | O_CLOEXEC);
                unsigned char c = 0;
                cr_assert_eq(pread(fd, &c, 1, 20), 1);
                c ^= 0xff;
                cr_assert_eq(pwrite(fd, &c, 1, 20), 1);
                close(fd);
        }
        free(dir);
        free(from);
        free(to);
}

Test(registry_agent, layout_layer_goes_up_from_the_layout_and_is_not_copied_into_the_store)
{
        struct image img;
        struct registry_agent *a, *puller;
        struct registry_pulled p = { 0 };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        char *store = tmp_path("store1"), *blobs = tmp_path("layout-blobs");
        char *ref;

        start_registry("");
        build_image(store, &img);
        layer_to_layout("store1", &img, "layout-blobs", false);
        ref = sb_xasprintf("127.0.0.1:%d/test/layout:v1", port);
        a = start_agent("store1");
        cr_assert_eq(registry_agent_push_layout(a, ref, img.manifest, blobs, digest, &err), 0,
                     "%s", err.msg);
        cr_assert_str_eq(digest, img.manifest);
        registry_agent_stop(a);

        struct image_store *s = NULL;
        cr_assert_eq(image_store_open(store, &s, &err), 0, "%s", err.msg);
        cr_assert_not(image_store_has_blob(s, img.layer.digest));
        image_store_free(s);

        puller = start_agent("store2");
        cr_assert_eq(registry_agent_pull(puller, ref, NULL, NULL, NULL, &p, &err), 0, "%s",
                     err.msg);
        cr_assert_str_eq(p.layers[0].digest, img.layer.digest);
        registry_pulled_done(&p);
        registry_agent_stop(puller);
        free(store);
        free(blobs);
        free(ref);
}

Test(registry_agent, corrupted_layout_layer_fails_the_push_and_nothing_is_tagged)
{
        struct image img;
        struct registry_agent *a;
        struct registry_pulled p = { 0 };
        sb_error_t err = { 0 };
        char digest[SB_DIGEST_STR_LEN + 1];
        char *store = tmp_path("store1"), *blobs = tmp_path("layout-blobs");
        char *ref;

        start_registry("");
        build_image(store, &img);
        layer_to_layout("store1", &img, "layout-blobs", true);
        ref = sb_xasprintf("127.0.0.1:%d/test/bad:v1", port);
        a = start_agent("store1");
        cr_assert_eq(registry_agent_push_layout(a, ref, img.manifest, blobs, digest, &err),
                     -EBADMSG, "%s", err.msg);
        cr_assert(strstr(err.msg, img.layer.digest), "%s", err.msg);
        cr_assert_eq(registry_agent_pull(a, ref, NULL, NULL, NULL, &p, &err), -ENOENT, "%s",
                     err.msg);
        registry_agent_stop(a);

        struct image_store *s = NULL;
        cr_assert_eq(image_store_open(store, &s, &err), 0, "%s", err.msg);
        cr_assert_not(image_store_has_blob(s, img.layer.digest));
        image_store_free(s);
        free(store);
        free(blobs);
        free(ref);
}
