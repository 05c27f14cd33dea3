/*
 * config_private: what the files of the configuration loader share and
 * nothing else includes. config.c walks documents and sections and collects
 * errors; config_value.c turns one YAML node into a typed field. Both work
 * on a struct config_ctx, the state of one load.
 */
#ifndef LOGTALLY_CONFIG_PRIVATE_H
#define LOGTALLY_CONFIG_PRIVATE_H

#include <stdarg.h>
#include <yaml.h>

#include "config.h"

#define CONFIG_PATH_MAX 256

struct config_ctx {
	const char *file;               /* name shown in messages */
	yaml_document_t *doc;
	struct config_errors *errs;
	char path[CONFIG_PATH_MAX];     /* dotted path of the current key */
	yaml_node_t *mapping;           /* nearest mapping present, for positions */
	yaml_node_t *here;              /* the section's own mapping, or NULL */
	const struct config_section *section;
	uint64_t failed;                /* bit i: key i of section had errors */
};

/* One loader per type: node is the value (NULL never reaches them). */
typedef void (*config_load_fn)(struct config_ctx *ctx,
			       const struct config_key *key, void *field,
			       yaml_node_t *node);

/* Indexed by enum config_type. */
extern const config_load_fn config_loaders[];

/* config.c: record an error at mark (plus shift columns) under path. */
void config_verror(struct config_ctx *ctx, yaml_mark_t mark, size_t shift,
		   const char *path, const char *fmt, va_list ap);

/* config.c: record an error at node (NULL: line 1) under ctx->path. */
void config_error(struct config_ctx *ctx, yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* config.c: load a section from a mapping node, NULL when absent. */
void config_section_load(struct config_ctx *ctx,
			 const struct config_section *section, void *obj,
			 yaml_node_t *node);

/* config_value.c: the helpers below. */
const char *config_node_kind(const yaml_node_t *node);
bool config_is_null(const yaml_node_t *node);
void config_error_at(struct config_ctx *ctx, yaml_node_t *node, size_t at,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
char *config_scalar(struct config_ctx *ctx, yaml_node_t *node, const char *what);
size_t config_path_push(struct config_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void config_path_pop(struct config_ctx *ctx, size_t len);
void config_strings_clear(struct config_strings *list);
void config_map_clear(struct config_map *map);
void config_list_clear(const struct config_section *section,
		       struct config_list *list);
void config_section_map_clear(const struct config_section *section,
			      struct config_list *list);

#endif
