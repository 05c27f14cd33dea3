/*
 * watch_poll: the polling backend of watch, for filesystems where inotify
 * says nothing (NFS, some FUSE mounts) and for when inotify cannot be had.
 * It learns nothing by itself: it has no fd and drains no notes, and the
 * agent, seeing watch_polling(), fstat()s its open files on every tick and
 * rescans every scan_interval.
 */
#include "watch_backend.h"

#include <stddef.h>

static int watch_poll_open(void **state)
{
	*state = NULL;
	return 0;
}

static void watch_poll_close(void *state)
{
}

static void watch_poll_rm(void *state, int wd)
{
}

static int watch_poll_fd(const void *state)
{
	return -1;
}

static void watch_poll_drain(void *state, struct watch_sink *sink)
{
}

const struct watch_ops watch_poll_ops = {
	.name = "poll",
	.open = watch_poll_open,
	.close = watch_poll_close,
	.add = NULL,
	.rm = watch_poll_rm,
	.fd = watch_poll_fd,
	.drain = watch_poll_drain,
};
