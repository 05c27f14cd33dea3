/*
 * watch: discovery of the files to follow. It expands the inputs' glob
 * patterns (minus their exclude patterns) into paths, and tells the agent
 * when to look again: inotify on the folders the patterns name, so that a
 * new, renamed or growing file is noticed at once (a queue overflow
 * brings a rescan), and a polling backend when inotify is unavailable
 * (then the agent checks its open files on every tick and rescans every
 * scan_interval).
 * Both backends sit behind one ops table chosen at run time.
 *
 * Patterns are glob(3)'s: '*', '?', '[...]' and '\' escapes, in any
 * component, folders included (/srv/site?/logs/access.log); a wildcard
 * does not match a leading '.'. No '**' (it means '*': one level), no
 * "{a,b}" (write two patterns), no '~'. A relative pattern is resolved
 * against the cwd and reported relative. A pattern ending in '/' names no
 * file and is refused.
 * An exclude pattern is fnmatch(3)ed, '*' crossing '/', against the full
 * path and against the base name: "*.gz" skips /var/log/x.gz (base
 * name), "*old*" skips /var/log/old/x.log too (full path).
 *
 * inotify watches folders, not files: thousands of files cost one watch
 * per folder and no fd each. A folder that does not exist yet is watched
 * through its deepest existing ancestor and armed by the scan that follows
 * its creation. Polling is never a silent fallback: it is logged when
 * inotify cannot be had at start, and when a folder cannot be watched
 * (limit fs.inotify.max_user_watches, permissions), after which the watch
 * polls for good but keeps the inotify fd and the folders it has armed.
 * A file reached through a symlink into a folder no pattern names is
 * written without notice: the agent finds its growth by polling or scans.
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
	WATCH_RESCAN,       /* something appeared, moved or vanished, or news
			       was lost (queue overflow): rescan, and check the
			       size of every file followed */
};

/*
 * Watch n inputs. With force_poll (NFS, tests), or when inotify cannot be
 * had, the polling backend is used (and logged). Returns NULL with a
 * reason in err only for a bad pattern: an empty one, or a path pattern
 * ending in '/'. inputs is copied; the patterns it points to are borrowed.
 * Arms nothing yet: call watch_scan(). Free with watch_free().
 */
struct watch *watch_new(const struct watch_input *inputs, size_t n,
			bool force_poll, char *err, size_t errlen);

void watch_free(struct watch *w);

/*
 * Expand every input's patterns now; call fn(path, input index, arg) once
 * per existing regular file that matches and is not excluded (a path that
 * matches several inputs is reported for the first). Also (re)arms inotify
 * on the folders the patterns name, including ones that appeared since.
 * Files are reported in path order; path is borrowed for the call. When
 * a folder cannot be watched, watch_polling() turns true here. Returns
 * the number of files reported. Blocks on directory I/O.
 */
size_t watch_scan(struct watch *w,
		  void (*fn)(const char *path, size_t input, void *arg), void *arg);

/*
 * An fd that becomes readable when watch_drain() has news; -1 when polling
 * only. It stays the same until watch_free().
 */
int watch_fd(const struct watch *w);

/*
 * Read pending notifications without blocking and call fn for each:
 * WATCH_MODIFIED with the file's path, or WATCH_RESCAN with path NULL (at
 * most once per call, after the others). A write reports WATCH_MODIFIED
 * only for a name that matches a pattern and no exclude. A queue overflow
 * reports WATCH_RESCAN. Reads a bounded amount per call (the fd stays
 * readable when more is pending). path is borrowed for the call; fn must
 * not free the watch. Returns the number of calls.
 */
size_t watch_drain(struct watch *w,
		   void (*fn)(enum watch_event event, const char *path, void *arg),
		   void *arg);

/* Whether the polling backend is in use (the agent then polls its files). */
bool watch_polling(const struct watch *w);

#endif
