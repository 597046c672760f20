#pragma once
/*
 * Owners of files in a store tree. Where the user namespace cannot represent an owner (single-id
 * mode maps only uid 0), the intended owner is recorded in the xattr IMAGE_OWNER_XATTR and used
 * when the tree is written as a layer.
 */
#include <sys/types.h>

#define IMAGE_OWNER_XATTR "user.sbuild.owner"

/*
 * Set dirfd/name's owner without following a symlink; if the ids are not mapped (EINVAL),
 * record them instead. Returns 0 or -errno.
 */
int image_owner_apply(int dirfd, const char *name, uid_t uid, gid_t gid);
