/*
 * watch_backend: the seam between watch.c (the front: patterns, folders,
 * what a change means) and its backends (watch_inotify.c, watch_poll.c:
 * how changes are learnt), chosen at run time through struct watch_ops.
 * A backend turns what the kernel says about a watched folder into raw
 * notes, fed to a sink; the front matches them against the patterns and
 * calls the user back. Private to those files and to the unit test.
 */
#ifndef LOGTALLY_WATCH_BACKEND_H
#define LOGTALLY_WATCH_BACKEND_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "watch.h"

/* What a backend learnt; wd is the descriptor that ops->add() returned. */
enum watch_note {
	WATCH_NOTE_CHANGED,     /* name in folder wd was written or truncated */
	WATCH_NOTE_ENTRY,       /* name appeared in, or left, folder wd */
	WATCH_NOTE_SELF,        /* folder wd itself moved, vanished or unmounted */
	WATCH_NOTE_GONE,        /* wd is no longer watched (the kernel dropped it) */
	WATCH_NOTE_OVERFLOW,    /* notes were lost */
};

/*
 * Where notes of one watch_drain() go. Plain data so that tests can feed
 * crafted notes; use watch_sink_begin/_end around them.
 */
struct watch_sink {
	struct watch *w;
	void (*fn)(enum watch_event event, const char *path, void *arg);
	void *arg;
	size_t calls;
	bool rescan;            /* report one WATCH_RESCAN at the end */
	char last[PATH_MAX];    /* last WATCH_MODIFIED, to skip repeats */
	char path[PATH_MAX];    /* scratch for the full path of a note */
};

struct watch_ops {
	const char *name;
	/* Sets up *state. Returns 0, or -errno (the front then polls). */
	int (*open)(void **state);
	void (*close)(void *state);
	/*
	 * Watches folder dir; returns a descriptor >= 0 (the same one for a
	 * folder already watched), or -errno. NULL: folders are not watched.
	 */
	int (*add)(void *state, const char *dir);
	void (*rm)(void *state, int wd);
	int (*fd)(const void *state);
	/* Feeds what is pending to sink, without blocking. */
	void (*drain)(void *state, struct watch_sink *sink);
};

extern const struct watch_ops watch_inotify_ops;
extern const struct watch_ops watch_poll_ops;

/* Front: start and end one drain; _end reports the coalesced rescan. */
void watch_sink_begin(struct watch_sink *sink, struct watch *w,
		      void (*fn)(enum watch_event event, const char *path, void *arg),
		      void *arg);
size_t watch_sink_end(struct watch_sink *sink);

/*
 * Front: one note. name is the entry's name inside folder wd (NULL or ""
 * for notes about the folder itself); is_dir says the entry is a folder.
 */
void watch_note(struct watch_sink *sink, enum watch_note note, int wd,
		const char *name, bool is_dir);

/* Front: the descriptor armed on folder dir (as the scan spelt it), or -1. */
int watch_dir_wd(const struct watch *w, const char *dir);

/*
 * inotify backend: turns len bytes of struct inotify_event records, as
 * read(2) returns them, into notes. A record cut short at the end of the
 * buffer is ignored. Returns the number of whole records.
 */
size_t watch_inotify_parse(const void *buf, size_t len, struct watch_sink *sink);

#endif
