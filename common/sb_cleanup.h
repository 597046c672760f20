#pragma once
/* Scope-bound cleanup helpers (systemd/crun style). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void sb_freep(void *p)
{
        free(*(void **) p);
}
static inline void sb_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void sb_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}
static inline void sb_closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}
void sb_strv_free(char **v);
static inline void sb_strv_freep(char ***v)
{
        sb_strv_free(*v);
}

#define cleanup_free     __attribute__((cleanup(sb_freep)))
#define cleanup_close    __attribute__((cleanup(sb_closep)))
#define cleanup_fclose   __attribute__((cleanup(sb_fclosep)))
#define cleanup_closedir __attribute__((cleanup(sb_closedirp)))
#define cleanup_strv     __attribute__((cleanup(sb_strv_freep)))

/* Hand ownership out of a cleanup-attributed variable. */
static inline void *steal_pointer(void *pp)
{
        void **p = (void **) pp;
        void *r = *p;
        *p = NULL;
        return r;
}
static inline int steal_fd(int *fd)
{
        int r = *fd;
        *fd = -1;
        return r;
}
