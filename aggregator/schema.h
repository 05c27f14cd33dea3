/*
 * schema: the sizes of the counts table's text columns, in one place, for
 * everything that must agree with them: the config check of dimension
 * names, dimensions' cut of long values, the store's DDL (store_sql.c and
 * so config/schema.sql, which test_store compares), and the buffers of
 * every reader of counts. MariaDB sizes VARCHAR in characters; utf8mb4
 * takes up to 4 bytes a character, hence the _BYTES forms for buffers.
 * Changing a size is a schema migration, not an edit here alone.
 */
#ifndef LOGTALLY_SCHEMA_H
#define LOGTALLY_SCHEMA_H

/*
 * counts.dimension VARCHAR(32) and counts.value VARCHAR(512), in
 * characters. Plain literals: store_sql.c stringifies them into the DDL.
 */
#define SCHEMA_DIMENSION_CHARS 32
#define SCHEMA_VALUE_CHARS 512

/* The most bytes of one character in utf8mb4. */
#define SCHEMA_CHAR_BYTES 4
#define SCHEMA_DIMENSION_BYTES (SCHEMA_CHAR_BYTES * SCHEMA_DIMENSION_CHARS)
#define SCHEMA_VALUE_BYTES (SCHEMA_CHAR_BYTES * SCHEMA_VALUE_CHARS)

/* A macro's value as a string literal: "VARCHAR(" SCHEMA_STR(x) ")". */
#define SCHEMA_STR(x) SCHEMA_STR_LITERAL(x)
#define SCHEMA_STR_LITERAL(x) #x

#endif
