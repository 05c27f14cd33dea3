-- logtally: the MariaDB schema, version 2.
--
-- logtally-aggregator creates and migrates these tables itself (the same
-- DDL is in aggregator/store_sql.c, and test_store checks that both make the
-- same tables); this file is for reading, and for creating the schema by
-- hand:  mariadb logtally < config/schema.sql
--
-- Values are stored verbatim and compared as bytes (utf8mb4_nopad_bin):
-- 'Foo', 'foo', 'a' and 'a ' are four different keys. Times are UTC.

-- The versions of this schema applied to the database.
CREATE TABLE IF NOT EXISTS logtally_schema (
	version INT UNSIGNED NOT NULL PRIMARY KEY,
	applied_at DATETIME NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- What dashboards read: hits per window, dimension and value. window_seconds
-- is the base window (5) or a rollup (60, 3600). The primary key is the only
-- key: every read (dashboards, the API, retention) names a window size and
-- a dimension and takes a range of it. (Version 1 had a second index,
-- by_time (window_seconds, window_start); version 2 dropped it.)
CREATE TABLE IF NOT EXISTS counts (
	window_seconds INT UNSIGNED NOT NULL,
	window_start DATETIME NOT NULL,
	dimension VARCHAR(32) NOT NULL,
	value VARCHAR(512) NOT NULL,
	hits BIGINT UNSIGNED NOT NULL,
	PRIMARY KEY (window_seconds, dimension, window_start, value)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin ROW_FORMAT=DYNAMIC;

-- The next Kafka offset to count, per partition (-2: none yet). Written in
-- the counts' transaction with a compare-and-set.
CREATE TABLE IF NOT EXISTS logtally_offsets (
	topic VARCHAR(249) NOT NULL,
	kafka_partition INT NOT NULL,
	next_offset BIGINT NOT NULL,
	updated_at DATETIME(3) NOT NULL,
	PRIMARY KEY (topic, kafka_partition)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- The highest log.offset counted per source (message key: any bytes), to
-- skip resends.
CREATE TABLE IF NOT EXISTS logtally_sources (
	topic VARCHAR(249) NOT NULL,
	source VARBINARY(255) NOT NULL,
	kafka_partition INT NOT NULL,
	high_offset BIGINT NOT NULL,
	updated_at DATETIME(3) NOT NULL,
	PRIMARY KEY (topic, source),
	KEY by_partition (topic, kafka_partition)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

INSERT IGNORE INTO logtally_schema (version, applied_at)
	VALUES (1, UTC_TIMESTAMP()), (2, UTC_TIMESTAMP());
