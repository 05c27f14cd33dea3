/*
 * config_value: one YAML node into one typed field of a program's config
 * struct: scalars (with ${VAR} expansion and the key's own check), lists,
 * maps and nested sections. Every failure is reported at the node, and the
 * field is left as it was, so the walk can go on to the next key.
 */
#include "config.h"
#include "config_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_env.h"
#include "units.h"
#include "xalloc.h"

/* --- scalars --------------------------------------------------------- */

const char *config_node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

bool config_is_null(const yaml_node_t *node)
{
	const char *v = (const char *)node->data.scalar.value;

	if (node->type != YAML_SCALAR_NODE ||
	    node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcasecmp(v, "null");
}

/*
 * Columns of a fault inside a scalar: exact for plain and quoted scalars
 * on one line, the scalar's start otherwise.
 */
static size_t config_shift(const yaml_node_t *node, size_t at)
{
	if (at == SIZE_MAX || node->start_mark.line != node->end_mark.line)
		return 0;
	switch (node->data.scalar.style) {
	case YAML_PLAIN_SCALAR_STYLE:
		return at;
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
	case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
		return at + 1;
	default:
		return 0;
	}
}

void config_error_at(struct config_ctx *ctx, yaml_node_t *node,
			    size_t at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_verror(ctx, node->start_mark, config_shift(node, at), ctx->path,
		      fmt, ap);
	va_end(ap);
}

/*
 * The scalar's text with environment references expanded, or NULL after
 * reporting why. Caller owns the result.
 */
char *config_scalar(struct config_ctx *ctx, yaml_node_t *node,
			   const char *what)
{
	char err[512];
	size_t at = SIZE_MAX;
	char *value;

	if (node->type != YAML_SCALAR_NODE) {
		config_error(ctx, node, "expected %s, found %s", what,
			     config_node_kind(node));
		return NULL;
	}
	if (config_env_expand((const char *)node->data.scalar.value, &value,
			      err, sizeof(err), &at) < 0) {
		config_error_at(ctx, node, at, "%s", err);
		return NULL;
	}
	return value;
}

/* Run the key's extra check, if any, on one value. Returns true if valid. */
static bool config_checked(struct config_ctx *ctx, const struct config_key *key,
			   yaml_node_t *node, const char *mapkey,
			   const char *value)
{
	char err[512] = "";
	size_t at = SIZE_MAX;

	if (!key->check || key->check(mapkey, value, err, sizeof(err), &at) == 0)
		return true;
	config_error_at(ctx, node, at, "%s", err);
	return false;
}

/* --- typed values ---------------------------------------------------- */

static bool config_bounded(const struct config_key *key)
{
	return key->min != 0 || key->max != 0;
}

static void config_load_string_value(struct config_ctx *ctx,
				     const struct config_key *key, void *field,
				     yaml_node_t *node)
{
	char **out = field;
	char *value = config_scalar(ctx, node, "a string");

	if (!value)
		return;
	if (!config_checked(ctx, key, node, NULL, value)) {
		free(value);
		return;
	}
	free(*out);
	*out = value;
}

static void config_load_bool(struct config_ctx *ctx, const struct config_key *key,
			     void *field, yaml_node_t *node)
{
	static const char *const yes[] = {"true", "yes", "on", NULL};
	static const char *const no[] = {"false", "no", "off", NULL};
	char *value = config_scalar(ctx, node, "true or false");

	if (!value)
		return;
	for (size_t i = 0; yes[i]; i++) {
		if (!strcasecmp(value, yes[i]))
			*(bool *)field = true;
		if (!strcasecmp(value, no[i]))
			*(bool *)field = false;
		if (!strcasecmp(value, yes[i]) || !strcasecmp(value, no[i]))
			goto out;
	}
	config_error(ctx, node, "'%s' is not a boolean (use true or false)", value);
out:
	free(value);
}

static void config_load_int(struct config_ctx *ctx, const struct config_key *key,
			    void *field, yaml_node_t *node)
{
	char *value = config_scalar(ctx, node, "an integer");
	char *end;
	long long n;

	if (!value)
		return;
	errno = 0;
	n = strtoll(value, &end, 10);
	if (!*value || *end || errno)
		config_error(ctx, node, "'%s' is not an integer", value);
	else if (config_bounded(key) && n < key->min)
		config_error(ctx, node, "%lld is below the minimum %lld", n,
			     (long long)key->min);
	else if (config_bounded(key) && n > key->max)
		config_error(ctx, node, "%lld is above the maximum %lld", n,
			     (long long)key->max);
	else
		*(int64_t *)field = n;
	free(value);
}

/* Parse a duration scalar and check it against the key's bounds. */
static bool config_duration(struct config_ctx *ctx, const struct config_key *key,
			    yaml_node_t *node, int64_t *ms)
{
	char *value = config_scalar(ctx, node, "a duration");
	char err[256], limit[32];
	bool ok = false;

	if (!value)
		return false;
	if (units_parse_duration(value, ms, err, sizeof(err)) < 0) {
		config_error(ctx, node, "%s", err);
	} else if (config_bounded(key) && *ms < key->min) {
		units_format_duration(key->min, limit, sizeof(limit));
		config_error(ctx, node, "%s is below the minimum %s", value, limit);
	} else if (config_bounded(key) && *ms > key->max) {
		units_format_duration(key->max, limit, sizeof(limit));
		config_error(ctx, node, "%s is above the maximum %s", value, limit);
	} else {
		ok = true;
	}
	free(value);
	return ok;
}

static void config_load_duration(struct config_ctx *ctx,
				 const struct config_key *key, void *field,
				 yaml_node_t *node)
{
	int64_t ms;

	if (config_duration(ctx, key, node, &ms))
		*(int64_t *)field = ms;
}

static void config_load_size(struct config_ctx *ctx, const struct config_key *key,
			     void *field, yaml_node_t *node)
{
	char *value = config_scalar(ctx, node, "a size");
	char err[256], limit[32];
	uint64_t bytes;

	if (!value)
		return;
	if (units_parse_size(value, &bytes, err, sizeof(err)) < 0) {
		config_error(ctx, node, "%s", err);
	} else if (config_bounded(key) && bytes < (uint64_t)key->min) {
		units_format_size((uint64_t)key->min, limit, sizeof(limit));
		config_error(ctx, node, "%s is below the minimum %s", value, limit);
	} else if (config_bounded(key) && bytes > (uint64_t)key->max) {
		units_format_size((uint64_t)key->max, limit, sizeof(limit));
		config_error(ctx, node, "%s is above the maximum %s", value, limit);
	} else {
		*(uint64_t *)field = bytes;
	}
	free(value);
}

static void config_load_enum(struct config_ctx *ctx, const struct config_key *key,
			     void *field, yaml_node_t *node)
{
	char *value = config_scalar(ctx, node, "a name");
	char choices[256] = "";

	if (!value)
		return;
	for (int i = 0; key->choices[i]; i++) {
		if (!strcmp(value, key->choices[i])) {
			*(int *)field = i;
			free(value);
			return;
		}
		snprintf(choices + strlen(choices), sizeof(choices) - strlen(choices),
			 "%s%s", i ? ", " : "", key->choices[i]);
	}
	config_error(ctx, node, "'%s' is not one of: %s", value, choices);
	free(value);
}

/* --- paths ------------------------------------------------------------ */

/* Append to ctx->path; returns the old length for config_path_pop(). */
size_t config_path_push(struct config_ctx *ctx, const char *fmt, ...)
{
	size_t len = strlen(ctx->path);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->path + len, sizeof(ctx->path) - len, fmt, ap);
	va_end(ap);
	return len;
}

void config_path_pop(struct config_ctx *ctx, size_t len)
{
	ctx->path[len] = '\0';
}

/* --- lists and maps --------------------------------------------------- */

/*
 * Call fn for every item of a list node (a lone scalar counts as a list of
 * one), with ctx->path naming the item.
 */
static void config_each_item(struct config_ctx *ctx, yaml_node_t *node,
			     void (*fn)(struct config_ctx *, yaml_node_t *, void *),
			     void *arg)
{
	yaml_node_item_t *item;
	size_t i = 0;

	if (node->type == YAML_SCALAR_NODE) {
		fn(ctx, node, arg);
		return;
	}
	if (node->type != YAML_SEQUENCE_NODE) {
		config_error(ctx, node, "expected a list, found %s",
			     config_node_kind(node));
		return;
	}
	for (item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++, i++) {
		size_t len = config_path_push(ctx, "[%zu]", i);

		fn(ctx, yaml_document_get_node(ctx->doc, *item), arg);
		config_path_pop(ctx, len);
	}
}

struct config_item_arg {
	const struct config_key *key;
	void *field;
};

static void config_string_item(struct config_ctx *ctx, yaml_node_t *node,
			       void *arg)
{
	struct config_item_arg *a = arg;
	struct config_strings *list = a->field;
	char *value = config_scalar(ctx, node, "a string");

	if (!value)
		return;
	if (!config_checked(ctx, a->key, node, NULL, value)) {
		free(value);
		return;
	}
	list->items = xreallocarray(list->items, list->n + 1, sizeof(char *));
	list->items[list->n++] = value;
}

void config_strings_clear(struct config_strings *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->items[i]);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

static void config_load_strings(struct config_ctx *ctx,
				const struct config_key *key, void *field,
				yaml_node_t *node)
{
	struct config_item_arg arg = {key, field};

	config_strings_clear(field);
	config_each_item(ctx, node, config_string_item, &arg);
}

static void config_duration_item(struct config_ctx *ctx, yaml_node_t *node,
				 void *arg)
{
	struct config_item_arg *a = arg;
	struct config_durations *list = a->field;
	int64_t ms;

	if (!config_duration(ctx, a->key, node, &ms))
		return;
	list->items = xreallocarray(list->items, list->n + 1, sizeof(int64_t));
	list->items[list->n++] = ms;
}

static void config_load_durations(struct config_ctx *ctx,
				  const struct config_key *key, void *field,
				  yaml_node_t *node)
{
	struct config_durations *list = field;
	struct config_item_arg arg = {key, field};

	free(list->items);
	memset(list, 0, sizeof(*list));
	config_each_item(ctx, node, config_duration_item, &arg);
}

/*
 * Call fn for each key/value pair of a mapping, with ctx->path naming the
 * entry. Keys must be scalars.
 */
static void config_each_pair(struct config_ctx *ctx, yaml_node_t *node,
			     void (*fn)(struct config_ctx *, yaml_node_t *k,
					yaml_node_t *v, void *),
			     void *arg)
{
	yaml_node_pair_t *pair;

	if (node->type != YAML_MAPPING_NODE) {
		config_error(ctx, node, "expected a mapping, found %s",
			     config_node_kind(node));
		return;
	}
	for (pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(ctx->doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(ctx->doc, pair->value);
		size_t len;

		if (k->type != YAML_SCALAR_NODE) {
			config_error(ctx, k, "a key must be a scalar, found %s",
				     config_node_kind(k));
			continue;
		}
		len = config_path_push(ctx, ".%s", (const char *)k->data.scalar.value);
		fn(ctx, k, v, arg);
		config_path_pop(ctx, len);
	}
}

static void config_map_entry(struct config_ctx *ctx, yaml_node_t *k,
			     yaml_node_t *v, void *arg)
{
	struct config_item_arg *a = arg;
	struct config_map *map = a->field;
	const char *name = (const char *)k->data.scalar.value;
	char *value = config_scalar(ctx, v, "a scalar value");

	if (!value)
		return;
	if (!config_checked(ctx, a->key, v, name, value)) {
		free(value);
		return;
	}
	map->items = xreallocarray(map->items, map->n + 1, sizeof(*map->items));
	map->items[map->n].key = xstrdup(name);
	map->items[map->n++].value = value;
}

void config_map_clear(struct config_map *map)
{
	for (size_t i = 0; i < map->n; i++) {
		free(map->items[i].key);
		free(map->items[i].value);
	}
	free(map->items);
	memset(map, 0, sizeof(*map));
}

static void config_load_map(struct config_ctx *ctx, const struct config_key *key,
			    void *field, yaml_node_t *node)
{
	struct config_item_arg arg = {key, field};

	config_map_clear(field);
	if (!config_is_null(node))
		config_each_pair(ctx, node, config_map_entry, &arg);
}

static void config_duration_entry(struct config_ctx *ctx, yaml_node_t *k,
				  yaml_node_t *v, void *arg)
{
	struct config_item_arg *a = arg;
	struct config_duration_map *map = a->field;
	struct config_duration_pair pair;

	if (!config_duration(ctx, a->key, k, &pair.key) ||
	    !config_duration(ctx, a->key, v, &pair.value))
		return;
	map->items = xreallocarray(map->items, map->n + 1, sizeof(pair));
	map->items[map->n++] = pair;
}

static void config_load_duration_map(struct config_ctx *ctx,
				     const struct config_key *key, void *field,
				     yaml_node_t *node)
{
	struct config_duration_map *map = field;
	struct config_item_arg arg = {key, field};

	free(map->items);
	memset(map, 0, sizeof(*map));
	if (!config_is_null(node))
		config_each_pair(ctx, node, config_duration_entry, &arg);
}

static void config_load_section(struct config_ctx *ctx,
				const struct config_key *key, void *field,
				yaml_node_t *node)
{
	config_section_load(ctx, key->section, field, node);
}

static void config_section_item(struct config_ctx *ctx, yaml_node_t *node,
				void *arg)
{
	struct config_item_arg *a = arg;
	struct config_list *list = a->field;
	size_t size = a->key->section->size;
	char *items = xreallocarray(list->items, list->n + 1, size);

	memset(items + list->n * size, 0, size);
	list->items = items;
	config_section_load(ctx, a->key->section, items + list->n++ * size, node);
}

void config_list_clear(const struct config_section *section,
			      struct config_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		config_free(section, (char *)list->items + i * section->size);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

static void config_load_sections(struct config_ctx *ctx,
				 const struct config_key *key, void *field,
				 yaml_node_t *node)
{
	struct config_item_arg arg = {key, field};

	config_list_clear(key->section, field);
	if (node->type == YAML_SCALAR_NODE) {
		config_error(ctx, node, "expected a list of mappings, found a scalar");
		return;
	}
	config_each_item(ctx, node, config_section_item, &arg);
}

/*
 * One entry of a CONFIG_SECTION_MAP: a struct whose first member takes
 * the entry's key, loaded from the entry's value. A key given twice is
 * refused as in any mapping.
 */
static void config_section_entry(struct config_ctx *ctx, yaml_node_t *k,
				 yaml_node_t *v, void *arg)
{
	struct config_item_arg *a = arg;
	struct config_list *list = a->field;
	size_t size = a->key->section->size;
	const char *name = (const char *)k->data.scalar.value;
	char *items;

	for (size_t i = 0; i < list->n; i++) {
		if (!strcmp(*(char **)((char *)list->items + i * size), name)) {
			config_error(ctx, k, "duplicate key");
			return;
		}
	}
	items = xreallocarray(list->items, list->n + 1, size);
	memset(items + list->n * size, 0, size);
	list->items = items;
	*(char **)(items + list->n * size) = xstrdup(name);
	config_section_load(ctx, a->key->section, items + list->n++ * size, v);
}

void config_section_map_clear(const struct config_section *section,
			      struct config_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(*(char **)((char *)list->items + i * section->size));
	config_list_clear(section, list);
}

static void config_load_section_map(struct config_ctx *ctx,
				    const struct config_key *key, void *field,
				    yaml_node_t *node)
{
	struct config_item_arg arg = {key, field};

	config_section_map_clear(key->section, field);
	if (!config_is_null(node))
		config_each_pair(ctx, node, config_section_entry, &arg);
}

const config_load_fn config_loaders[] = {
	[CONFIG_STRING] = config_load_string_value,
	[CONFIG_BOOL] = config_load_bool,
	[CONFIG_INT] = config_load_int,
	[CONFIG_DURATION] = config_load_duration,
	[CONFIG_SIZE] = config_load_size,
	[CONFIG_ENUM] = config_load_enum,
	[CONFIG_STRINGS] = config_load_strings,
	[CONFIG_DURATIONS] = config_load_durations,
	[CONFIG_MAP] = config_load_map,
	[CONFIG_DURATION_MAP] = config_load_duration_map,
	[CONFIG_SECTION] = config_load_section,
	[CONFIG_SECTIONS] = config_load_sections,
	[CONFIG_SECTION_MAP] = config_load_section_map,
};
