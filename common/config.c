/*
 * config: loading. The file is parsed by libyaml into a document tree (so
 * every node keeps its line and column), then walked section by section
 * against the program's key tables. A key absent from the file takes its
 * default, itself YAML text parsed by the same walk, so that defaults obey
 * the same types and bounds as user values. Errors are collected with their
 * position and key path; the walk goes on after an error so that one run
 * shows every mistake in the file.
 */
#include "config.h"
#include "config_private.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define CONFIG_MAX_ERRORS 100

/* --- errors ---------------------------------------------------------- */

static void config_error_add(struct config_errors *errs, size_t line,
			     size_t column, char *text)
{
	if (errs->n >= CONFIG_MAX_ERRORS) {
		errs->dropped++;
		free(text);
		return;
	}
	errs->items = xreallocarray(errs->items, errs->n + 1, sizeof(*errs->items));
	errs->items[errs->n] = (struct config_error){line, column, errs->n, text};
	errs->n++;
}

static int config_error_cmp(const void *a, const void *b)
{
	const struct config_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void config_verror(struct config_ctx *ctx, yaml_mark_t mark,
			  size_t shift, const char *path, const char *fmt,
			  va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	config_error_add(ctx->errs, mark.line + 1, mark.column + 1 + shift,
			 xasprintf("%s:%zu:%zu: %s%s%s", ctx->file, mark.line + 1,
				   mark.column + 1 + shift, path,
				   *path ? ": " : "", msg));
}

void config_error(struct config_ctx *ctx, yaml_node_t *node,
			 const char *fmt, ...)
{
	yaml_mark_t start = {0, 0, 0};
	va_list ap;

	va_start(ap, fmt);
	config_verror(ctx, node ? node->start_mark : start, 0, ctx->path, fmt, ap);
	va_end(ap);
}

void config_errors_print(const struct config_errors *errs, FILE *out)
{
	for (size_t i = 0; i < errs->n; i++)
		fprintf(out, "%s\n", errs->items[i].text);
	if (errs->dropped)
		fprintf(out, "(%zu more errors not shown)\n", errs->dropped);
}

void config_errors_fini(struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		free(errs->items[i].text);
	free(errs->items);
	memset(errs, 0, sizeof(*errs));
}
/* --- sections ----------------------------------------------------------- */

static size_t config_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The key of section closest to name, if close enough to be a typo. */
static const char *config_suggest(const struct config_section *section,
				  const char *name)
{
	const char *best = NULL;
	size_t best_d = strlen(name) / 3 + 1;

	if (best_d > 3)
		best_d = 3;
	for (const struct config_key *key = section->keys; key->name; key++) {
		size_t d = config_distance(name, key->name);

		if (d <= best_d && (!best || d < config_distance(name, best)))
			best = key->name;
	}
	return best;
}

static const struct config_key *config_find(const struct config_section *section,
					    const char *name)
{
	for (const struct config_key *key = section->keys; key->name; key++)
		if (!strcmp(key->name, name))
			return key;
	return NULL;
}

/* The key of section flagged CONFIG_SHORTHAND, or NULL. */
static const struct config_key *config_shorthand(const struct config_section *section)
{
	for (const struct config_key *key = section->keys; key->name; key++)
		if (key->flags & CONFIG_SHORTHAND)
			return key;
	return NULL;
}

/*
 * The value of key name in mapping, or NULL. The section being loaded,
 * when written in short (ctx->here not a mapping), is its shorthand key.
 */
static yaml_node_t *config_lookup(struct config_ctx *ctx, yaml_node_t *mapping,
				  const char *name, yaml_node_t **keynode)
{
	const struct config_key *shorthand;
	yaml_node_pair_t *pair;

	if (mapping && mapping->type != YAML_MAPPING_NODE && mapping == ctx->here &&
	    ctx->section && (shorthand = config_shorthand(ctx->section)) &&
	    !strcmp(shorthand->name, name)) {
		if (keynode)
			*keynode = mapping;
		return mapping;
	}
	if (!mapping || mapping->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = mapping->data.mapping.pairs.start;
	     pair < mapping->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(ctx->doc, pair->key);

		if (k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, name)) {
			if (keynode)
				*keynode = k;
			return yaml_document_get_node(ctx->doc, pair->value);
		}
	}
	return NULL;
}

/* Report unknown and duplicate keys of a mapping. */
static void config_check_keys(struct config_ctx *ctx,
			      const struct config_section *section,
			      yaml_node_t *mapping)
{
	yaml_node_pair_t *pair;

	for (pair = mapping->data.mapping.pairs.start;
	     pair < mapping->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(ctx->doc, pair->key);
		const char *name = (const char *)k->data.scalar.value;
		const char *hint;
		yaml_node_t *first;
		size_t len;

		if (k->type != YAML_SCALAR_NODE) {
			config_error(ctx, k, "a key must be a scalar, found %s",
				     config_node_kind(k));
			continue;
		}
		len = config_path_push(ctx, "%s%s", *ctx->path ? "." : "", name);
		config_lookup(ctx, mapping, name, &first);
		if (!config_find(section, name)) {
			hint = config_suggest(section, name);
			config_error(ctx, k, "unknown key%s%s%s", hint ? " (did you mean '" : "",
				     hint ? hint : "", hint ? "'?)" : "");
		} else if (first != k) {
			config_error(ctx, k, "duplicate key (first set at line %zu)",
				     first->start_mark.line + 1);
		}
		config_path_pop(ctx, len);
	}
}

/* Load key's default text, parsed as YAML, into field. */
static void config_load_default(struct config_ctx *ctx,
				const struct config_key *key, void *field)
{
	yaml_document_t *file_doc = ctx->doc, doc;
	const char *file = ctx->file;
	yaml_parser_t parser;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)key->def,
				     strlen(key->def));
	if (!yaml_parser_load(&parser, &doc) || !yaml_document_get_root_node(&doc)) {
		config_error(ctx, NULL, "built-in default '%s' is not valid YAML", key->def);
		yaml_parser_delete(&parser);
		return;
	}
	ctx->doc = &doc;
	ctx->file = "(built-in default)";
	config_loaders[key->type](ctx, key, field, yaml_document_get_root_node(&doc));
	ctx->doc = file_doc;
	ctx->file = file;
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
}

/* Load one key from its node in the file, or its default when absent. */
static void config_key_load(struct config_ctx *ctx, const struct config_key *key,
			    void *obj, yaml_node_t *mapping)
{
	size_t before = ctx->errs->n + ctx->errs->dropped;
	size_t index = (size_t)(key - ctx->section->keys);
	yaml_node_t *node = config_lookup(ctx, mapping, key->name, NULL);
	void *field = (char *)obj + key->offset;
	/* A section in short is named by its own path, as the file has it. */
	size_t len = node && node == mapping ? strlen(ctx->path) :
		config_path_push(ctx, "%s%s", *ctx->path ? "." : "", key->name);

	if (node && config_is_null(node) && key->type != CONFIG_SECTION)
		node = NULL;
	if (node)
		config_loaders[key->type](ctx, key, field, node);
	else if (key->def)
		config_load_default(ctx, key, field);
	else if (key->flags & CONFIG_REQUIRED)
		config_error(ctx, mapping ? mapping : ctx->mapping,
			     "missing required key");
	else if (key->type == CONFIG_SECTION)
		config_section_load(ctx, key->section, field, NULL);
	else if (key->type == CONFIG_STRING)
		*(char **)field = xstrdup("");
	config_path_pop(ctx, len);
	if (ctx->errs->n + ctx->errs->dropped > before && index < 64)
		ctx->failed |= UINT64_C(1) << index;
}

/*
 * Load a section from node (a mapping, a null scalar, or NULL when absent):
 * every key from the file or its default, then the section's validate hook.
 */
void config_section_load(struct config_ctx *ctx,
			 const struct config_section *section,
			 void *obj, yaml_node_t *node)
{
	struct config_ctx outer = *ctx;

	if (node && config_is_null(node))
		node = NULL;
	if (node && node->type != YAML_MAPPING_NODE && !config_shorthand(section)) {
		config_error(ctx, node, "expected a mapping, found %s",
			     config_node_kind(node));
		return;
	}
	if (node && node->type == YAML_MAPPING_NODE)
		config_check_keys(ctx, section, node);
	ctx->mapping = node ? node : outer.mapping;
	ctx->here = node;
	ctx->section = section;
	ctx->failed = 0;
	for (const struct config_key *key = section->keys; key->name; key++)
		config_key_load(ctx, key, obj, node);
	if (section->validate)
		section->validate(obj, ctx);
	ctx->mapping = outer.mapping;
	ctx->here = outer.here;
	ctx->section = outer.section;
	ctx->failed = outer.failed;
}

/* --- reports from validate hooks --------------------------------------- */

static void config_vreport(struct config_ctx *ctx, const char *key,
			   yaml_node_t *node, const char *fmt, va_list ap)
{
	char path[2 * CONFIG_PATH_MAX + 2];

	snprintf(path, sizeof(path), "%s%s%s", ctx->path,
		 *ctx->path && key ? "." : "", key ? key : "");
	if (!node)
		node = ctx->mapping;
	config_verror(ctx, node ? node->start_mark : (yaml_mark_t){0, 0, 0}, 0,
		      path, fmt, ap);
}

void config_report(struct config_ctx *ctx, const char *key, const char *fmt, ...)
{
	yaml_node_t *node = key ? config_lookup(ctx, ctx->here, key, NULL) : ctx->here;
	va_list ap;

	va_start(ap, fmt);
	config_vreport(ctx, key, node, fmt, ap);
	va_end(ap);
}

bool config_ok(struct config_ctx *ctx, const char *key)
{
	const struct config_key *k = config_find(ctx->section, key);
	size_t index = k ? (size_t)(k - ctx->section->keys) : 64;

	assert(k);
	return index >= 64 || !(ctx->failed & (UINT64_C(1) << index));
}

bool config_has(struct config_ctx *ctx, const char *key)
{
	return config_lookup(ctx, ctx->here, key, NULL) != NULL;
}

/* Item i of a list node, or the key of pair i of a mapping node. */
static yaml_node_t *config_nth(struct config_ctx *ctx, yaml_node_t *node, size_t i)
{
	if (node && node->type == YAML_SEQUENCE_NODE &&
	    i < (size_t)(node->data.sequence.items.top - node->data.sequence.items.start))
		return yaml_document_get_node(ctx->doc,
					      node->data.sequence.items.start[i]);
	if (node && node->type == YAML_MAPPING_NODE &&
	    i < (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start))
		return yaml_document_get_node(ctx->doc,
					      node->data.mapping.pairs.start[i].key);
	return node;
}

/* The node at the dotted path under node, or NULL. */
static yaml_node_t *config_lookup_path(struct config_ctx *ctx, yaml_node_t *node,
				       const char *path)
{
	char name[CONFIG_PATH_MAX];
	size_t len;

	while (node && *path) {
		len = strcspn(path, ".");
		snprintf(name, sizeof(name), "%.*s", (int)len, path);
		node = config_lookup(ctx, node, name, NULL);
		path += len + (path[len] == '.');
	}
	return node;
}

void config_report_item(struct config_ctx *ctx, const char *key, size_t i,
			const char *subkey, const char *fmt, ...)
{
	yaml_node_t *node = config_nth(ctx, config_lookup(ctx, ctx->here, key, NULL), i);
	yaml_node_t *sub = subkey ? config_lookup_path(ctx, node, subkey) : NULL;
	char name[CONFIG_PATH_MAX];
	va_list ap;

	snprintf(name, sizeof(name), "%s[%zu]%s%s", key, i, subkey ? "." : "",
		 subkey ? subkey : "");
	va_start(ap, fmt);
	config_vreport(ctx, name, sub ? sub : node, fmt, ap);
	va_end(ap);
}

/* --- documents ----------------------------------------------------------- */

static void config_syntax_error(struct config_ctx *ctx, yaml_parser_t *parser)
{
	yaml_mark_t mark = parser->problem_mark;
	char context[128] = "";

	if (parser->context)
		snprintf(context, sizeof(context), " (%s at line %zu)",
			 parser->context, parser->context_mark.line + 1);
	if (parser->error == YAML_READER_ERROR)
		mark.line = mark.column = 0;
	config_error_add(ctx->errs, mark.line + 1, mark.column + 1,
			 xasprintf("%s:%zu:%zu: YAML syntax error: %s%s",
					      ctx->file, mark.line + 1,
					      mark.column + 1,
					      parser->problem ? parser->problem : "unknown",
					      context));
}

int config_load_string(const struct config_section *root, void *obj,
		       const char *name, const char *text,
		       struct config_errors *errs)
{
	struct config_ctx ctx = {.file = name, .errs = errs};
	yaml_parser_t parser;
	yaml_document_t doc;
	size_t before = errs->n + errs->dropped, before_n = errs->n;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
				     strlen(text));
	if (!yaml_parser_load(&parser, &doc)) {
		config_syntax_error(&ctx, &parser);
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	ctx.doc = &doc;
	config_section_load(&ctx, root, obj, yaml_document_get_root_node(&doc));
	/* Sort this load's errors by position: the order a reader fixes them. */
	if (errs->n > before_n)
		qsort(errs->items + before_n, errs->n - before_n,
		      sizeof(*errs->items), config_error_cmp);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return errs->n + errs->dropped > before ? -EINVAL : 0;
}

int config_load_file(const struct config_section *root, void *obj,
		     const char *path, struct config_errors *errs)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!f) {
		rc = -errno;
		config_error_add(errs, 0, 0, xasprintf("%s: cannot open: %s", path,
						 strerror(errno)));
		return rc;
	}
	/* A configuration file is small; 1 MiB is a generous bound. */
	text = xmalloc(1 << 20);
	len = fread(text, 1, (1 << 20) - 1, f);
	rc = ferror(f) ? -EIO : 0;
	if (!rc && !feof(f))
		rc = -EFBIG;
	fclose(f);
	if (rc) {
		config_error_add(errs, 0, 0, xasprintf("%s: cannot read: %s", path,
						 rc == -EFBIG ? "larger than 1 MiB" : strerror(EIO)));
		free(text);
		return rc;
	}
	text[len] = '\0';
	rc = config_load_string(root, obj, path, text, errs);
	free(text);
	return rc;
}

/* --- freeing ------------------------------------------------------------- */

void config_free(const struct config_section *root, void *obj)
{
	if (!obj)
		return;
	for (const struct config_key *key = root->keys; key->name; key++) {
		void *field = (char *)obj + key->offset;

		switch (key->type) {
		case CONFIG_STRING:
			free(*(char **)field);
			*(char **)field = NULL;
			break;
		case CONFIG_STRINGS:
			config_strings_clear(field);
			break;
		case CONFIG_DURATIONS:
			free(((struct config_durations *)field)->items);
			memset(field, 0, sizeof(struct config_durations));
			break;
		case CONFIG_MAP:
			config_map_clear(field);
			break;
		case CONFIG_DURATION_MAP:
			free(((struct config_duration_map *)field)->items);
			memset(field, 0, sizeof(struct config_duration_map));
			break;
		case CONFIG_SECTION:
			config_free(key->section, field);
			break;
		case CONFIG_SECTIONS:
			config_list_clear(key->section, field);
			break;
		case CONFIG_SECTION_MAP:
			config_section_map_clear(key->section, field);
			break;
		default:
			break;
		}
	}
}
