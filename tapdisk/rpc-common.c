/* SPDX-License-Identifier: GPL-2.0-only */
#include <errno.h>
#include <stdlib.h>
#include "td-rpc.h"

const char *td_rpc_run_dir(const char *override)
{
	const char *env;

	if (override && *override)
		return override;
	env = getenv(TD_RUN_DIR_ENV);
	if (env && *env)
		return env;
	return TD_RUN_DIR_DEFAULT;
}

#define E(x) case x: return #x

const char *td_errno_name(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	E(EPERM); E(ENOENT); E(ESRCH); E(EINTR); E(EIO); E(ENXIO);
	E(E2BIG); E(EBADF); E(EAGAIN); E(ENOMEM); E(EACCES); E(EFAULT);
	E(EBUSY); E(EEXIST); E(EXDEV); E(ENODEV); E(ENOTDIR); E(EISDIR);
	E(EINVAL); E(ENFILE); E(EMFILE); E(ENOTTY); E(EFBIG); E(ENOSPC);
	E(ESPIPE); E(EROFS); E(EPIPE); E(ERANGE); E(ENAMETOOLONG);
	E(ENOSYS); E(ENOTEMPTY); E(ELOOP); E(ENODATA); E(ETIME);
	E(EPROTO); E(EBADMSG); E(EOVERFLOW); E(EMSGSIZE);
	E(EPROTONOSUPPORT); E(EOPNOTSUPP); E(EADDRINUSE); E(ECONNREFUSED);
	E(ECONNRESET); E(ETIMEDOUT); E(ECANCELED); E(ESTALE); E(ENOTCONN);
	E(ENOMEDIUM); E(EMEDIUMTYPE); E(EALREADY); E(EINPROGRESS);
	E(ENOTSOCK); E(EDOM); E(ENOTBLK); E(ETXTBSY); E(EMLINK);
	E(EDEADLK); E(ENOLCK); E(ENOMSG); E(EIDRM);
	default:
		return "E?";
	}
}
