/*
 * ADD URL downloads through the agent, against python3's http.server started by each test on
 * 127.0.0.1 with a free port, serving a temporary directory.
 */
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

#include "common/sb_digest.h"
#include "common/sb_error.h"
#include "common/sb_util.h"
#include "image/image_store.h"
#include "registry/registry_agent.h"
#include "registry/registry_client.h"

static char tmp[64];
static int port;
static pid_t server_pid = -1;
static struct image_store *store;
static struct registry_agent *agent;
static const char body[] = "downloaded content\n";

static int free_port(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fd, 0);
        cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        cr_assert_eq(getsockname(fd, (struct sockaddr *) &a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static bool server_answers(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons((uint16_t) port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok = connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
        close(fd);
        return ok;
}

static void setup(void)
{
        sb_error_t err = { 0 };
        snprintf(tmp, sizeof(tmp), "/tmp/sbuild-fetch-XXXXXX");
        cr_assert_not_null(mkdtemp(tmp));
        char *www = sb_path_join(tmp, "www");
        mkdir(www, 0755);
        char *file = sb_path_join(www, "file.txt");
        cr_assert_eq(sb_write_file_atomic_at(AT_FDCWD, file, body, strlen(body), 0644, &err), 0);
        free(file);
        port = free_port();
        server_pid = fork();
        cr_assert_geq(server_pid, 0);
        if (server_pid == 0) {
                char portstr[16];
                snprintf(portstr, sizeof(portstr), "%d", port);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                dup2(null, 1);
                dup2(null, 2);
                execlp("python3", "python3", "-m", "http.server", "--bind", "127.0.0.1",
                       "--directory", www, portstr, (char *) NULL);
                _exit(127);
        }
        free(www);
        for (int i = 0; i < 200 && !server_answers(); i++)
                nanosleep(&(struct timespec){ .tv_nsec = 25 * 1000 * 1000 }, NULL);
        cr_assert(server_answers(), "python3 http.server did not start");
        char *root = sb_path_join(tmp, "store");
        cr_assert_eq(image_store_open(root, &store, &err), 0, "%s", err.msg);
        struct registry_options o = { .store_root = root };
        cr_assert_eq(registry_agent_start(&o, &agent, &err), 0, "%s", err.msg);
        free(root);
}

static void teardown(void)
{
        sb_error_t err = { 0 };
        registry_agent_stop(agent);
        image_store_free(store);
        if (server_pid > 0) {
                kill(server_pid, SIGKILL);
                waitpid(server_pid, NULL, 0);
        }
        sb_rm_rf_at(AT_FDCWD, tmp, &err);
}

TestSuite(registry_fetch, .init = setup, .fini = teardown, .timeout = 60);

static char *url_of(const char *path)
{
        return sb_xasprintf("http://127.0.0.1:%d/%s", port, path);
}

Test(registry_fetch, a_url_lands_in_the_store_under_its_digest)
{
        char want[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest(body, strlen(body), want);
        char *url = url_of("file.txt");
        struct registry_fetched f = { 0 };
        sb_error_t err = { 0 };
        cr_assert_eq(registry_agent_fetch(agent, url, NULL, &f, &err), 0, "%s", err.msg);
        cr_assert_str_eq(f.digest, want);
        cr_assert_eq(f.size, strlen(body));
        cr_assert_str_eq(f.name, "file.txt");
        cr_assert_gt(f.last_modified, 0, "http.server sends Last-Modified");
        cr_assert(image_store_has_blob(store, want));
        registry_fetched_done(&f);
        /* the right checksum is accepted */
        cr_assert_eq(registry_agent_fetch(agent, url, want, &f, &err), 0, "%s", err.msg);
        registry_fetched_done(&f);
        free(url);
}

Test(registry_fetch, a_wrong_checksum_is_an_error_naming_the_url)
{
        char *url = url_of("file.txt");
        struct registry_fetched f = { 0 };
        sb_error_t err = { 0 };
        const char *wrong = "sha256:"
                            "0000000000000000000000000000000000000000000000000000000000000000";
        cr_assert_eq(registry_agent_fetch(agent, url, wrong, &f, &err), -EBADMSG);
        cr_assert(strstr(err.msg, url), "%s", err.msg);
        cr_assert(strstr(err.msg, "checksum"), "%s", err.msg);
        free(url);
}

Test(registry_fetch, a_missing_file_is_enoent)
{
        char *url = url_of("nope.txt");
        struct registry_fetched f = { 0 };
        sb_error_t err = { 0 };
        cr_assert_eq(registry_agent_fetch(agent, url, NULL, &f, &err), -ENOENT, "%s", err.msg);
        cr_assert(strstr(err.msg, "404"), "%s", err.msg);
        free(url);
}

Test(registry_fetch, other_schemes_are_refused)
{
        struct registry_fetched f = { 0 };
        sb_error_t err = { 0 };
        cr_assert_lt(registry_agent_fetch(agent, "ftp://127.0.0.1/x", NULL, &f, &err), 0);
        cr_assert(strstr(err.msg, "http"), "%s", err.msg);
        cr_assert_lt(registry_agent_fetch(agent, "file:///etc/passwd", NULL, &f, &err), 0);
}

Test(registry_fetch, a_body_over_the_cap_is_refused_and_not_kept)
{
        char *url = url_of("file.txt");
        struct registry_fetched f = { 0 };
        sb_error_t err = { 0 };
        struct registry_options o = { 0 };
        cr_assert_eq(registry_fetch_url(&o, store, url, NULL, 5, &f, &err), -EFBIG, "%s",
                     err.msg);
        char want[SB_DIGEST_STR_LEN + 1];
        sb_sha256_digest(body, strlen(body), want);
        cr_assert_not(image_store_has_blob(store, want));
        free(url);
}
