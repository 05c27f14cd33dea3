/*
 * tail: one inode's reading. The tail keeps no partial line in memory:
 * it reads with pread from the offset of the first byte not yet sent, and a
 * line cut by the end of a read is read again next time. The read buffer,
 * shared by all tails, holds more than max_line_bytes, so a line that does
 * not fit is a long line: the tail remembers where it started, skips to its
 * end, then sends its first max_line_bytes flagged "truncated" with the
 * offset after its newline, so the registry never points inside a line.
 */
#include "tail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fingerprint.h"
#include "logging.h"
#include "message.h"
#include "producer.h"
#include "xalloc.h"

/* A message in flight: whose offset its report moves, and to where. */
struct tail_pending {
	struct registry_entry *entry;
	int64_t next;
};

struct tail {
	char *path;
	dev_t dev;
	ino_t ino;
	size_t input;
	const struct config_map *fields;
	int fd;                         /* -1 while closed */
	struct registry_entry *entry;   /* the source being read, or NULL */
	struct message_encoder *enc;    /* of (path, host), while attached */
	char *host;
	int64_t offset;                 /* next byte to read and send */
	int64_t long_start;             /* start of a line past the limit, or -1 */
	int64_t limit;                  /* batch mode: end of reading */
	int64_t active_ms;              /* last tail_touch(), on the caller's clock */
	uint64_t last_fp;               /* source before the last truncation */
	uint32_t last_gen;
	bool has_last;
	struct registry_entry *failed;  /* a send of it failed: rewind when drained */
	struct tail_pending *fifo;      /* ring of messages in flight */
	size_t head, count, cap;
};

struct tail *tail_new(const char *path, dev_t dev, ino_t ino, size_t input,
		      const struct config_map *fields)
{
	struct tail *t = xcalloc(1, sizeof(*t));

	t->path = xstrdup(path);
	t->dev = dev;
	t->ino = ino;
	t->input = input;
	t->fields = fields;
	t->fd = -1;
	t->long_start = -1;
	t->limit = INT64_MAX;
	return t;
}

void tail_free(struct tail *t)
{
	if (!t)
		return;
	tail_close(t);
	message_encoder_free(t->enc);
	free(t->fifo);
	free(t->host);
	free(t->path);
	free(t);
}

int tail_open(struct tail *t)
{
	struct stat st;
	int fd;

	if (t->fd >= 0)
		return 0;
	fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != t->dev || st.st_ino != t->ino) {
		close(fd);
		return -ESTALE;
	}
	t->fd = fd;
	return 0;
}

void tail_close(struct tail *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

bool tail_is_open(const struct tail *t)
{
	return t->fd >= 0;
}

int tail_fingerprint(struct tail *t, uint64_t *fp)
{
	if (t->fd < 0)
		return -EBADF;
	return fingerprint_read(t->fd, fp);
}

static void tail_encoder_reset(struct tail *t)
{
	message_encoder_free(t->enc);
	t->enc = t->host ? message_encoder_new(t->path, t->host, t->fields) : NULL;
}

void tail_attach(struct tail *t, struct registry_entry *entry, int64_t offset,
		 const char *host)
{
	t->entry = entry;
	t->offset = offset;
	t->long_start = -1;
	if (!t->host || strcmp(t->host, host)) {
		free(t->host);
		t->host = xstrdup(host);
	}
	tail_encoder_reset(t);
}

void tail_detach(struct tail *t)
{
	if (t->entry) {
		t->last_fp = t->entry->fingerprint;
		t->last_gen = t->entry->generation;
		t->has_last = true;
	}
	t->entry = NULL;
	t->offset = 0;
	t->long_start = -1;
}

struct registry_entry *tail_entry(const struct tail *t)
{
	return t->entry;
}

uint32_t tail_generation(const struct tail *t, uint64_t fp)
{
	return t->has_last && t->last_fp == fp ? t->last_gen + 1 : 0;
}

/* --- messages in flight ------------------------------------------------ */

static void tail_push(struct tail *t, struct registry_entry *entry, int64_t next)
{
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct tail_pending *fifo = xreallocarray(NULL, cap, sizeof(*fifo));

		for (size_t i = 0; i < t->count; i++)
			fifo[i] = t->fifo[(t->head + i) % t->cap];
		free(t->fifo);
		t->fifo = fifo;
		t->cap = cap;
		t->head = 0;
	}
	t->fifo[(t->head + t->count) % t->cap] = (struct tail_pending){entry, next};
	t->count++;
}

void tail_ack(struct tail *t, struct registry *registry, int err)
{
	struct tail_pending pd;

	if (t->count == 0) {
		logging_error("%s: delivery report with nothing in flight", t->path);
		return;
	}
	pd = t->fifo[t->head];
	t->head = (t->head + 1) % t->cap;
	t->count--;
	if (err) {
		/* Never move past a line Kafka did not take: send it again. */
		t->failed = pd.entry;
		return;
	}
	if (pd.entry != t->failed && pd.next > pd.entry->offset) {
		pd.entry->offset = pd.next;
		registry_touch(registry);
	}
}

size_t tail_in_flight(const struct tail *t)
{
	return t->count;
}

/* --- sending -------------------------------------------------------------- */

/*
 * Encode line into env->scratch; when the value would be too large for
 * the producer, cut the line (binary search on its length) and flag it.
 */
static int tail_encode(struct tail *t, struct tail_env *env, const char *ts,
		       const char *line, size_t len, int64_t offset, unsigned *flags)
{
	size_t lo = 0, hi = len;

	buf_reset(&env->scratch);
	if (message_encode(t->enc, ts, line, len, offset, *flags, &env->scratch) == 0)
		return 0;
	*flags |= MESSAGE_FLAG_TRUNCATED;
	while (lo < hi) {       /* the longest prefix whose value fits */
		size_t mid = lo + (hi - lo + 1) / 2;

		buf_reset(&env->scratch);
		if (message_encode(t->enc, ts, line, mid, offset, *flags, &env->scratch) == 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	buf_reset(&env->scratch);
	return message_encode(t->enc, ts, line, lo, offset, *flags, &env->scratch);
}

/* Send one line; next is the offset after its newline. 0, or -ENOBUFS (the
 * producer is full) or -EAGAIN (it refused the line): pause and retry. */
static int tail_send(struct tail *t, struct tail_env *env, const char *ts,
		     const char *line, size_t len, int64_t offset, int64_t next,
		     unsigned flags)
{
	static struct logging_limit limit;
	char *value;
	size_t vlen;
	int rc;

	if (len > env->max_line_bytes) {
		len = env->max_line_bytes;
		flags |= MESSAGE_FLAG_TRUNCATED;
	}
	if (tail_encode(t, env, ts, line, len, offset, &flags) < 0)
		return -EAGAIN; /* not even an empty line fits: a broken limit */
	vlen = buf_len(&env->scratch);
	value = xmalloc(vlen);
	memcpy(value, buf_str(&env->scratch), vlen);
	rc = producer_send(env->producer, t->entry->id, FINGERPRINT_ID_LEN, value,
			   vlen, t);
	if (rc < 0) {
		free(value);
		if (rc != -ENOBUFS)
			logging_limited(&limit, LOGGING_WARN, "%s: cannot queue a line for Kafka (%s); will retry",
					t->path, strerror(-rc));
		return rc == -ENOBUFS ? rc : -EAGAIN;
	}
	tail_push(t, t->entry, next);
	metrics_counter_add(env->lines_read, 1);
	metrics_counter_add(env->bytes_read, (uint64_t)(next - offset));
	if (flags & MESSAGE_FLAG_TRUNCATED)
		metrics_counter_add(env->lines_truncated, 1);
	return 0;
}

/* Whether the file still starts with the entry's first line. Every entry
 * has one (a file is identified by it), so none means the file was truncated,
 * even when nothing had been read of it yet. */
static bool tail_same_first_line(struct tail *t)
{
	uint64_t fp;
	int rc = fingerprint_read(t->fd, &fp);

	if (rc == -EAGAIN)
		return false;
	if (rc < 0)
		return true;    /* cannot tell: the read itself will say */
	return fp == t->entry->fingerprint;
}

/* Send the long line that started at long_start and ends before next - 1.
 * 0, tail_send()'s errors, -EIO when its head cannot be read (logged), or
 * -ESTALE when the file was replaced before it was read again. */
static int tail_send_long(struct tail *t, struct tail_env *env, const char *ts,
			  int64_t next)
{
	size_t len = env->max_line_bytes;
	char *line = xmalloc(len);
	ssize_t n;
	int rc;

	do
		n = pread(t->fd, line, len, t->long_start);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		logging_error("%s: read error at offset %lld: %s; closing it", t->path,
			      (long long)t->long_start, strerror(errno));
		free(line);
		return -EIO;
	}
	if (!tail_same_first_line(t)) {
		free(line);
		return -ESTALE;
	}
	rc = tail_send(t, env, ts, line, (size_t)n, t->long_start, next,
		       MESSAGE_FLAG_TRUNCATED);
	free(line);
	return rc;
}

/* --- reading ----------------------------------------------------------- */

/*
 * Send the complete lines of buf[0..n), which starts at t->offset, and move
 * t->offset past what was sent or skipped. Returns 0 or a send's error:
 * -EIO (a read failed), -ESTALE (the file was replaced), or one to retry
 * after acks (-ENOBUFS, -EAGAIN).
 */
static int tail_lines(struct tail *t, struct tail_env *env, const char *ts,
		      const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n, *nl;
	int rc;

	if (t->long_start >= 0) {
		nl = memchr(p, '\n', n);
		if (!nl) {
			t->offset += (int64_t)n;        /* still inside the long line */
			return 0;
		}
		rc = tail_send_long(t, env, ts, t->offset + (nl - buf) + 1);
		if (rc < 0)
			return rc;
		t->long_start = -1;
		p = nl + 1;
	}
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		size_t len = (size_t)(nl - p);

		if (len && nl[-1] == '\r')
			len--;
		rc = tail_send(t, env, ts, p, len, t->offset + (p - buf),
			       t->offset + (nl - buf) + 1, 0);
		if (rc < 0) {
			t->offset += p - buf;
			return rc;
		}
		p = nl + 1;
	}
	if ((size_t)(end - p) > env->max_line_bytes) {
		t->long_start = t->offset + (p - buf);  /* skip to its end */
		p = end;
	}
	t->offset += p - buf;   /* a partial line is read again next time */
	return 0;
}

/* Let go of the entry: the file is not its source any more. */
static void tail_replaced(struct tail *t)
{
	static struct logging_limit limit;
	struct stat st;
	int64_t size = fstat(t->fd, &st) == 0 ? st.st_size : -1;

	logging_limited(&limit, LOGGING_INFO, "%s: %s (size %lld, offset %lld): reading it as a new source",
			t->path, size >= 0 && size < t->offset ? "truncated" : "content replaced",
			(long long)size, (long long)t->offset);
	tail_detach(t);
}

/*
 * Whether the file is no longer the source being read: it shrank below what
 * was read, or its first line changed (truncated and written again past the
 * offset before this look, as copytruncate does to a busy file while the
 * agent is behind). Then detach: the caller identifies it again.
 */
static bool tail_truncated(struct tail *t)
{
	struct stat st;

	if (fstat(t->fd, &st) < 0)
		return false;
	if (st.st_size >= t->offset && tail_same_first_line(t))
		return false;
	tail_replaced(t);
	return true;
}

/* Before reading again after a failed send, go back to the last ack. */
static bool tail_rewound(struct tail *t)
{
	if (!t->failed)
		return true;
	if (t->count)
		return false;
	if (t->failed == t->entry) {
		t->offset = t->entry->offset;
		t->long_start = -1;
	}
	t->failed = NULL;
	return true;
}

/* Read the next chunk at t->offset, up to the batch limit. */
static ssize_t tail_pread(struct tail *t, struct tail_env *env)
{
	size_t want = env->rbuf_size;
	ssize_t n;

	if ((uint64_t)(t->limit - t->offset) < want)
		want = (size_t)(t->limit - t->offset);
	do
		n = pread(t->fd, env->rbuf, want, t->offset);
	while (n < 0 && errno == EINTR);
	return n;
}

enum tail_status tail_read(struct tail *t, struct tail_env *env,
			   size_t max_bytes, int64_t now_ms)
{
	char ts[MESSAGE_TIMESTAMP_LEN + 1];
	size_t done = 0;

	if (!t->entry || t->fd < 0)
		return TAIL_NO_SOURCE;
	if (!tail_rewound(t))
		return TAIL_PAUSED;
	if (tail_truncated(t))
		return TAIL_TRUNCATED;
	message_timestamp(now_ms, ts);
	while (done < max_bytes && t->offset < t->limit) {
		int64_t before = t->offset;
		ssize_t n = tail_pread(t, env);
		int rc;

		if (n < 0) {
			logging_error("%s: read error: %s; closing it", t->path, strerror(errno));
			tail_close(t);
			return TAIL_ERROR;
		}
		/* Replaced between the look above and this read, what it read
		 * is another file's: nothing of it is sent. */
		rc = n == 0 ? 0 : !tail_same_first_line(t) ? -ESTALE :
		     tail_lines(t, env, ts, env->rbuf, (size_t)n);
		if (rc == -ESTALE) {
			tail_replaced(t);
			return TAIL_TRUNCATED;
		}
		if (rc == -EIO) {
			tail_close(t);
			return TAIL_ERROR;
		}
		if (rc < 0)
			return TAIL_PAUSED;
		if (t->offset == before)
			return TAIL_EOF;
		done += (size_t)(t->offset - before);
	}
	return t->offset < t->limit ? TAIL_MORE : TAIL_EOF;
}

int64_t tail_line_end(struct tail *t, int64_t size)
{
	char chunk[4096];
	int64_t end = size;

	while (end > 0 && t->fd >= 0) {
		int64_t start = end > (int64_t)sizeof(chunk) ? end - (int64_t)sizeof(chunk) : 0;
		ssize_t n;

		do
			n = pread(t->fd, chunk, (size_t)(end - start), start);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return 0;
		for (ssize_t i = n - 1; i >= 0; i--)
			if (chunk[i] == '\n')
				return start + i + 1;
		end = start;
	}
	return 0;
}

/* --- state ------------------------------------------------------------ */

const char *tail_path(const struct tail *t)
{
	return t->path;
}

void tail_rename(struct tail *t, const char *path)
{
	if (!strcmp(t->path, path))
		return;
	free(t->path);
	t->path = xstrdup(path);
	tail_encoder_reset(t);
}

dev_t tail_dev(const struct tail *t)
{
	return t->dev;
}

ino_t tail_ino(const struct tail *t)
{
	return t->ino;
}

size_t tail_input(const struct tail *t)
{
	return t->input;
}

int64_t tail_offset(const struct tail *t)
{
	return t->offset;
}

int tail_stat(struct tail *t, int64_t *size, nlink_t *links)
{
	struct stat st;

	if (t->fd < 0)
		return -EBADF;
	if (fstat(t->fd, &st) < 0)
		return -errno;
	*size = st.st_size;
	*links = st.st_nlink;
	return 0;
}

int64_t tail_idle_ms(const struct tail *t, int64_t now_ms)
{
	return now_ms - t->active_ms;
}

void tail_set_limit(struct tail *t, int64_t limit)
{
	t->limit = limit;
}

bool tail_references(const struct tail *t, const struct registry_entry *entry)
{
	for (size_t i = 0; i < t->count; i++)
		if (t->fifo[(t->head + i) % t->cap].entry == entry)
			return true;
	return false;
}

/* Start the idle clock (a tail that never read is idle since it was found). */
void tail_touch(struct tail *t, int64_t now_ms)
{
	t->active_ms = now_ms;
}
