/*
 * watch: the front of file discovery. Each pattern is kept split into its
 * folder components and its base name. A scan first arms the folders (so
 * that a file created during the scan is not missed), walking the folder
 * part level by level: every existing folder that a whole pattern names
 * gets a leaf rule (the base name; its files matter), and every folder
 * where the walk cannot go on by a fixed name (a wildcard component, or a
 * name that does not exist yet) gets a parent rule (the next component;
 * a new matching entry means a rescan). Then glob(3) lists the files,
 * which are sorted, deduplicated (first input wins) and stat()ed. The
 * table of armed folders is rebuilt by every scan, sorted by descriptor.
 */
#include "watch_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "logging.h"
#include "xalloc.h"

struct watch_pattern {
	char *text;             /* normalised (no empty component); for glob(3) */
	size_t input;
	bool absolute;
	size_t ndirs;           /* folder components: comps[0..ndirs) */
	char **comps;           /* folder components, then the base name */
};

/* Why a folder is watched: leaf rules match files, parent rules folders. */
struct watch_rule {
	const char *glob;       /* borrowed from the pattern's comps */
	size_t pattern;
	bool leaf;
};

struct watch_dir {
	char *path;             /* spelt as glob(3) spells it; "" is the cwd */
	int wd;
	bool armed;             /* false once the backend said wd is gone */
	size_t nrules;
	struct watch_rule *rules;
};

/* A folder to arm, found by the walk of one scan. */
struct watch_arm {
	char *path;
	struct watch_rule rule;
};

struct watch_arms {
	size_t n, cap;
	struct watch_arm *items;
};

struct watch_strs {
	size_t n, cap;
	char **items;
};

/* A file found by glob(3); seq keeps the order of inputs for ties. */
struct watch_found {
	const char *path;
	size_t input;
	size_t seq;
};

struct watch {
	struct watch_input *inputs;     /* a copy; the patterns are borrowed */
	size_t ninputs;
	struct watch_pattern *patterns; /* in input order */
	size_t npatterns;
	struct watch_dir *dirs;         /* armed folders, sorted by wd */
	size_t ndirs;
	const struct watch_ops *ops;
	void *state;
	bool polling;
	bool overflow_logged;
	bool add_failed_logged;
};

/* Makes room for one more item of size bytes in items (n used of *cap). */
static void *watch_grow(void *items, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return items;
	*cap = *cap ? *cap * 2 : 16;
	return xreallocarray(items, *cap, size);
}

static void watch_strs_push(struct watch_strs *s, char *str)
{
	s->items = watch_grow(s->items, s->n, &s->cap, sizeof(*s->items));
	s->items[s->n++] = str;
}

static void watch_strs_fini(struct watch_strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i]);
	free(s->items);
	*s = (struct watch_strs){0};
}

static void watch_arms_push(struct watch_arms *a, const char *path,
			    const char *glob, size_t pattern, bool leaf)
{
	a->items = watch_grow(a->items, a->n, &a->cap, sizeof(*a->items));
	a->items[a->n++] = (struct watch_arm){xstrdup(path), {glob, pattern, leaf}};
}

/* ---- patterns ---- */

static bool watch_excluded(const struct config_strings *ex, const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; ex && i < ex->n; i++)
		if (fnmatch(ex->items[i], path, 0) == 0 ||
		    fnmatch(ex->items[i], base, 0) == 0)
			return true;
	return false;
}

static int watch_check(const struct config_strings *s, size_t input, bool paths,
		       char *err, size_t errlen)
{
	for (size_t i = 0; s && i < s->n; i++) {
		const char *p = s->items[i];

		if (!*p) {
			snprintf(err, errlen, "inputs[%zu].%s[%zu]: empty pattern", input,
				 paths ? "paths" : "exclude", i);
			return -EINVAL;
		}
		if (paths && p[strlen(p) - 1] == '/') {
			snprintf(err, errlen, "inputs[%zu].paths[%zu]: \"%s\" names a folder; "
				 "a pattern names files, e.g. \"%s*.log\"", input, i, p, p);
			return -EINVAL;
		}
	}
	return 0;
}

/* Splits text at '/' (dropping empty components) and joins it again. */
static void watch_pattern_init(struct watch_pattern *p, const char *text, size_t input)
{
	struct watch_strs comps = {0};
	char *copy = xstrdup(text), *save = NULL, *o;

	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save))
		watch_strs_push(&comps, xstrdup(t));
	free(copy);
	p->input = input;
	p->absolute = text[0] == '/';
	p->comps = comps.items;
	p->ndirs = comps.n - 1;  /* watch_check() made sure of a base name */
	p->text = o = xmalloc(strlen(text) + 2);
	if (p->absolute)
		*o++ = '/';
	for (size_t i = 0; i < comps.n; i++) {
		size_t len = strlen(comps.items[i]);

		if (i)
			*o++ = '/';
		memcpy(o, comps.items[i], len);
		o += len;
	}
	*o = '\0';
}

static void watch_pattern_fini(struct watch_pattern *p)
{
	for (size_t i = 0; p->comps && i <= p->ndirs; i++)
		free(p->comps[i]);
	free(p->comps);
	free(p->text);
}

static int watch_patterns_init(struct watch *w, char *err, size_t errlen)
{
	size_t total = 0;

	for (size_t i = 0; i < w->ninputs; i++) {
		if (watch_check(w->inputs[i].paths, i, true, err, errlen) < 0 ||
		    watch_check(w->inputs[i].exclude, i, false, err, errlen) < 0)
			return -EINVAL;
		total += w->inputs[i].paths ? w->inputs[i].paths->n : 0;
	}
	w->patterns = xcalloc(total, sizeof(*w->patterns));
	for (size_t i = 0; i < w->ninputs; i++)
		for (size_t j = 0; w->inputs[i].paths && j < w->inputs[i].paths->n; j++)
			watch_pattern_init(&w->patterns[w->npatterns++],
					   w->inputs[i].paths->items[j], i);
	return 0;
}

/* ---- the folder walk ---- */

/* dir/name as glob(3) spells it, "" being the cwd; NULL if too long. */
static char *watch_join(char *out, size_t size, const char *dir, const char *name)
{
	const char *sep = !*dir || strcmp(dir, "/") == 0 ? "" : "/";
	int len = snprintf(out, size, "%s%s%s", dir, sep, name);

	return len >= 0 && (size_t)len < size ? out : NULL;
}

static bool watch_is_dir(const char *path)
{
	struct stat st;

	return stat(*path ? path : ".", &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether entry de of a folder, at path, is a folder (through symlinks). */
static bool watch_entry_is_dir(const struct dirent *de, const char *path)
{
	if (de->d_type == DT_DIR)
		return true;
	return (de->d_type == DT_LNK || de->d_type == DT_UNKNOWN) && watch_is_dir(path);
}

/* Adds to next the folders in dir whose names match comp. */
static void watch_expand_glob(struct watch_strs *next, const char *dir,
			      const char *comp)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	d = opendir(*dir ? dir : ".");
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fnmatch(comp, de->d_name, FNM_PERIOD) != 0)
			continue;
		if (watch_join(path, sizeof(path), dir, de->d_name) &&
		    watch_entry_is_dir(de, path))
			watch_strs_push(next, xstrdup(path));
	}
	closedir(d);
}

/* One level of the walk of pattern pi from folder dir. */
static void watch_expand(struct watch *w, struct watch_strs *next, const char *dir,
			 size_t pi, size_t level, struct watch_arms *arms)
{
	const char *comp = w->patterns[pi].comps[level];
	char path[PATH_MAX];

	if (!strpbrk(comp, "*?[\\")) {
		if (watch_join(path, sizeof(path), dir, comp) && watch_is_dir(path)) {
			watch_strs_push(next, xstrdup(path));
			return;
		}
	} else {
		watch_expand_glob(next, dir, comp);
	}
	watch_arms_push(arms, dir, comp, pi, false);
}

static void watch_walk(struct watch *w, size_t pi, struct watch_arms *arms)
{
	const struct watch_pattern *p = &w->patterns[pi];
	struct watch_strs cur = {0}, next;

	watch_strs_push(&cur, xstrdup(p->absolute ? "/" : ""));
	for (size_t level = 0; level < p->ndirs && cur.n; level++) {
		next = (struct watch_strs){0};
		for (size_t i = 0; i < cur.n; i++)
			watch_expand(w, &next, cur.items[i], pi, level, arms);
		watch_strs_fini(&cur);
		cur = next;
	}
	for (size_t i = 0; i < cur.n; i++)
		watch_arms_push(arms, cur.items[i], p->comps[p->ndirs], pi, true);
	watch_strs_fini(&cur);
}

/* ---- the table of armed folders ---- */

static int watch_arm_cmp(const void *a, const void *b)
{
	const struct watch_arm *x = a, *y = b;

	return strcmp(x->path, y->path);
}

static int watch_dir_cmp(const void *a, const void *b)
{
	const struct watch_dir *x = a, *y = b;

	if (x->wd != y->wd)
		return x->wd < y->wd ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* The first of dirs (sorted by wd) whose wd is not below wd. */
static size_t watch_dir_lower(const struct watch_dir *dirs, size_t n, int wd)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dirs[mid].wd < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool watch_dir_has(const struct watch_dir *dirs, size_t n, int wd)
{
	size_t i = watch_dir_lower(dirs, n, wd);

	return i < n && dirs[i].wd == wd;
}

static void watch_dirs_free(struct watch_dir *dirs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(dirs[i].path);
		free(dirs[i].rules);
	}
	free(dirs);
}

/*
 * A folder that cannot be watched leaves its files to polling: say so once
 * and poll from now on, rather than miss them. A folder gone since the walk
 * is no such case; the next scan sees it is gone.
 */
static void watch_add_failed(struct watch *w, const char *dir, int rc)
{
	if (rc == -ENOENT || rc == -ENOTDIR)
		return;
	if (!w->add_failed_logged)
		logging_warn("watch: cannot watch folder %s with inotify: %s%s; "
			     "polling the files from now on", *dir ? dir : ".", strerror(-rc),
			     rc == -ENOSPC ? " (limit fs.inotify.max_user_watches)" : "");
	w->add_failed_logged = true;
	w->polling = true;
}

/*
 * Arms each folder of arms (sorted by path) once; the table, by wd. Two
 * spellings of one folder (through a symlink) share a wd and both stay,
 * so that a note names the file as each pattern's scan does.
 */
static size_t watch_dirs_build(struct watch *w, const struct watch_arms *arms,
			       struct watch_dir **out)
{
	struct watch_dir *dirs = xcalloc(arms->n, sizeof(*dirs));
	size_t n = 0, j;
	int wd;

	for (size_t i = 0; i < arms->n; i = j) {
		const char *path = arms->items[i].path;

		for (j = i + 1; j < arms->n && strcmp(arms->items[j].path, path) == 0; j++)
			;
		wd = w->ops->add(w->state, *path ? path : ".");
		if (wd < 0) {
			watch_add_failed(w, path, wd);
			continue;
		}
		dirs[n] = (struct watch_dir){xstrdup(path), wd, true, j - i,
					     xcalloc(j - i, sizeof(struct watch_rule))};
		for (size_t k = i; k < j; k++)
			dirs[n].rules[k - i] = arms->items[k].rule;
		n++;
	}
	qsort(dirs, n, sizeof(*dirs), watch_dir_cmp);
	*out = dirs;
	return n;
}

/* Arms the folders that the patterns name now, and forgets the others. */
static void watch_arm(struct watch *w)
{
	struct watch_arms arms = {0};
	struct watch_dir *dirs;
	size_t n;

	for (size_t pi = 0; pi < w->npatterns; pi++)
		watch_walk(w, pi, &arms);
	if (arms.n)
		qsort(arms.items, arms.n, sizeof(*arms.items), watch_arm_cmp);
	n = watch_dirs_build(w, &arms, &dirs);
	for (size_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].armed && !watch_dir_has(dirs, n, w->dirs[i].wd))
			w->ops->rm(w->state, w->dirs[i].wd);
	watch_dirs_free(w->dirs, w->ndirs);
	w->dirs = dirs;
	w->ndirs = n;
	for (size_t i = 0; i < arms.n; i++)
		free(arms.items[i].path);
	free(arms.items);
}

/* ---- the files ---- */

static int watch_found_cmp(const void *a, const void *b)
{
	const struct watch_found *x = a, *y = b;
	int rc = strcmp(x->path, y->path);

	if (rc)
		return rc;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void watch_glob(const struct watch_pattern *p, glob_t *g)
{
	static struct logging_limit limit;
	int rc;

	rc = glob(p->text, GLOB_NOSORT, NULL, g);
	if (rc != 0 && rc != GLOB_NOMATCH)
		logging_limited(&limit, LOGGING_WARN, "watch: cannot expand %s: %s", p->text,
				rc == GLOB_NOSPACE ? "out of memory" : "read error");
}

/* Reports each path once, for its first input, if it is a regular file. */
static size_t watch_report(const struct watch_found *found, size_t n,
			   void (*fn)(const char *path, size_t input, void *arg), void *arg)
{
	struct stat st;
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(found[i].path, found[i - 1].path) == 0)
			continue;
		if (stat(found[i].path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		fn(found[i].path, found[i].input, arg);
		count++;
	}
	return count;
}

static size_t watch_scan_files(struct watch *w,
			       void (*fn)(const char *path, size_t input, void *arg), void *arg)
{
	glob_t *globs = xcalloc(w->npatterns, sizeof(*globs));
	struct watch_found *found = NULL;
	size_t n = 0, cap = 0, count;

	for (size_t pi = 0; pi < w->npatterns; pi++) {
		const struct watch_pattern *p = &w->patterns[pi];

		watch_glob(p, &globs[pi]);
		for (size_t i = 0; i < globs[pi].gl_pathc; i++) {
			const char *path = globs[pi].gl_pathv[i];

			if (watch_excluded(w->inputs[p->input].exclude, path))
				continue;
			found = watch_grow(found, n, &cap, sizeof(*found));
			found[n] = (struct watch_found){path, p->input, n};
			n++;
		}
	}
	if (n)
		qsort(found, n, sizeof(*found), watch_found_cmp);
	count = watch_report(found, n, fn, arg);
	free(found);
	for (size_t pi = 0; pi < w->npatterns; pi++)
		globfree(&globs[pi]);
	free(globs);
	return count;
}

/* ---- notes from the backend ---- */

/* Whether a rule of dir cares about entry name (full path given). */
static bool watch_dir_wants(const struct watch *w, const struct watch_dir *dir,
			    const char *name, const char *path, bool is_dir, bool files_only)
{
	for (size_t i = 0; i < dir->nrules; i++) {
		const struct watch_rule *r = &dir->rules[i];

		if (fnmatch(r->glob, name, FNM_PERIOD) != 0)
			continue;
		/* A parent cares for any entry: a symlink may lead to a folder. */
		if (!r->leaf && !files_only)
			return true;
		if (r->leaf && !is_dir &&
		    !watch_excluded(w->inputs[w->patterns[r->pattern].input].exclude, path))
			return true;
	}
	return false;
}

static void watch_modified(struct watch_sink *sink)
{
	if (strcmp(sink->last, sink->path) == 0)
		return;
	memcpy(sink->last, sink->path, strlen(sink->path) + 1);
	sink->fn(WATCH_MODIFIED, sink->path, sink->arg);
	sink->calls++;
}

static void watch_overflow(struct watch *w)
{
	if (w->overflow_logged) {
		logging_debug("watch: inotify queue overflow again; rescanning");
		return;
	}
	w->overflow_logged = true;
	logging_warn("watch: the inotify queue overflowed and changes were lost "
		     "(limit fs.inotify.max_queued_events); rescanning");
}

static void watch_note_entry(struct watch_sink *sink, const struct watch_dir *dir,
			     enum watch_note note, const char *name, bool is_dir)
{
	bool changed = note == WATCH_NOTE_CHANGED;

	if (!name || !*name)
		return;
	if (!watch_join(sink->path, sizeof(sink->path), dir->path, name)) {
		sink->rescan = true;   /* cannot name it: let a scan find it */
		return;
	}
	if (!watch_dir_wants(sink->w, dir, name, sink->path, is_dir, changed))
		return;
	if (changed)
		watch_modified(sink);
	else
		sink->rescan = true;
}

void watch_note(struct watch_sink *sink, enum watch_note note, int wd,
		const char *name, bool is_dir)
{
	struct watch *w = sink->w;
	struct watch_dir *dir;

	if (note == WATCH_NOTE_OVERFLOW) {
		watch_overflow(w);
		sink->rescan = true;
		return;
	}
	/* No folder: one forgotten by the last scan, whose news is stale. */
	for (size_t i = watch_dir_lower(w->dirs, w->ndirs, wd);
	     i < w->ndirs && w->dirs[i].wd == wd; i++) {
		dir = &w->dirs[i];
		if (!dir->armed)
			continue;
		if (note == WATCH_NOTE_GONE)
			dir->armed = false;
		if (note == WATCH_NOTE_GONE || note == WATCH_NOTE_SELF)
			sink->rescan = true;
		else
			watch_note_entry(sink, dir, note, name, is_dir);
	}
}

void watch_sink_begin(struct watch_sink *sink, struct watch *w,
		      void (*fn)(enum watch_event event, const char *path, void *arg),
		      void *arg)
{
	sink->w = w;
	sink->fn = fn;
	sink->arg = arg;
	sink->calls = 0;
	sink->rescan = false;
	sink->last[0] = '\0';
}

size_t watch_sink_end(struct watch_sink *sink)
{
	if (sink->rescan) {
		sink->fn(WATCH_RESCAN, NULL, sink->arg);
		sink->calls++;
		sink->rescan = false;
	}
	return sink->calls;
}

int watch_dir_wd(const struct watch *w, const char *dir)
{
	for (size_t i = 0; i < w->ndirs; i++)
		if (strcmp(w->dirs[i].path, dir) == 0)
			return w->dirs[i].armed ? w->dirs[i].wd : -1;
	return -1;
}

/* ---- the API ---- */

static void watch_use(struct watch *w, const struct watch_ops *ops)
{
	int rc = ops->open(&w->state);

	if (rc == 0) {
		w->ops = ops;
		return;
	}
	logging_warn("watch: inotify is unavailable (%s%s); polling the files on every "
		     "tick and rescanning every scan_interval instead", strerror(-rc),
		     rc == -EMFILE ? ": limit fs.inotify.max_user_instances or ulimit -n" : "");
	w->ops = &watch_poll_ops;
	w->ops->open(&w->state);
	w->polling = true;
}

struct watch *watch_new(const struct watch_input *inputs, size_t n,
			bool force_poll, char *err, size_t errlen)
{
	struct watch *w = xcalloc(1, sizeof(*w));

	w->inputs = xcalloc(n, sizeof(*w->inputs));
	if (n)
		memcpy(w->inputs, inputs, n * sizeof(*inputs));
	w->ninputs = n;
	if (watch_patterns_init(w, err, errlen) < 0) {
		watch_free(w);
		return NULL;
	}
	if (force_poll) {
		logging_info("watch: polling for changes, as configured");
		w->polling = true;
	}
	watch_use(w, force_poll ? &watch_poll_ops : &watch_inotify_ops);
	return w;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	if (w->ops)
		w->ops->close(w->state);
	watch_dirs_free(w->dirs, w->ndirs);
	for (size_t i = 0; i < w->npatterns; i++)
		watch_pattern_fini(&w->patterns[i]);
	free(w->patterns);
	free(w->inputs);
	free(w);
}

size_t watch_scan(struct watch *w,
		  void (*fn)(const char *path, size_t input, void *arg), void *arg)
{
	if (w->ops->add)
		watch_arm(w);
	return watch_scan_files(w, fn, arg);
}

int watch_fd(const struct watch *w)
{
	return w->ops->fd(w->state);
}

size_t watch_drain(struct watch *w,
		   void (*fn)(enum watch_event event, const char *path, void *arg),
		   void *arg)
{
	struct watch_sink sink;

	watch_sink_begin(&sink, w, fn, arg);
	w->ops->drain(w->state, &sink);
	return watch_sink_end(&sink);
}

bool watch_polling(const struct watch *w)
{
	return w->polling;
}
