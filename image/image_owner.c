#include "image/image_owner.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int image_owner_apply(int dirfd, const char *name, uid_t uid, gid_t gid)
{
        if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}
