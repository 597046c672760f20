#include "common/sb_digest.h"

#include <openssl/evp.h>
#include <string.h>

#include "common/sb_util.h"

struct sb_sha256 {
        EVP_MD_CTX *ctx;
};

struct sb_sha256 *sb_sha256_new(void)
{
        struct sb_sha256 *h = sb_xcalloc(1, sizeof(*h));
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                abort();
        return h;
}

void sb_sha256_update(struct sb_sha256 *h, const void *data, size_t len)
{
        if (len)
                EVP_DigestUpdate(h->ctx, data, len);
}

void sb_sha256_final(struct sb_sha256 *h, char out[SB_DIGEST_STR_LEN + 1])
{
        unsigned char md[32];
        unsigned int n = 0;
        EVP_DigestFinal_ex(h->ctx, md, &n);
        memcpy(out, "sha256:", 7);
        static const char hex[] = "0123456789abcdef";
        for (unsigned i = 0; i < 32; i++) {
                out[7 + 2 * i] = hex[md[i] >> 4];
                out[7 + 2 * i + 1] = hex[md[i] & 15];
        }
        out[SB_DIGEST_STR_LEN] = '\0';
        sb_sha256_free(h);
}

void sb_sha256_free(struct sb_sha256 *h)
{
        if (!h)
                return;
        EVP_MD_CTX_free(h->ctx);
        free(h);
}

void sb_sha256_digest(const void *data, size_t len, char out[SB_DIGEST_STR_LEN + 1])
{
        struct sb_sha256 *h = sb_sha256_new();
        sb_sha256_update(h, data, len);
        sb_sha256_final(h, out);
}

bool sb_digest_valid(const char *s)
{
        if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != SB_DIGEST_STR_LEN)
                return false;
        for (const char *p = s + 7; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}
