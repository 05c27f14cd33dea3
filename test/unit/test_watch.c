/*
 * Unit tests of agent/watch on real temporary folders: scans (patterns,
 * base-name and full-path excludes, symlinks, non-regular files, first
 * input wins, folders created later, wildcard folders, relative patterns,
 * bad patterns), inotify news (create, append, rename, truncate, names
 * that match nothing), the record parser on crafted bytes (overflow,
 * forgotten folders, cut records), the polling backend, the fallback when
 * inotify cannot be had, and a scan of 10,000 files without an fd each.
 * Waits for news with poll(2) and a bounded timeout, never with sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/watch_backend.h"
#include "logging.h"
#include "xalloc.h"

#define MAX_SEEN 64
#define WAIT_MS 2000

static char root[256];

/* root + rel, in one of a few rotating buffers. */
static const char *at(const char *rel)
{
	static char bufs[8][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, PATH_MAX, "%s%s", root, rel);
	return b;
}

static void put(const char *rel, const char *text, int flags)
{
	int fd = open(at(rel), O_WRONLY | O_CREAT | flags, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void mkdirs(const char *rel)
{
	assert_int_equal(mkdir(at(rel), 0755), 0);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/test_watch.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	logging_set_output(2);
	return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Patterns: one starting with '/' is taken under root, others as they are. */
struct pats {
	struct config_strings s;
	char *items[8];
};

static struct config_strings *pats(struct pats *p, ...)
{
	const char *a;
	va_list ap;

	p->s.n = 0;
	p->s.items = p->items;
	va_start(ap, p);
	while ((a = va_arg(ap, const char *)))
		p->items[p->s.n++] = xstrdup(a[0] == '/' ? at(a) : a);
	va_end(ap);
	return &p->s;
}

static void pats_free(struct pats *p)
{
	for (size_t i = 0; i < p->s.n; i++)
		free(p->items[i]);
}

/* What a scan reported, paths relative to root when under it. */
struct seen {
	size_t n;
	char *path[MAX_SEEN];
	size_t input[MAX_SEEN];
};

static void on_file(const char *path, size_t input, void *arg)
{
	struct seen *s = arg;
	size_t len = strlen(root);

	assert_true(s->n < MAX_SEEN);
	s->path[s->n] = xstrdup(strncmp(path, root, len) == 0 ? path + len : path);
	s->input[s->n++] = input;
}

static void on_count(const char *path, size_t input, void *arg)
{
	(*(size_t *)arg)++;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->path[i]);
	s->n = 0;
}

static size_t scan(struct watch *w, struct seen *s)
{
	seen_free(s);
	return watch_scan(w, on_file, s);
}

/* What a drain reported; RESCAN is recorded as path "RESCAN". */
struct news {
	size_t n;
	char *path[MAX_SEEN];
};

static void on_news(enum watch_event event, const char *path, void *arg)
{
	struct news *s = arg;
	size_t len = strlen(root);

	assert_true(s->n < MAX_SEEN);
	if (event == WATCH_RESCAN) {
		assert_null(path);
		s->path[s->n++] = xstrdup("RESCAN");
	} else {
		assert_int_equal(event, WATCH_MODIFIED);
		s->path[s->n++] = xstrdup(strncmp(path, root, len) == 0 ? path + len : path);
	}
}

static void news_free(struct news *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->path[i]);
	s->n = 0;
}

static void wait_readable(struct watch *w)
{
	struct pollfd pfd = {.fd = watch_fd(w), .events = POLLIN};

	assert_true(pfd.fd >= 0);
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
}

static bool readable_now(struct watch *w)
{
	struct pollfd pfd = {.fd = watch_fd(w), .events = POLLIN};

	return poll(&pfd, 1, 0) == 1;
}

/* Waits for news and drains it all. */
static size_t drain(struct watch *w, struct news *s)
{
	news_free(s);
	wait_readable(w);
	watch_drain(w, on_news, s);
	assert_false(readable_now(w));
	return s->n;
}

static struct watch *watch_one(struct config_strings *paths, struct config_strings *exclude,
			       bool force_poll)
{
	struct watch_input in = {paths, exclude};
	char err[256] = "";
	struct watch *w;

	w = watch_new(&in, 1, force_poll, err, sizeof(err));
	assert_non_null(w);
	assert_string_equal(err, "");
	return w;
}

static void test_scan_patterns_and_excludes(void **state)
{
	struct pats p, x;
	struct seen s = {0};
	struct watch *w;

	mkdirs("/a");
	mkdirs("/b");
	mkdirs("/b/old");
	put("/a/x.log", "x\n", 0);
	put("/a/y.log", "y\n", 0);
	put("/a/z.gz", "z\n", 0);
	put("/a/q.gz", "q\n", 0);
	put("/a/skip.log", "s\n", 0);
	put("/a/.hidden.log", "h\n", 0);
	put("/a/keep.1", "k\n", 0);
	put("/b/w.log", "w\n", 0);
	put("/b/old/deep.log", "d\n", 0);
	/* "z.gz" matches only a base name, "/a/skip*" only a full path. */
	w = watch_one(pats(&p, "/a/*.log", "/a/*.gz", "/b/*.log", "/a/keep.[0-9]", NULL),
		      pats(&x, "z.gz", "/a/skip*", "*q.gz", NULL), false);
	assert_int_equal(scan(w, &s), 4);
	assert_string_equal(s.path[0], "/a/keep.1");
	assert_string_equal(s.path[1], "/a/x.log");
	assert_string_equal(s.path[2], "/a/y.log");
	assert_string_equal(s.path[3], "/b/w.log");
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
	pats_free(&x);
}

static void test_scan_symlinks_and_non_regular(void **state)
{
	struct pats p;
	struct seen s = {0};
	struct watch *w;

	mkdirs("/d");
	mkdirs("/d/dir.log");
	put("/d/real.log", "r\n", 0);
	assert_int_equal(symlink("real.log", at("/d/link.log")), 0);
	assert_int_equal(symlink("missing", at("/d/dangling.log")), 0);
	assert_int_equal(symlink("dir.log", at("/d/dirlink.log")), 0);
	assert_int_equal(mkfifo(at("/d/fifo.log"), 0644), 0);
	w = watch_one(pats(&p, "/d/*.log", NULL), NULL, false);
	assert_int_equal(scan(w, &s), 2);
	assert_string_equal(s.path[0], "/d/link.log");
	assert_string_equal(s.path[1], "/d/real.log");
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
}

/* One folder by two spellings: news names the file both ways, as scans do. */
static void test_folder_alias(void **state)
{
	struct pats p;
	struct seen s = {0};
	struct news n = {0};
	struct watch *w;

	mkdirs("/real");
	assert_int_equal(symlink("real", at("/alias")), 0);
	put("/real/a.log", "a\n", 0);
	put("/real/b.txt", "b\n", 0);
	w = watch_one(pats(&p, "/alias/*.log", "/real/*.txt", NULL), NULL, false);
	assert_int_equal(scan(w, &s), 2);
	assert_string_equal(s.path[0], "/alias/a.log");
	assert_string_equal(s.path[1], "/real/b.txt");
	assert_int_equal(watch_dir_wd(w, at("/alias")), watch_dir_wd(w, at("/real")));
	put("/real/a.log", "more\n", O_APPEND);
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "/alias/a.log");
	put("/real/b.txt", "more\n", O_APPEND);
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "/real/b.txt");
	news_free(&n);
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
}

static void test_first_input_wins(void **state)
{
	struct pats p0, x0, p1;
	struct watch_input in[2];
	struct seen s = {0};
	struct watch *w;
	char err[128];

	put("/a.log", "a\n", 0);
	put("/b.log", "b\n", 0);
	in[0] = (struct watch_input){pats(&p0, "/*.log", NULL), pats(&x0, "b.log", NULL)};
	in[1] = (struct watch_input){pats(&p1, "/a.log", "/*.log", NULL), NULL};
	w = watch_new(in, 2, false, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(scan(w, &s), 2);
	assert_string_equal(s.path[0], "/a.log");
	assert_int_equal(s.input[0], 0);
	assert_string_equal(s.path[1], "/b.log");
	assert_int_equal(s.input[1], 1);
	seen_free(&s);
	watch_free(w);
	pats_free(&p0);
	pats_free(&x0);
	pats_free(&p1);
}

static void expect_refused(struct config_strings *paths, struct config_strings *exclude,
			   const char *msg)
{
	struct pats ok;
	struct watch_input in[2] = {{pats(&ok, "/*.log", NULL), NULL}, {paths, exclude}};
	char err[256] = "";

	assert_null(watch_new(in, 2, false, err, sizeof(err)));
	if (!strstr(err, msg))
		fail_msg("\"%s\" lacks \"%s\"", err, msg);
	pats_free(&ok);
}

static void test_bad_patterns(void **state)
{
	struct pats p, x;

	expect_refused(pats(&p, "/x.log", "", NULL), NULL, "inputs[1].paths[1]: empty pattern");
	pats_free(&p);
	expect_refused(pats(&p, "/logs/", NULL), NULL, "inputs[1].paths[0]: \"");
	pats_free(&p);
	expect_refused(pats(&p, "/x.log", NULL), pats(&x, "*.gz", "", NULL),
		       "inputs[1].exclude[1]: empty pattern");
	pats_free(&p);
	pats_free(&x);
}

static void test_relative_pattern(void **state)
{
	char cwd[PATH_MAX];
	struct pats p;
	struct seen s = {0};
	struct news n = {0};
	struct watch *w;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	mkdirs("/sub");
	put("/sub/x.log", "x\n", 0);
	put("/top.log", "t\n", 0);
	assert_int_equal(chdir(root), 0);
	w = watch_one(pats(&p, "sub//*.log", "*.log", NULL), NULL, false);
	assert_int_equal(scan(w, &s), 2);
	assert_string_equal(s.path[0], "sub/x.log");
	assert_string_equal(s.path[1], "top.log");
	/* News names the file as the scan does. */
	put("/sub/x.log", "more\n", O_APPEND);
	news_free(&n);
	wait_readable(w);
	watch_drain(w, on_news, &n);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(n.n, 1);
	assert_string_equal(n.path[0], "sub/x.log");
	news_free(&n);
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
}

static void test_folder_created_later(void **state)
{
	struct pats p;
	struct seen s = {0};
	struct news n = {0};
	struct watch *w;

	w = watch_one(pats(&p, "/later/deeper/*.log", NULL), NULL, false);
	assert_int_equal(scan(w, &s), 0);
	mkdirs("/unrelated");
	assert_int_equal(drain(w, &n), 0);
	mkdirs("/later");
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(scan(w, &s), 0);
	mkdirs("/later/deeper");
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(scan(w, &s), 0);
	assert_true(watch_dir_wd(w, at("/later/deeper")) >= 0);
	put("/later/deeper/f.log", "f\n", 0);
	assert_int_equal(drain(w, &n), 2);
	assert_string_equal(n.path[0], "/later/deeper/f.log");
	assert_string_equal(n.path[1], "RESCAN");
	assert_int_equal(scan(w, &s), 1);
	assert_string_equal(s.path[0], "/later/deeper/f.log");
	/* The folders watched for /later and /later/deeper to appear are let go. */
	watch_drain(w, on_news, &n);
	mkdirs("/unrelated2");
	mkdirs("/later/other");
	assert_false(readable_now(w));
	news_free(&n);
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
}

static void test_wildcard_folders(void **state)
{
	struct pats p;
	struct seen s = {0};
	struct news n = {0};
	struct watch *w;

	mkdirs("/x");
	mkdirs("/x/a");
	mkdirs("/x/a/logs");
	mkdirs("/x/a/other");
	mkdirs("/x/b");
	mkdirs("/x/b/logs");
	mkdirs("/x/c");
	put("/x/a/logs/1.log", "1\n", 0);
	put("/x/b/logs/2.log", "2\n", 0);
	put("/x/a/other/3.log", "3\n", 0);
	w = watch_one(pats(&p, "/x/*/logs/*.log", NULL), NULL, false);
	assert_int_equal(scan(w, &s), 2);
	assert_string_equal(s.path[0], "/x/a/logs/1.log");
	assert_string_equal(s.path[1], "/x/b/logs/2.log");
	put("/x/b/logs/2.log", "more\n", O_APPEND);
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "/x/b/logs/2.log");
	put("/x/a/other/3.log", "more\n", O_APPEND);
	assert_false(readable_now(w));
	mkdirs("/x/d");
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(scan(w, &s), 2);
	mkdirs("/x/d/logs");
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(scan(w, &s), 2);
	put("/x/d/logs/4.log", "4\n", 0);
	assert_int_equal(drain(w, &n), 2);
	assert_string_equal(n.path[1], "RESCAN");
	assert_int_equal(scan(w, &s), 3);
	assert_string_equal(s.path[2], "/x/d/logs/4.log");
	news_free(&n);
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
}

static void test_inotify_news(void **state)
{
	struct pats p, x;
	struct seen s = {0};
	struct news n = {0};
	struct watch *w;

	mkdirs("/l");
	put("/l/a.log", "a\n", 0);
	put("/l/other.txt", "o\n", 0);
	put("/l/x.skip.log", "x\n", 0);
	w = watch_one(pats(&p, "/l/*.log", NULL), pats(&x, "*.skip.log", NULL), false);
	assert_false(watch_polling(w));
	assert_int_equal(scan(w, &s), 1);
	assert_false(readable_now(w));
	/* An append (modify + close_write) is one MODIFIED with the full path. */
	put("/l/a.log", "more\n", O_APPEND);
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "/l/a.log");
	/* Names that match nothing, or are excluded, bring nothing. */
	put("/l/other.txt", "more\n", O_APPEND);
	assert_int_equal(drain(w, &n), 0);
	put("/l/x.skip.log", "more\n", O_APPEND);
	assert_int_equal(drain(w, &n), 0);
	mkdirs("/l/sub.log");
	assert_int_equal(drain(w, &n), 0);
	/* A new file: one RESCAN after its writes. */
	put("/l/new.log", "n\n", 0);
	assert_int_equal(drain(w, &n), 2);
	assert_string_equal(n.path[0], "/l/new.log");
	assert_string_equal(n.path[1], "RESCAN");
	/* Truncation shows as a modification. */
	assert_int_equal(truncate(at("/l/new.log"), 0), 0);
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "/l/new.log");
	/* Rotation by rename, even to a name that matches nothing. */
	assert_int_equal(rename(at("/l/a.log"), at("/l/a.old")), 0);
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(unlink(at("/l/new.log")), 0);
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(scan(w, &s), 0);
	news_free(&n);
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
	pats_free(&x);
}

static void test_folder_removed_and_recreated(void **state)
{
	struct pats p;
	struct seen s = {0};
	struct news n = {0};
	struct watch *w;

	mkdirs("/r");
	w = watch_one(pats(&p, "/r/*.log", NULL), NULL, false);
	assert_int_equal(scan(w, &s), 0);
	assert_true(watch_dir_wd(w, at("/r")) >= 0);
	assert_int_equal(rmdir(at("/r")), 0);
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(watch_dir_wd(w, at("/r")), -1);
	assert_int_equal(scan(w, &s), 0);
	mkdirs("/r");
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(scan(w, &s), 0);
	put("/r/z.log", "z\n", 0);
	assert_int_equal(drain(w, &n), 2);
	assert_int_equal(scan(w, &s), 1);
	/* Only the folder's own watch sees it renamed away. */
	assert_int_equal(rename(at("/r"), at("/r.old")), 0);
	assert_int_equal(drain(w, &n), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(scan(w, &s), 0);
	news_free(&n);
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
}

/* Appends one record to buf at *len. */
static void record(char *buf, size_t *len, int wd, uint32_t mask, const char *name,
		   uint32_t name_len)
{
	struct inotify_event ev = {.wd = wd, .mask = mask, .len = name_len};

	memcpy(buf + *len, &ev, sizeof(ev));
	*len += sizeof(ev);
	memset(buf + *len, 0, name_len);
	if (name)
		memcpy(buf + *len, name, strnlen(name, name_len));
	*len += name_len;
}

static int log_to_file(void)
{
	int fd = open(at("/log.txt"), O_RDWR | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	logging_set_output(fd);
	return fd;
}

static size_t log_count(int fd, const char *needle)
{
	char text[8192];
	ssize_t got = pread(fd, text, sizeof(text) - 1, 0);
	size_t count = 0;

	assert_true(got >= 0);
	text[got] = '\0';
	for (char *p = text; (p = strstr(p, needle)); p++)
		count++;
	return count;
}

static void test_parser_crafted(void **state)
{
	char buf[4096], long_name[400];
	struct watch_sink sink;
	struct pats p;
	struct seen s = {0};
	struct news n = {0};
	struct watch *w;
	size_t len = 0, cut;
	int wd, fd;

	fd = log_to_file();
	mkdirs("/c");
	w = watch_one(pats(&p, "/c/*.log", NULL), NULL, false);
	scan(w, &s);
	wd = watch_dir_wd(w, at("/c"));
	assert_true(wd >= 0);
	memset(long_name, 'x', sizeof(long_name));
	record(buf, &len, wd, IN_MODIFY, "a.log", 16);
	record(buf, &len, wd, IN_CLOSE_WRITE, "a.log", 16);    /* a repeat */
	record(buf, &len, wd, IN_MODIFY, "b.txt", 16);         /* no pattern */
	record(buf, &len, wd + 1000, IN_MODIFY, "c.log", 16);  /* unknown wd */
	record(buf, &len, wd, IN_MODIFY, long_name, 300);      /* no NUL in it */
	record(buf, &len, -1, IN_Q_OVERFLOW, NULL, 0);
	record(buf, &len, wd, IN_MODIFY, "d.log", 16);
	record(buf, &len, -1, IN_Q_OVERFLOW, NULL, 0);
	cut = len;
	record(buf, &len, wd, IN_MODIFY, "e.log", 16);
	watch_sink_begin(&sink, w, on_news, &n);
	/* Records cut in their name, then in their header, are ignored. */
	assert_int_equal(watch_inotify_parse(buf, len - 8, &sink), 8);
	assert_int_equal(watch_inotify_parse(buf + cut, 8, &sink), 0);
	assert_int_equal(watch_sink_end(&sink), 3);
	assert_int_equal(n.n, 3);
	assert_string_equal(n.path[0], "/c/a.log");
	assert_string_equal(n.path[1], "/c/d.log");
	assert_string_equal(n.path[2], "RESCAN");
	/* A second overflow, in another drain, is not logged again. */
	news_free(&n);
	len = 0;
	record(buf, &len, -1, IN_Q_OVERFLOW, NULL, 0);
	watch_sink_begin(&sink, w, on_news, &n);
	watch_inotify_parse(buf, len, &sink);
	assert_int_equal(watch_sink_end(&sink), 1);
	assert_int_equal(log_count(fd, "inotify queue overflowed"), 1);
	/* A folder the kernel dropped is forgotten until a scan re-arms it. */
	news_free(&n);
	len = 0;
	record(buf, &len, wd, IN_IGNORED, NULL, 0);
	record(buf, &len, wd, IN_MODIFY, "a.log", 16);
	watch_sink_begin(&sink, w, on_news, &n);
	assert_int_equal(watch_inotify_parse(buf, len, &sink), 2);
	assert_int_equal(watch_sink_end(&sink), 1);
	assert_string_equal(n.path[0], "RESCAN");
	assert_int_equal(watch_dir_wd(w, at("/c")), -1);
	scan(w, &s);
	assert_true(watch_dir_wd(w, at("/c")) >= 0);
	news_free(&n);
	watch_free(w);
	pats_free(&p);
	close(fd);
}

static void test_poll_backend(void **state)
{
	struct pats p;
	struct seen s = {0};
	struct news n = {0};
	struct watch *w;
	int fd;

	mkdirs("/p");
	put("/p/a.log", "a\n", 0);
	fd = log_to_file();
	w = watch_one(pats(&p, "/p/*.log", "/missing/*.log", NULL), NULL, true);
	assert_int_equal(log_count(fd, "polling for changes"), 1);
	assert_true(watch_polling(w));
	assert_int_equal(watch_fd(w), -1);
	assert_int_equal(scan(w, &s), 1);
	assert_int_equal(watch_dir_wd(w, at("/p")), -1);
	put("/p/a.log", "more\n", O_APPEND);
	put("/p/b.log", "b\n", 0);
	assert_int_equal(watch_drain(w, on_news, &n), 0);
	assert_int_equal(n.n, 0);
	assert_int_equal(scan(w, &s), 2);
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
	close(fd);
}

/* With no fd number left, inotify_init1() fails: the watch polls, and says so. */
static void test_inotify_unavailable(void **state)
{
	struct rlimit old, low;
	struct pats p;
	struct seen s = {0};
	struct watch *w;
	int fd, spare;

	fd = log_to_file();
	put("/a.log", "a\n", 0);
	spare = dup(0);
	assert_true(spare >= 0);
	close(spare);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)spare;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	w = watch_one(pats(&p, "/*.log", NULL), NULL, false);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_true(watch_polling(w));
	assert_int_equal(watch_fd(w), -1);
	assert_int_equal(log_count(fd, "inotify is unavailable"), 1);
	assert_int_equal(scan(w, &s), 1);
	seen_free(&s);
	watch_free(w);
	pats_free(&p);
	close(fd);
}

/* 10,000 files in one folder, scanned with almost no fd to spare. */
static void test_ten_thousand_files(void **state)
{
	struct rlimit old, low;
	struct timespec t0, t1;
	char name[64];
	struct pats p;
	struct watch *w;
	size_t count, counted = 0;
	int spare;

	mkdirs("/big");
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "/big/f%05d.log", i);
		put(name, "", 0);
	}
	put("/big/other.txt", "", 0);
	w = watch_one(pats(&p, "/big/*.log", NULL), NULL, false);
	spare = dup(0);
	assert_true(spare >= 0);
	close(spare);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)spare + 4;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	count = watch_scan(w, on_count, &counted);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(count, 10000);
	assert_int_equal(counted, 10000);
	printf("# scanned 10000 files in %.1f ms\n",
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	watch_free(w);
	pats_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scan_patterns_and_excludes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_symlinks_and_non_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_alias, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_input_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_patterns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_pattern, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_created_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wildcard_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inotify_news, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_removed_and_recreated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parser_crafted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poll_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inotify_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ten_thousand_files, setup, teardown),
	};

	return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
