#pragma once
/* Streaming sha256 and OCI digest strings ("sha256:<64 hex>"). */
#include <stdbool.h>
#include <stddef.h>

#define SB_DIGEST_HEX_LEN 64
#define SB_DIGEST_STR_LEN (7 + SB_DIGEST_HEX_LEN) /* "sha256:" + hex */

struct sb_sha256;

struct sb_sha256 *sb_sha256_new(void);
void sb_sha256_update(struct sb_sha256 *h, const void *data, size_t len);
/* Write "sha256:<hex>" (SB_DIGEST_STR_LEN + 1 bytes) and free h. */
void sb_sha256_final(struct sb_sha256 *h, char out[SB_DIGEST_STR_LEN + 1]);
void sb_sha256_free(struct sb_sha256 *h);
/* One-shot digest of a buffer. */
void sb_sha256_digest(const void *data, size_t len, char out[SB_DIGEST_STR_LEN + 1]);
/* True when s is exactly "sha256:" followed by 64 lowercase hex digits. */
bool sb_digest_valid(const char *s);
