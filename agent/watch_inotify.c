/*
 * watch_inotify: the inotify backend of watch. It watches folders, never
 * files, so that thousands of files cost one watch per folder and no fd
 * each. Records are read without blocking into one bounded buffer, a
 * bounded number of times per drain (the fd stays readable if more is
 * pending), and turned into the front's notes; what they mean for the
 * patterns is decided in watch.c.
 */
#include "watch_backend.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "xalloc.h"

/* Room for at least 64 records of the longest name each. */
#define WATCH_INOTIFY_BUF (64 * (sizeof(struct inotify_event) + NAME_MAX + 1))
/* Reads per drain: bounds the time one drain may take under a flood. */
#define WATCH_INOTIFY_READS 16

/* A truncate shows as IN_MODIFY; IN_ATTRIB also covers a hard link dropped. */
#define WATCH_INOTIFY_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | \
	IN_DELETE_SELF | IN_MOVE_SELF | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB)

struct watch_inotify {
	int fd;
	/* Aligned for the records that read(2) puts there. */
	union {
		struct inotify_event align;
		char bytes[WATCH_INOTIFY_BUF];
	} buf;
};

static int watch_inotify_open(void **state)
{
	struct watch_inotify *in;
	int fd;

	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -errno;
	in = xmalloc(sizeof(*in));
	in->fd = fd;
	*state = in;
	return 0;
}

static void watch_inotify_close(void *state)
{
	struct watch_inotify *in = state;

	if (!in)
		return;
	close(in->fd);
	free(in);
}

static int watch_inotify_add(void *state, const char *dir)
{
	struct watch_inotify *in = state;
	int wd;

	wd = inotify_add_watch(in->fd, dir, WATCH_INOTIFY_MASK | IN_ONLYDIR);
	return wd < 0 ? -errno : wd;
}

static void watch_inotify_rm(void *state, int wd)
{
	struct watch_inotify *in = state;

	/* EINVAL: the kernel dropped it already (folder gone); nothing to do. */
	(void)inotify_rm_watch(in->fd, wd);
}

static int watch_inotify_fd(const void *state)
{
	const struct watch_inotify *in = state;

	return in->fd;
}

static void watch_inotify_note(const struct inotify_event *ev, const char *name,
			       struct watch_sink *sink)
{
	bool is_dir = ev->mask & IN_ISDIR;

	if (ev->mask & IN_Q_OVERFLOW)
		watch_note(sink, WATCH_NOTE_OVERFLOW, -1, NULL, false);
	else if (ev->mask & IN_IGNORED)
		watch_note(sink, WATCH_NOTE_GONE, ev->wd, NULL, false);
	else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))
		watch_note(sink, WATCH_NOTE_SELF, ev->wd, NULL, false);
	else if (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE))
		watch_note(sink, WATCH_NOTE_ENTRY, ev->wd, name, is_dir);
	else if (ev->mask & (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB))
		watch_note(sink, WATCH_NOTE_CHANGED, ev->wd, name, is_dir);
}

size_t watch_inotify_parse(const void *buf, size_t len, struct watch_sink *sink)
{
	const char *p = buf;
	struct inotify_event ev;
	char name[NAME_MAX + 1];
	size_t off = 0, n = 0;

	while (len - off >= sizeof(ev)) {
		memcpy(&ev, p + off, sizeof(ev));
		off += sizeof(ev);
		if (ev.len > len - off)
			break;
		/* The name is NUL-padded to ev.len; a crafted one may not be. */
		memcpy(name, p + off, ev.len < NAME_MAX ? ev.len : NAME_MAX);
		name[ev.len < NAME_MAX ? ev.len : NAME_MAX] = '\0';
		off += ev.len;
		watch_inotify_note(&ev, name, sink);
		n++;
	}
	return n;
}

static void watch_inotify_drain(void *state, struct watch_sink *sink)
{
	struct watch_inotify *in = state;
	ssize_t got;

	for (int i = 0; i < WATCH_INOTIFY_READS; i++) {
		got = read(in->fd, in->buf.bytes, sizeof(in->buf.bytes));
		if (got <= 0)
			return;   /* EAGAIN: all read; EINTR: the fd stays readable */
		watch_inotify_parse(in->buf.bytes, (size_t)got, sink);
	}
}

const struct watch_ops watch_inotify_ops = {
	.name = "inotify",
	.open = watch_inotify_open,
	.close = watch_inotify_close,
	.add = watch_inotify_add,
	.rm = watch_inotify_rm,
	.fd = watch_inotify_fd,
	.drain = watch_inotify_drain,
};
