/*
 * config: a table-driven YAML configuration loader on libyaml.
 *
 * Each program describes its configuration as sections: arrays of
 * struct config_key giving a key's name, type, bounds, default (as YAML text,
 * parsed by the same code as the file), the offsetof() of its field in the
 * program's struct, and one line of help. The same tables reject unknown keys
 * (suggesting a close one), check types and bounds, fill defaults, expand
 * ${VAR} and ${VAR:-default} from the environment, and print --help-config.
 * Every error reads "FILE:LINE:COLUMN: key.path: message", and all errors of
 * a file are collected, not only the first.
 */
#ifndef LOGTALLY_CONFIG_H
#define LOGTALLY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum config_type {
	CONFIG_STRING,        /* char * ("" when optional and absent) */
	CONFIG_BOOL,          /* bool */
	CONFIG_INT,           /* int64_t within [min, max] */
	CONFIG_DURATION,      /* int64_t milliseconds within [min, max] */
	CONFIG_SIZE,          /* uint64_t bytes within [min, max] */
	CONFIG_ENUM,          /* int: index into choices */
	CONFIG_STRINGS,       /* struct config_strings; a lone scalar is a list of one */
	CONFIG_DURATIONS,     /* struct config_durations */
	CONFIG_MAP,           /* struct config_map: string keys, scalar values */
	CONFIG_DURATION_MAP,  /* struct config_duration_map */
	CONFIG_SECTION,       /* a nested struct described by .section */
	CONFIG_SECTIONS,      /* struct config_list of nested structs */
	/*
	 * struct config_list of nested structs, one per entry of a mapping
	 * whose keys the program names (fields of a log format, say); each
	 * struct begins with a char * that receives the entry's key.
	 */
	CONFIG_SECTION_MAP,
};

/* Plain data filled by the loader; owned by the config, freed by config_free(). */
struct config_strings {
	size_t n;
	char **items;
};

struct config_durations {
	size_t n;
	int64_t *items;
};

struct config_pair {
	char *key;
	char *value;
};

struct config_map {
	size_t n;
	struct config_pair *items;
};

struct config_duration_pair {
	int64_t key;
	int64_t value;
};

struct config_duration_map {
	size_t n;
	struct config_duration_pair *items;
};

struct config_list {
	size_t n;
	void *items;        /* n structs of the section's size */
};

#define CONFIG_ITEM(list, type, i) (&((type *)(list).items)[i])

/*
 * An extra check of one scalar: for a CONFIG_MAP entry, key is the entry's
 * key; otherwise NULL. Returns 0 when valid; otherwise -1 with a message in
 * err and, when it can tell, the byte offset of the fault inside value in
 * *at (left at SIZE_MAX otherwise), so that the error points at it.
 */
typedef int (*config_check_fn)(const char *key, const char *value, char *err,
			       size_t errlen, size_t *at);

struct config_ctx;
struct config_section;

/* Flags of a key. */
#define CONFIG_REQUIRED 0x1   /* no default: a file must set it */
/*
 * A section written as a scalar or a list instead of a mapping is this
 * key's value, the others taking their defaults: "status: 404" for
 * "status: {is: 404}". At most one key of a section has it.
 */
#define CONFIG_SHORTHAND 0x2

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;                  /* offsetof() the field in the struct */
	const char *def;                /* default as YAML text, NULL for none */
	unsigned flags;
	int64_t min, max;               /* INT, DURATION, SIZE; 0, 0 = unbounded */
	const char *const *choices;     /* ENUM: NULL-terminated names */
	const struct config_section *section;   /* SECTION, SECTIONS */
	config_check_fn check;          /* optional, per scalar or map entry */
	const char *help;               /* one line for --help-config */
};

struct config_section {
	const struct config_key *keys;  /* terminated by a key with NULL name */
	size_t size;                    /* sizeof the struct, for SECTIONS */
	/*
	 * Checks across keys after the section is loaded; reports through
	 * config_report(). May be NULL.
	 */
	void (*validate)(void *obj, struct config_ctx *ctx);
};

/* One error: text is the full "FILE:LINE:COLUMN: key: message" line. */
struct config_error {
	size_t line, column;            /* 1-based; 0 when not in the file */
	size_t seq;                     /* order found, to keep sorting stable */
	char *text;
};

/* Errors of loads, in file order within each load. */
struct config_errors {
	size_t n;
	struct config_error *items;
	size_t dropped;                 /* errors past the cap, not kept */
};

/*
 * Load the YAML file at path into obj (a zeroed struct of root's shape).
 * Returns 0, or -EINVAL when errs holds at least one error, or -errno when
 * the file cannot be read (also reported in errs). On failure obj may be
 * partly filled: config_free() releases it either way. Blocks on file I/O.
 */
int config_load_file(const struct config_section *root, void *obj,
		     const char *path, struct config_errors *errs);

/* Same as config_load_file() on text in memory; name is used in messages. */
int config_load_string(const struct config_section *root, void *obj,
		       const char *name, const char *text,
		       struct config_errors *errs);

/* Free every string and list the loader put into obj. obj may be NULL. */
void config_free(const struct config_section *root, void *obj);

/*
 * From a section's validate hook: report an error at the value of key (a
 * key of the section being validated; NULL or absent: at the section
 * itself). The message is prefixed with the key's dotted path.
 */
void config_report(struct config_ctx *ctx, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Like config_report() for item i of a list or map key; with subkey, at
 * that key of the item (a mapping in a list of sections), which may be a
 * dotted path into nested mappings ("when.status").
 */
void config_report_item(struct config_ctx *ctx, const char *key, size_t i,
			const char *subkey, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * From a validate hook: whether key of the section loaded without error,
 * so that a check across keys does not pile a second error on the first.
 */
bool config_ok(struct config_ctx *ctx, const char *key);

/* From a validate hook: whether the file itself sets key of the section. */
bool config_has(struct config_ctx *ctx, const char *key);

void config_errors_print(const struct config_errors *errs, FILE *out);
void config_errors_fini(struct config_errors *errs);

/*
 * Call fn for every key under root, depth first, with its dotted name
 * ("inputs[].paths"; the keys of a CONFIG_SECTION_MAP's entries as
 * "dimensions[].when.*.match") and its table entry.
 */
void config_each_key(const struct config_section *root,
		     void (*fn)(const char *name, const struct config_key *key,
				void *arg),
		     void *arg);

/* Print every key, its type, default and help: the --help-config text. */
void config_help(const struct config_section *root, FILE *out);

#endif
