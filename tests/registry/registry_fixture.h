#pragma once
/* A real docker-registry on loopback for the registry tests (registry_fixture.c). */
#include <stddef.h>

#include "common/sb_digest.h"

extern char tmp[64]; /* the test's temporary directory (DOCKER_CONFIG and HOME point there) */
extern int port;     /* the registry's port once started */

char *tmp_path(const char *name);
void write_text(const char *name, const char *text);
int free_port(void);
/* Start docker-registry with extra YAML appended to its config; waits until it answers. */
void start_registry(const char *extra_yaml);
void setup(void);
void teardown(void);
/* Put size pseudo-random (incompressible) bytes into the store tmp/STORE_NAME. */
void put_random_blob(const char *store_name, size_t size, char digest[SB_DIGEST_STR_LEN + 1]);
