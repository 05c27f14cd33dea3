/*
 * registry: each entry lives in a node allocated on its own, so that the
 * pointers callers hold survive growth; the nodes are listed in an array
 * for iteration and chained in two hash tables, by id and by
 * fingerprint+generation, with as many buckets as entries at most
 * (common/hmap copies one string key per entry; two keys threaded through
 * the nodes need no copies and no tombstones).
 *
 * The file is {"version":1,"entries":[{...},...]}. The fingerprint is a
 * 16-hex-digit string; dev and ino are numbers up to 2^53 - 1 and 16-hex
 * strings above, so that no JSON reader rounds them; a path that is not
 * UTF-8 is written with its non-ASCII bytes as '?' (it is informational).
 * A file over REGISTRY_MAX_BYTES is refused rather than read.
 * A save writes registry.json.tmp, fsyncs it, renames it over
 * registry.json and fsyncs the folder; the dirty flag is cleared only when
 * all of that worked, so a failed save is retried by the next one.
 */
#include "registry.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "logging.h"
#include "xalloc.h"

#define REGISTRY_FILE "registry.json"
#define REGISTRY_TMP "registry.json.tmp"
#define REGISTRY_LOCK "lock"
#define REGISTRY_MIN_SLOTS 64          /* smallest bucket and node arrays */
#define REGISTRY_JSON_EXACT ((UINT64_C(1) << 53) - 1)
#define REGISTRY_MAX_BYTES (256 << 20)  /* a million entries fit */
#define REGISTRY_REFUSE "refusing to start at offset 0 \u2014 move it away " \
	"or run with --reset-registry"

struct registry_node {
	struct registry_entry entry;   /* first: callers hold &node->entry */
	struct registry_node *id_next; /* chain of by_id */
	struct registry_node *fp_next; /* chain of by_fp */
};

struct registry {
	char *dir;
	int dir_fd;                    /* the folder, for *at() and its fsync */
	int lock_fd;                   /* holds the flock until registry_free */
	struct registry_node **nodes;  /* count of cap used, in no order */
	size_t count, cap;
	struct registry_node **by_id, **by_fp;
	size_t nbuckets;               /* a power of two; count <= nbuckets */
	bool dirty;
	uint64_t writes;
};

/* --- entries in memory ------------------------------------------------ */

static size_t registry_id_bucket(const struct registry *reg, const char *id)
{
	return (size_t)XXH3_64bits(id, strlen(id)) & (reg->nbuckets - 1);
}

/* The fingerprint is a hash already; the generation only needs mixing in. */
static size_t registry_fp_bucket(const struct registry *reg, uint64_t fp,
				 uint32_t generation)
{
	uint64_t h = fp ^ (generation * UINT64_C(0x9e3779b97f4a7c15));

	return (size_t)(h ^ (h >> 32)) & (reg->nbuckets - 1);
}

static void registry_link(struct registry *reg, struct registry_node *node)
{
	size_t i = registry_id_bucket(reg, node->entry.id);
	size_t j = registry_fp_bucket(reg, node->entry.fingerprint,
				      node->entry.generation);

	node->id_next = reg->by_id[i];
	reg->by_id[i] = node;
	node->fp_next = reg->by_fp[j];
	reg->by_fp[j] = node;
}

static void registry_rehash(struct registry *reg, size_t nbuckets)
{
	free(reg->by_id);
	free(reg->by_fp);
	reg->nbuckets = nbuckets;
	reg->by_id = xcalloc(nbuckets, sizeof(*reg->by_id));
	reg->by_fp = xcalloc(nbuckets, sizeof(*reg->by_fp));
	for (size_t i = 0; i < reg->count; i++)
		registry_link(reg, reg->nodes[i]);
}

static void registry_insert(struct registry *reg, struct registry_node *node)
{
	if (reg->count == reg->cap) {
		reg->cap *= 2;
		reg->nodes = xreallocarray(reg->nodes, reg->cap,
					   sizeof(*reg->nodes));
	}
	reg->nodes[reg->count++] = node;
	if (reg->count > reg->nbuckets)
		registry_rehash(reg, reg->nbuckets * 2);
	else
		registry_link(reg, node);
}

static struct registry_node *registry_node_new(const char *id, uint64_t fp,
					       uint32_t generation,
					       int64_t offset,
					       const char *path)
{
	struct registry_node *node = xcalloc(1, sizeof(*node));

	snprintf(node->entry.id, sizeof(node->entry.id), "%s", id);
	node->entry.fingerprint = fp;
	node->entry.generation = generation;
	node->entry.offset = offset;
	node->entry.path = xstrdup(path ? path : "");
	return node;
}

static void registry_node_free(struct registry_node *node)
{
	free(node->entry.path);
	free(node);
}

struct registry_entry *registry_find(struct registry *reg, const char *id)
{
	struct registry_node *node = reg->by_id[registry_id_bucket(reg, id)];

	for (; node; node = node->id_next)
		if (strcmp(node->entry.id, id) == 0)
			return &node->entry;
	return NULL;
}

struct registry_entry *registry_find_fingerprint(struct registry *reg,
						 uint64_t fingerprint,
						 uint32_t generation)
{
	size_t i = registry_fp_bucket(reg, fingerprint, generation);
	struct registry_node *node = reg->by_fp[i];

	for (; node; node = node->fp_next)
		if (node->entry.fingerprint == fingerprint &&
		    node->entry.generation == generation)
			return &node->entry;
	return NULL;
}

struct registry_entry *registry_add(struct registry *reg, const char *host,
				    uint64_t fingerprint, uint32_t generation,
				    int64_t offset, const char *path)
{
	char id[FINGERPRINT_ID_LEN + 1];
	struct registry_entry *entry;
	struct registry_node *node;

	fingerprint_source_id(host, fingerprint, generation, id);
	entry = registry_find(reg, id);
	if (entry)
		return entry;
	node = registry_node_new(id, fingerprint, generation, offset, path);
	node->entry.seen = (int64_t)time(NULL);
	registry_insert(reg, node);
	reg->dirty = true;
	return &node->entry;
}

/* Shrinks the arrays after a clean so that memory follows the count. */
static void registry_shrink(struct registry *reg)
{
	size_t nbuckets = REGISTRY_MIN_SLOTS;

	while (nbuckets < reg->count)
		nbuckets *= 2;
	if (reg->cap > 2 * nbuckets) {
		reg->cap = nbuckets;
		reg->nodes = xreallocarray(reg->nodes, reg->cap,
					   sizeof(*reg->nodes));
	}
	registry_rehash(reg, nbuckets);
}

size_t registry_clean(struct registry *reg, int64_t now, int64_t max_age,
		      registry_held_fn held, void *arg)
{
	size_t kept = 0, removed;

	if (max_age < 0 || now < INT64_MIN + max_age)
		return 0;
	for (size_t i = 0; i < reg->count; i++) {
		struct registry_entry *e = &reg->nodes[i]->entry;

		if (e->seen < now - max_age && !(held && held(e, arg)))
			registry_node_free(reg->nodes[i]);
		else
			reg->nodes[kept++] = reg->nodes[i];
	}
	removed = reg->count - kept;
	reg->count = kept;
	if (removed) {
		registry_shrink(reg);
		reg->dirty = true;
	}
	return removed;
}

void registry_touch(struct registry *reg)
{
	reg->dirty = true;
}

bool registry_dirty(const struct registry *reg)
{
	return reg->dirty;
}

size_t registry_count(const struct registry *reg)
{
	return reg->count;
}

struct registry_entry *registry_at(struct registry *reg, size_t i)
{
	assert(i < reg->count);
	return &reg->nodes[i]->entry;
}

uint64_t registry_writes(const struct registry *reg)
{
	return reg->writes;
}

/* --- reading the file ------------------------------------------------- */

/* Exactly 16 lowercase hex digits, the form of ids and fingerprints. */
static bool registry_hex16(const char *s, uint64_t *out)
{
	if (!s || strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16)
		return false;
	*out = strtoull(s, NULL, 16);
	return true;
}

static const char *registry_json_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static bool registry_json_int(json_t *obj, const char *key, int64_t min,
			      int64_t max, int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* A number up to 2^53 - 1 or a 16-hex-digit string. */
static bool registry_json_u64(json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	int64_t n;

	if (json_is_string(v))
		return registry_hex16(json_string_value(v), out);
	if (!registry_json_int(obj, key, 0, (int64_t)REGISTRY_JSON_EXACT, &n))
		return false;
	*out = (uint64_t)n;
	return true;
}

/* Checks every field of item into *e; returns what is wrong, or NULL. */
static const char *registry_entry_parse(json_t *item, struct registry_entry *e,
					const char **path)
{
	uint64_t dev, ino, id;
	int64_t generation;

	if (!json_is_object(item))
		return "not an object";
	if (!registry_hex16(registry_json_str(item, "id"), &id))
		return "\"id\" is not a string of 16 lowercase hex digits";
	if (!registry_hex16(registry_json_str(item, "fingerprint"),
			    &e->fingerprint))
		return "\"fingerprint\" is not a string of 16 lowercase hex digits";
	if (!registry_json_int(item, "generation", 0, UINT32_MAX, &generation))
		return "\"generation\" is not an integer from 0 to 4294967295";
	if (!registry_json_int(item, "offset", 0, INT64_MAX, &e->offset))
		return "\"offset\" is not a non-negative integer";
	*path = registry_json_str(item, "path");
	if (!*path)
		return "\"path\" is not a string";
	if (!registry_json_u64(item, "dev", &dev) ||
	    !registry_json_u64(item, "ino", &ino))
		return "\"dev\" or \"ino\" is not a non-negative integer "
		       "below 2^53 or a string of 16 lowercase hex digits";
	if (!registry_json_int(item, "seen", INT64_MIN, INT64_MAX, &e->seen))
		return "\"seen\" is not an integer";
	snprintf(e->id, sizeof(e->id), "%s", registry_json_str(item, "id"));
	e->generation = (uint32_t)generation;
	e->dev = (dev_t)dev;
	e->ino = (ino_t)ino;
	return NULL;
}

static int registry_load_entry(struct registry *reg, json_t *item, size_t i,
			       char *reason, size_t len)
{
	struct registry_entry e = { .path = NULL };
	struct registry_node *node;
	const char *path = NULL, *bad;

	bad = registry_entry_parse(item, &e, &path);
	if (bad) {
		snprintf(reason, len, "entry %zu: %s", i, bad);
		return -EINVAL;
	}
	if (registry_find(reg, e.id)) {
		snprintf(reason, len, "entry %zu: duplicate id %s", i, e.id);
		return -EINVAL;
	}
	node = registry_node_new(e.id, e.fingerprint, e.generation, e.offset,
				 path);
	node->entry.dev = e.dev;
	node->entry.ino = e.ino;
	node->entry.seen = e.seen;
	registry_insert(reg, node);
	return 0;
}

static int registry_load_json(struct registry *reg, json_t *root,
			      char *reason, size_t len)
{
	json_t *version = json_object_get(root, "version");
	json_t *entries = json_object_get(root, "entries");
	json_t *item;
	size_t i;
	int rc;

	if (!json_is_object(root)) {
		snprintf(reason, len, "not a JSON object");
		return -EINVAL;
	}
	if (!json_is_integer(version)) {
		snprintf(reason, len, "\"version\" is missing or not an integer");
		return -EINVAL;
	}
	if (json_integer_value(version) != REGISTRY_VERSION) {
		snprintf(reason, len, "version %" JSON_INTEGER_FORMAT " is not "
			 "supported; this agent reads version %d",
			 json_integer_value(version), REGISTRY_VERSION);
		return -EINVAL;
	}
	if (!json_is_array(entries)) {
		snprintf(reason, len, "\"entries\" is missing or not an array");
		return -EINVAL;
	}
	json_array_foreach(entries, i, item) {
		rc = registry_load_entry(reg, item, i, reason, len);
		if (rc)
			return rc;
	}
	return 0;
}

/* The size of a registry.json that can be read, or -errno. */
static int registry_check_file(int fd, size_t *size)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size > REGISTRY_MAX_BYTES)
		return -EFBIG;
	*size = (size_t)st.st_size;
	return 0;
}

/* Reads up to size bytes into data; *len is what there was. */
static int registry_read_fd(int fd, char *data, size_t size, size_t *len)
{
	ssize_t n;

	*len = 0;
	while (*len < size) {
		n = read(fd, data + *len, size - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return 0;
}

/*
 * The whole of registry.json in one allocation (json_loadfd would read it
 * a byte per system call). Returns 0 with *text, which the caller frees;
 * -ENOENT when there is no file; or -errno.
 */
static int registry_read(struct registry *reg, char **text, size_t *len)
{
	size_t size = 0;
	int fd, rc;

	*text = NULL;
	fd = openat(reg->dir_fd, REGISTRY_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = registry_check_file(fd, &size);
	if (rc == 0) {
		*text = xmalloc(size + 1);
		rc = registry_read_fd(fd, *text, size, len);
	}
	close(fd);
	if (rc) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

/* A missing file is an empty registry; anything unusable is refused. */
static int registry_load(struct registry *reg, char *err, size_t errlen)
{
	char reason[512], *text;
	json_error_t jerr;
	json_t *root;
	size_t len = 0;
	int rc;

	rc = registry_read(reg, &text, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		snprintf(err, errlen, "%s/%s: cannot read the registry (%s); %s",
			 reg->dir, REGISTRY_FILE, strerror(-rc), REGISTRY_REFUSE);
		return rc;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!root) {
		snprintf(reason, sizeof(reason), "line %d column %d: %s",
			 jerr.line, jerr.column, jerr.text);
		rc = -EINVAL;
	} else {
		rc = registry_load_json(reg, root, reason, sizeof(reason));
		json_decref(root);
	}
	if (rc)
		snprintf(err, errlen, "%s/%s: corrupt registry (%s); %s",
			 reg->dir, REGISTRY_FILE, reason, REGISTRY_REFUSE);
	return rc;
}

/* --- opening ---------------------------------------------------------- */

static int registry_open_dir(struct registry *reg, char *err, size_t errlen)
{
	int rc;

	if (mkdir(reg->dir, 0750) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot create the data folder: %s",
			 reg->dir, strerror(-rc));
		return rc;
	}
	reg->dir_fd = open(reg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (reg->dir_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open the data folder: %s",
			 reg->dir, strerror(-rc));
		return rc;
	}
	return 0;
}

/* flock locks belong to the open file description, so a second open in
 * the same process is refused too. */
static int registry_lock(struct registry *reg, char *err, size_t errlen)
{
	int rc;

	reg->lock_fd = openat(reg->dir_fd, REGISTRY_LOCK,
			      O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (reg->lock_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s/%s: cannot open the lock file: %s",
			 reg->dir, REGISTRY_LOCK, strerror(-rc));
		return rc;
	}
	if (flock(reg->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	rc = -errno;
	if (rc == -EWOULDBLOCK)
		snprintf(err, errlen, "%s: another logtally-agent is using this "
			 "data_dir (it holds %s/%s); stop it or give this one "
			 "another data_dir", reg->dir, reg->dir, REGISTRY_LOCK);
	else
		snprintf(err, errlen, "%s/%s: cannot lock: %s", reg->dir,
			 REGISTRY_LOCK, strerror(-rc));
	return rc;
}

/* Moves registry.json aside (never deletes it) for --reset-registry. */
static int registry_reset(struct registry *reg, char *err, size_t errlen)
{
	char aside[64];
	int rc;

	snprintf(aside, sizeof(aside), "%s.reset-%lld", REGISTRY_FILE,
		 (long long)time(NULL));
	if (renameat(reg->dir_fd, REGISTRY_FILE, reg->dir_fd, aside) != 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "%s/%s: cannot move the registry aside "
			 "for --reset-registry: %s", reg->dir, REGISTRY_FILE,
			 strerror(-rc));
		return rc;
	}
	fsync(reg->dir_fd);
	logging_warn("%s/%s: --reset-registry: the previous registry is kept as "
		     "%s/%s; every file is treated as new", reg->dir,
		     REGISTRY_FILE, reg->dir, aside);
	return 0;
}

struct registry *registry_open(const char *data_dir, bool reset, char *err,
			       size_t errlen)
{
	struct registry *reg = xcalloc(1, sizeof(*reg));
	int rc;

	reg->dir = xstrdup(data_dir);
	reg->dir_fd = -1;
	reg->lock_fd = -1;
	reg->cap = REGISTRY_MIN_SLOTS;
	reg->nodes = xcalloc(reg->cap, sizeof(*reg->nodes));
	registry_rehash(reg, REGISTRY_MIN_SLOTS);
	rc = registry_open_dir(reg, err, errlen);
	if (rc == 0)
		rc = registry_lock(reg, err, errlen);
	if (rc == 0 && reset)
		rc = registry_reset(reg, err, errlen);
	if (rc == 0)
		rc = registry_load(reg, err, errlen);
	if (rc) {
		registry_free(reg);
		return NULL;
	}
	return reg;
}

void registry_free(struct registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->count; i++)
		registry_node_free(reg->nodes[i]);
	free(reg->nodes);
	free(reg->by_id);
	free(reg->by_fp);
	if (reg->lock_fd >= 0)
		close(reg->lock_fd);
	if (reg->dir_fd >= 0)
		close(reg->dir_fd);
	free(reg->dir);
	free(reg);
}

/* --- writing the file ------------------------------------------------- */

static json_t *registry_u64_json(uint64_t v)
{
	char hex[FINGERPRINT_ID_LEN + 1];

	if (v <= REGISTRY_JSON_EXACT)
		return json_integer((json_int_t)v);
	snprintf(hex, sizeof(hex), "%016" PRIx64, v);
	return json_string(hex);
}

static json_t *registry_path_json(const char *path)
{
	json_t *s = json_string(path);
	char *ascii;

	if (s)
		return s;
	ascii = xstrdup(path);
	for (char *p = ascii; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	s = json_string(ascii);
	free(ascii);
	return s;
}

static json_t *registry_entry_json(const struct registry_entry *e)
{
	char fp[FINGERPRINT_ID_LEN + 1];

	snprintf(fp, sizeof(fp), "%016" PRIx64, e->fingerprint);
	return json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:I}",
			 "id", e->id, "fingerprint", fp,
			 "generation", (json_int_t)e->generation,
			 "offset", (json_int_t)e->offset,
			 "path", registry_path_json(e->path ? e->path : ""),
			 "dev", registry_u64_json((uint64_t)e->dev),
			 "ino", registry_u64_json((uint64_t)e->ino),
			 "seen", (json_int_t)e->seen);
}

/* The whole file as text; NULL only when jansson ran out of memory. */
static char *registry_dump(const struct registry *reg)
{
	json_t *entries = json_array(), *root;
	char *text;

	for (size_t i = 0; i < reg->count; i++)
		json_array_append_new(entries,
				      registry_entry_json(&reg->nodes[i]->entry));
	root = json_pack("{s:i, s:o}", "version", REGISTRY_VERSION,
			 "entries", entries);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

static int registry_write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes registry.json.tmp and fsyncs it; removes it on failure. */
static int registry_write_tmp(struct registry *reg, const char *text)
{
	int fd, rc;

	fd = openat(reg->dir_fd, REGISTRY_TMP,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	rc = registry_write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = registry_write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc)
		unlinkat(reg->dir_fd, REGISTRY_TMP, 0);
	return rc;
}

int registry_save(struct registry *reg)
{
	char *text;
	int rc;

	if (!reg->dirty)
		return 0;
	text = registry_dump(reg);
	if (!text)
		return -ENOMEM;
	rc = registry_write_tmp(reg, text);
	free(text);
	if (rc == 0 && renameat(reg->dir_fd, REGISTRY_TMP, reg->dir_fd,
				REGISTRY_FILE) != 0) {
		rc = -errno;
		unlinkat(reg->dir_fd, REGISTRY_TMP, 0);
	}
	if (rc == 0 && fsync(reg->dir_fd) != 0)
		rc = -errno;
	if (rc == 0) {
		reg->dirty = false;
		reg->writes++;
	}
	return rc;
}
