/*
 * watch: discovery of the files to follow. It expands the inputs' glob
 * patterns (minus their exclude patterns) into paths, and tells the agent
 * when to look again: inotify on the folders the patterns name, so that a
 * new, renamed or growing file is noticed at once, and a polling backend
 * when inotify is unavailable or its queue overflowed (then the agent
 * checks its open files on every tick and rescans every scan_interval).
 * Both backends sit behind one ops table chosen at run time.
 */
#ifndef LOGTALLY_WATCH_H
#define LOGTALLY_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct watch;

/* One input: its patterns (borrowed; must outlive the watch). */
struct watch_input {
	const struct config_strings *paths;
	const struct config_strings *exclude;
};

/* What watch_drain() reports. */
enum watch_event {
	WATCH_MODIFIED,     /* path grew or was written: read it */
	WATCH_RESCAN,       /* something appeared, moved or vanished: rescan */
};

/*
 * Watch n inputs. With force_poll, or when inotify cannot be had, the
 * polling backend is used (and logged). Returns NULL with a reason in err
 * only for a bad pattern. Free with watch_free().
 */
struct watch *watch_new(const struct watch_input *inputs, size_t n,
			bool force_poll, char *err, size_t errlen);

void watch_free(struct watch *w);

/*
 * Expand every input's patterns now; call fn(path, input index, arg) once
 * per existing regular file that matches and is not excluded (a path that
 * matches several inputs is reported for the first). Also (re)arms inotify
 * on the folders the patterns name, including ones that appeared since.
 * Returns the number of files reported. Blocks on directory I/O.
 */
size_t watch_scan(struct watch *w,
		  void (*fn)(const char *path, size_t input, void *arg), void *arg);

/* An fd that becomes readable when watch_drain() has news; -1 when polling. */
int watch_fd(const struct watch *w);

/*
 * Read pending notifications without blocking and call fn for each:
 * WATCH_MODIFIED with the file's path, or WATCH_RESCAN with path NULL (at
 * most once per call). A queue overflow reports WATCH_RESCAN. Returns the
 * number of calls.
 */
size_t watch_drain(struct watch *w,
		   void (*fn)(enum watch_event event, const char *path, void *arg),
		   void *arg);

/* Whether the polling backend is in use (the agent then polls its files). */
bool watch_polling(const struct watch *w);

#endif
