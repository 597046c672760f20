/*
 * A real docker-registry for the registry tests: started by a test on 127.0.0.1 with a free
 * port and a temporary storage root (tmp), stopped by teardown().
 */
#include "registry_fixture.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/sb_util.h"
#include "image/image_store.h"

#define REGISTRY_BIN "/usr/bin/docker-registry"

char tmp[64];
int port;
static pid_t registry_pid = -1;

char *tmp_path(const char *name)
{
        return sb_path_join(tmp, name);
}

void write_text(const char *name, const char *text)
{
        char *p = tmp_path(name);
        FILE *f = fopen(p, "we");
        cr_assert_not_null(f, "%s", p);
        fputs(text, f);
        fclose(f);
        free(p);
}

int free_port(void)
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

/* true once GET /v2/ gets any HTTP answer */
static bool registry_answers(void)
{
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons((uint16_t) port) };
        char buf[16] = { 0 };
        const char req[] = "GET /v2/ HTTP/1.0\r\n\r\n";
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok = false;

        if (connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0 &&
            write(fd, req, sizeof(req) - 1) == (ssize_t) sizeof(req) - 1 &&
            read(fd, buf, sizeof(buf) - 1) > 5)
                ok = strncmp(buf, "HTTP/", 5) == 0;
        close(fd);
        return ok;
}

void start_registry(const char *extra_yaml)
{
        char *cfg = NULL, *data = tmp_path("regdata"), *log = tmp_path("registry.log");
        char *yaml;

        cr_assert_eq(access(REGISTRY_BIN, X_OK), 0, "%s is needed (apt install docker-registry)",
                     REGISTRY_BIN);
        port = free_port();
        yaml = sb_xasprintf("version: 0.1\n"
                            "log: {level: warn}\n"
                            "storage:\n  filesystem: {rootdirectory: %s}\n"
                            "http:\n  addr: 127.0.0.1:%d\n  secret: sbuild-test-secret\n%s",
                            data, port, extra_yaml);
        write_text("config.yml", yaml);
        free(yaml);
        cfg = tmp_path("config.yml");

        registry_pid = fork();
        cr_assert_geq(registry_pid, 0);
        if (registry_pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                execl(REGISTRY_BIN, "docker-registry", "serve", cfg, (char *) NULL);
                _exit(127);
        }
        for (int i = 0; i < 200 && !registry_answers(); i++)
                nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
        cr_assert(registry_answers(), "docker-registry did not come up on port %d", port);
        free(cfg);
        free(data);
        free(log);
}

void setup(void)
{
        snprintf(tmp, sizeof(tmp), "/tmp/sbuild-regtest-XXXXXX");
        cr_assert_not_null(mkdtemp(tmp));
        /* no credentials from the user running the tests */
        setenv("DOCKER_CONFIG", tmp, 1);
        setenv("HOME", tmp, 1);
}

void teardown(void)
{
        if (registry_pid > 0) {
                kill(registry_pid, SIGKILL);
                waitpid(registry_pid, NULL, 0);
                registry_pid = -1;
        }
        sb_rm_rf_at(AT_FDCWD, tmp, NULL);
}

/* A store blob of size pseudo-random bytes (incompressible, so sizes are what they say). */
void put_random_blob(const char *store_name, size_t size, char digest[SB_DIGEST_STR_LEN + 1])
{
        char *root = tmp_path(store_name);
        struct image_store *s = NULL;
        sb_error_t err = { 0 };
        unsigned char *buf = malloc(size);
        uint64_t x = 0x9e3779b97f4a7c15ull ^ size;

        cr_assert_eq(image_store_open(root, &s, &err), 0, "%s", err.msg);
        for (size_t i = 0; i < size; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf[i] = (unsigned char) x;
        }
        cr_assert_eq(image_store_put_blob(s, (const char *) buf, size, digest, &err), 0, "%s",
                     err.msg);
        image_store_free(s);
        free(buf);
        free(root);
}
