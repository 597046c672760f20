#include "sandbox/sandbox_caps.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/capability.h>
#include <sys/prctl.h>

static const cap_value_t default_caps[] = {
        CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
        CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
        CAP_KILL,    CAP_AUDIT_WRITE,
};
#define N_DEFAULT (sizeof(default_caps) / sizeof(default_caps[0]))

int sandbox_caps_is_default(int cap)
{
        for (size_t i = 0; i < N_DEFAULT; i++)
                if (default_caps[i] == cap)
                        return 1;
        return 0;
}

int sandbox_caps_bound(sb_error_t *err)
{
        /*
         * The bounding set limits what any later execve can grant, including to uid 0 (whose
         * permitted set after exec is the bounding set) and through file capabilities. Walk
         * every capability the running kernel knows, not just the ones in our headers.
         */
        int last = (int) cap_max_bits();
        if (last <= 0)
                last = CAP_LAST_CAP + 1;
        for (int c = 0; c < last; c++) {
                if (sandbox_caps_is_default(c))
                        continue;
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        return sb_error_errno(err, errno,
                                              "dropping capability %d from the "
                                              "bounding set",
                                              c);
        }
        /* Ambient capabilities survive execve for non-root users: none at all. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return sb_error_errno(err, errno, "clearing the ambient capabilities");
        return 0;
}

int sandbox_caps_set(uid_t uid, sb_error_t *err)
{
        cap_t caps = cap_init(); /* all three sets empty */
        if (!caps)
                return sb_error_errno(err, errno, "cap_init");
        if (uid == 0 && (cap_set_flag(caps, CAP_PERMITTED, N_DEFAULT, default_caps, CAP_SET) < 0 ||
                         cap_set_flag(caps, CAP_EFFECTIVE, N_DEFAULT, default_caps, CAP_SET) < 0)) {
                int e = errno;
                cap_free(caps);
                return sb_error_errno(err, e, "cap_set_flag");
        }
        int r = cap_set_proc(caps);
        int e = errno;
        cap_free(caps);
        if (r < 0)
                return sb_error_errno(err, e, "setting the step's capabilities");
        return 0;
}
