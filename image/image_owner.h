#pragma once
/*
 * Owners of files in a store tree. Where the user namespace cannot represent an owner (single-id
 * mode maps only uid 0; root mode maps 0-65535), the intended owner is recorded in an xattr and
 * used when the tree is written as a layer, so the layer's tar headers carry the owner Docker
 * would have given the file.
 *
 * Where the record lives:
 * - regular files and directories: IMAGE_OWNER_XATTR on the entry itself, value "uid:gid".
 *   Overlay copy-up keeps user.* xattrs, so a file copied up from a lower layer keeps it.
 * - symlinks, fifos and device nodes (which cannot hold user.* xattrs): on the parent directory,
 *   named IMAGE_OWNER_CHILD_PREFIX + the entry's name (or IMAGE_OWNER_CHILD_HASHED + the sha256
 *   hex of the name when that would exceed the 255-byte xattr name limit), value
 *   "uid:gid:ino". The inode number ties the record to that very entry: a later step that
 *   replaces the symlink (new inode) in a copied-up parent does not inherit a stale owner.
 *
 * A record is honoured only on entries really owned by uid 0 (the mapped root that writes
 * records), so a non-root RUN process cannot make its own file appear root-owned in a layer.
 * None of these xattrs is ever written into a layer or accepted from one.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define IMAGE_OWNER_XATTR        "user.sbuild.owner"
#define IMAGE_OWNER_CHILD_PREFIX "user.sbuild.owner."
#define IMAGE_OWNER_CHILD_HASHED "user.sbuild.owner/"

/*
 * Set dirfd/name's owner without following a symlink. If the ids are not mapped in the
 * current user namespace (EINVAL, or EPERM while one of them is unmapped), record them as
 * described above instead and leave the real owner as it is. A successful chown removes any
 * stale record. Returns 0 or -errno (a failed chown for another reason, or a failed record,
 * e.g. -ENOTSUP where the filesystem has no user xattrs).
 */
int image_owner_apply(int dirfd, const char *name, uid_t uid, gid_t gid);

/*
 * Same, with fd already open on dirfd/name (a regular file or directory; -1 if none), which
 * saves reopening it.
 */
int image_owner_apply_fd(int dirfd, const char *name, int fd, uid_t uid, gid_t gid);

/*
 * The owner to write into a layer for dirfd/name, whose lstat is st: the recorded owner if a
 * valid record applies, else st's. fd is an open fd of the entry for regular files and
 * directories (-1 to open it here). Returns 1 if a record was used, 0 if not, -errno if it
 * could not be read (a malformed record is -EBADMSG).
 */
int image_owner_lookup(int dirfd, const char *name, int fd, const struct stat *st,
                       uid_t *ret_uid, gid_t *ret_gid);

/* True for the xattr names above: they describe the store tree, never a layer's content. */
bool image_owner_is_record_xattr(const char *xattr_name);
