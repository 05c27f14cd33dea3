/*
 * The files of the model: every inode the sequence creates, its bytes in
 * memory and on disk, and every line ever written. The web server writes
 * through m->writer as nginx does: after a rename rotation it goes on
 * writing to the renamed file until it reopens; copytruncate leaves it on
 * the same inode. A line may be written in two parts (a partial last line
 * the agent may see); any other file operation completes it first, so a
 * line always ends in the file it started in.
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xalloc.h"

#define MODEL_LIVE "access.log"

uint64_t model_rng_next(struct model_rng *rng)
{
	uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);      /* splitmix64 */

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t model_rng_below(struct model_rng *rng, uint64_t n)
{
	return model_rng_next(rng) % n;
}

bool model_rng_chance(struct model_rng *rng, unsigned percent)
{
	return model_rng_below(rng, 100) < percent;
}

static void model_die(const char *what, const char *path)
{
	fprintf(stderr, "model: %s %s: %s\n", what, path, strerror(errno));
	exit(99);
}

void model_files_init(struct model_files *m, const char *dir)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->dir, sizeof(m->dir), "%s", dir);
	m->nlines = 1;
	m->cap = 1024;
	m->lines = xcalloc(m->cap, sizeof(*m->lines));
	m->live = m->writer = m->copying = m->copy_of = -1;
	for (int i = 0; i < MODEL_ROTATED_MAX; i++)
		m->rotated[i] = m->dated[i] = -1;
}

void model_files_fini(struct model_files *m)
{
	for (size_t i = 0; i < m->nfiles; i++)
		free(m->files[i].data);
	free(m->files);
	free(m->lines);
}

void model_line_text(uint64_t seq, uint32_t len, char *out)
{
	char head[2 + MODEL_SEQ_DIGITS + 1];

	snprintf(head, sizeof(head), "L%0*llu:", MODEL_SEQ_DIGITS, (unsigned long long)seq);
	for (uint32_t i = 0; i < len; i++)
		out[i] = i < sizeof(head) - 1 ? head[i] : (char)('a' + (seq + i) % 26);
}

/* --- disk ---------------------------------------------------------------- */

static void model_path(const struct model_files *m, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", m->dir, name);
}

static void model_write(struct model_files *m, int f, const char *data, size_t len)
{
	struct model_file *file = &m->files[f];
	char path[512];
	int fd;

	model_path(m, file->name, path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		model_die("write", path);
	close(fd);
	if (file->len + len > file->cap) {
		file->cap = (file->len + len) * 2;
		file->data = xrealloc(file->data, file->cap);
	}
	memcpy(file->data + file->len, data, len);
	file->len += len;
}

/* A new empty file named name; returns its index. */
static int model_create(struct model_files *m, const char *name)
{
	struct model_file *file;
	char path[512];
	int fd;

	m->files = xreallocarray(m->files, m->nfiles + 1, sizeof(*m->files));
	file = &m->files[m->nfiles];
	memset(file, 0, sizeof(*file));
	snprintf(file->name, sizeof(file->name), "%s", name);
	model_path(m, name, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		model_die("create", path);
	close(fd);
	return (int)m->nfiles++;
}

static void model_rename(struct model_files *m, int f, const char *name)
{
	char from[512], to[512];

	model_path(m, m->files[f].name, from, sizeof(from));
	model_path(m, name, to, sizeof(to));
	if (rename(from, to) < 0)
		model_die("rename", from);
	snprintf(m->files[f].name, sizeof(m->files[f].name), "%s", name);
}

static void model_unlink(struct model_files *m, int f)
{
	char path[512];

	model_path(m, m->files[f].name, path, sizeof(path));
	if (unlink(path) < 0)
		model_die("unlink", path);
	m->files[f].name[0] = '\0';
	for (int i = 0; i < MODEL_ROTATED_MAX; i++) {
		if (m->rotated[i] == f)
			m->rotated[i] = -1;
		if (m->dated[i] == f)
			m->dated[i] = -1;
	}
	if (m->live == f)
		m->live = -1;
	if (m->writer == f)
		m->writer = -1;
}

/* --- lines -------------------------------------------------------------- */

static uint64_t model_line_new(struct model_files *m, int f, uint32_t len)
{
	if (m->nlines == m->cap) {
		m->cap *= 2;
		m->lines = xreallocarray(m->lines, m->cap, sizeof(*m->lines));
	}
	m->lines[m->nlines] = (struct model_line){.offset = (int64_t)m->files[f].len, .len = len};
	return m->nlines++;
}

/* Write line seq's bytes from..to, with its newline when to == len. */
static void model_line_write(struct model_files *m, int f, uint64_t seq, uint32_t from, uint32_t to)
{
	struct model_line *line = &m->lines[seq];
	char *text = xmalloc(line->len + 1);

	model_line_text(seq, line->len, text);
	text[line->len] = '\n';
	model_write(m, f, text + from, to - from + (to == line->len));
	line->complete = to == line->len;
	free(text);
}

/* The rest of a line left without its newline. Every operation but an
 * append calls this first, so the writer is still on the line's file. */
static void model_finish_partial(struct model_files *m)
{
	struct model_line *line;

	if (!m->partial)
		return;
	line = &m->lines[m->partial];
	model_line_write(m, m->writer, (uint64_t)m->partial,
			 (uint32_t)(m->files[m->writer].len - (size_t)line->offset), line->len);
	m->partial = 0;
}

static uint32_t model_line_len(struct model_rng *rng)
{
	if (model_rng_chance(rng, 12))         /* longer than max_line_bytes */
		return MODEL_MAX_LINE + 1 + (uint32_t)model_rng_below(rng, 3000);
	return 2 + MODEL_SEQ_DIGITS + (uint32_t)model_rng_below(rng, 110);
}

void model_reopen(struct model_files *m)
{
	model_finish_partial(m);
	if (m->live < 0)
		m->live = model_create(m, MODEL_LIVE);
	m->writer = m->live;
	snprintf(m->last, sizeof(m->last), "reopen %s", MODEL_LIVE);
}

void model_append(struct model_files *m, struct model_rng *rng)
{
	unsigned n = 1 + (unsigned)model_rng_below(rng, 12);

	model_finish_partial(m);
	if (m->writer < 0)
		model_reopen(m);
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = model_line_len(rng);
		uint64_t seq = model_line_new(m, m->writer, len);

		if (i == n - 1 && model_rng_chance(rng, 25)) {
			model_line_write(m, m->writer, seq, 0, (uint32_t)model_rng_below(rng, len));
			m->partial = (int)seq;
		} else {
			model_line_write(m, m->writer, seq, 0, len);
		}
	}
	snprintf(m->last, sizeof(m->last), "append %u lines to %s%s", n,
		 m->files[m->writer].name, m->partial ? ", the last one partial" : "");
}

/* --- rotations ------------------------------------------------------------ */

/* access.log.N -> .N+1 from the oldest, the last one deleted. */
static void model_shift(struct model_files *m)
{
	char name[64];

	if (m->rotated[MODEL_ROTATED_MAX - 1] >= 0)
		model_unlink(m, m->rotated[MODEL_ROTATED_MAX - 1]);
	for (int i = MODEL_ROTATED_MAX - 2; i >= 0; i--) {
		if (m->rotated[i] < 0)
			continue;
		snprintf(name, sizeof(name), MODEL_LIVE ".%d", i + 2);
		model_rename(m, m->rotated[i], name);
		m->rotated[i + 1] = m->rotated[i];
		m->rotated[i] = -1;
	}
}

void model_rotate_rename(struct model_files *m)
{
	model_finish_partial(m);
	model_shift(m);
	if (m->live >= 0) {
		model_rename(m, m->live, MODEL_LIVE ".1");
		m->rotated[0] = m->live;
	}
	m->live = model_create(m, MODEL_LIVE);
	snprintf(m->last, sizeof(m->last), "rotate: rename to " MODEL_LIVE ".1, create " MODEL_LIVE
		 " (the writer stays on the old file until it reopens)");
}

void model_copy_begin(struct model_files *m, bool dated)
{
	char name[64];

	model_finish_partial(m);
	if (m->live < 0)
		model_reopen(m);
	if (dated) {
		if (m->dated[0] >= 0)
			model_unlink(m, m->dated[0]);
		memmove(m->dated, m->dated + 1, (MODEL_ROTATED_MAX - 1) * sizeof(*m->dated));
		snprintf(name, sizeof(name), MODEL_LIVE "-2026%04u", m->dated_next++);
		m->copying = model_create(m, name);
		m->dated[MODEL_ROTATED_MAX - 1] = m->copying;
	} else {
		model_shift(m);
		m->copying = model_create(m, MODEL_LIVE ".1");
		m->rotated[0] = m->copying;
	}
	m->copy_of = m->live;
	m->copied = false;
	snprintf(m->last, sizeof(m->last), "copytruncate: copy %s to %s begins",
		 m->files[m->copy_of].name, m->files[m->copying].name);
}

static void model_copy_to(struct model_files *m, size_t end)
{
	struct model_file *from = &m->files[m->copy_of];
	size_t done = m->files[m->copying].len;

	if (end > done)
		model_write(m, m->copying, from->data + done, end - done);
}

void model_copy_some(struct model_files *m, struct model_rng *rng)
{
	size_t done = m->files[m->copying].len, left = m->files[m->copy_of].len - done;

	model_finish_partial(m);
	left = m->files[m->copy_of].len - done;
	model_copy_to(m, done + (left ? model_rng_below(rng, left + 1) : 0));
	snprintf(m->last, sizeof(m->last), "copytruncate: %zu of %zu bytes copied",
		 m->files[m->copying].len, m->files[m->copy_of].len);
}

void model_copy_end(struct model_files *m)
{
	model_finish_partial(m);
	model_copy_to(m, m->files[m->copy_of].len);
	m->copied = true;
	snprintf(m->last, sizeof(m->last), "copytruncate: copy of %zu bytes done", m->files[m->copying].len);
}

void model_copy_truncate(struct model_files *m)
{
	size_t was = m->files[m->copy_of].len;

	model_finish_partial(m);
	model_truncate_live(m);
	snprintf(m->last, sizeof(m->last), "copytruncate: %s truncated from %zu bytes (copy: %zu)",
		 MODEL_LIVE, was, m->files[m->copying].len);
	m->copying = m->copy_of = -1;
}

void model_truncate_live(struct model_files *m)
{
	char path[512];

	snprintf(m->last, sizeof(m->last), "%s: nothing to do", __func__);

	model_finish_partial(m);
	if (m->live < 0)
		return;
	model_path(m, MODEL_LIVE, path, sizeof(path));
	if (truncate(path, 0) < 0)
		model_die("truncate", path);
	m->files[m->live].len = 0;
	snprintf(m->last, sizeof(m->last), "truncate %s", MODEL_LIVE);
}

/* --- deletions ------------------------------------------------------------ */

/* A file other than the live one and the copy under way, or -1. */
static int model_pick_old(struct model_files *m, struct model_rng *rng)
{
	int candidates[64], n = 0;

	for (int f = 0; f < (int)m->nfiles && n < 64; f++) {
		const struct model_file *file = &m->files[f];

		if (file->name[0] && f != m->live && f != m->copying && f != m->copy_of &&
		    !strstr(file->name, ".gz"))
			candidates[n++] = f;
	}
	return n ? candidates[model_rng_below(rng, (uint64_t)n)] : -1;
}

void model_delete_old(struct model_files *m, struct model_rng *rng)
{
	int f;

	snprintf(m->last, sizeof(m->last), "%s: nothing to do", __func__);

	model_finish_partial(m);
	f = model_pick_old(m, rng);
	if (f < 0)
		return;
	snprintf(m->last, sizeof(m->last), "delete %s", m->files[f].name);
	model_unlink(m, f);
}

void model_delete_live(struct model_files *m)
{
	snprintf(m->last, sizeof(m->last), "%s: nothing to do", __func__);
	model_finish_partial(m);
	if (m->live < 0 || m->copying >= 0)
		return;
	model_unlink(m, m->live);
	snprintf(m->last, sizeof(m->last), "delete %s (the next write creates it again)", MODEL_LIVE);
}

/* gzip: a new file under an excluded name, then the original deleted. */
void model_compress(struct model_files *m, struct model_rng *rng)
{
	char name[80], path[512];
	int f, fd;

	snprintf(m->last, sizeof(m->last), "%s: nothing to do", __func__);

	model_finish_partial(m);
	f = model_pick_old(m, rng);
	if (f < 0)
		return;
	snprintf(name, sizeof(name), "%s.gz", m->files[f].name);
	model_path(m, name, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "\x1f\x8b not followed\n", 16) != 16)
		model_die("compress", path);
	close(fd);
	snprintf(m->last, sizeof(m->last), "compress %s into %s", m->files[f].name, name);
	model_unlink(m, f);
}

void model_tiny(struct model_files *m, struct model_rng *rng)
{
	char name[64];
	uint64_t seq;
	int f;

	model_finish_partial(m);
	snprintf(name, sizeof(name), "tiny-%u.log", m->tiny_next++);
	f = model_create(m, name);
	seq = model_line_new(m, f, 2 + MODEL_SEQ_DIGITS + (uint32_t)model_rng_below(rng, 40));
	model_line_write(m, f, seq, 0, m->lines[seq].len);
	snprintf(m->last, sizeof(m->last), "create %s with one line", name);
}

/* --- the oracle's side ------------------------------------------------------ */

void model_each_followed(struct model_files *m, void (*fn)(void *arg, uint64_t seq, int file),
			 void *arg)
{
	for (size_t f = 0; f < m->nfiles; f++) {
		const struct model_file *file = &m->files[f];
		const char *p = file->data, *end = file->data + file->len, *nl;

		if (!file->name[0] || strstr(file->name, ".gz"))
			continue;
		for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
			unsigned long long seq = strtoull(p + 1, NULL, 10);

			if (seq > 0 && seq < m->nlines)
				fn(arg, seq, (int)f);
		}
	}
}

static void model_must(void *arg, uint64_t seq, int file)
{
	struct model_files *m = arg;

	m->lines[seq].must = true;
	m->lines[seq].file = file;
}

void model_mark_must(struct model_files *m)
{
	model_each_followed(m, model_must, m);
}

void model_files_describe(const struct model_files *m, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t f = 0; f < m->nfiles && used < len; f++) {
		const struct model_file *file = &m->files[f];
		int n;

		if (!file->name[0] || strstr(file->name, ".gz"))
			continue;
		n = snprintf(out + used, len - used, "%s%s#%zu:%zu%s", used ? " " : "",
			     file->name, f, file->len, (int)f == m->writer ? "<w" : "");
		used += n > 0 ? (size_t)n : 0;
	}
}
