-- logtally: the MariaDB schema, version 3.
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

-- What dashboards read: hits per window, dimension and value, and their
-- measures: bytes sent, and of the hits whose log line had a request time
-- (duration_count) the sum and maximum of the durations, in microseconds
-- (version 3 added these four). window_seconds is the base window (5) or
-- a rollup (60, 3600). The primary key is the only
-- key: every read (dashboards, the API, retention) names a window size and
-- a dimension and takes a range of it. (Version 1 had a second index,
-- by_time (window_seconds, window_start); version 2 dropped it.)
CREATE TABLE IF NOT EXISTS counts (
	window_seconds INT UNSIGNED NOT NULL,
	window_start DATETIME NOT NULL,
	dimension VARCHAR(32) NOT NULL,
	value VARCHAR(512) NOT NULL,
	hits BIGINT UNSIGNED NOT NULL,
	bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
	duration_count BIGINT UNSIGNED NOT NULL DEFAULT 0,
	duration_us_sum BIGINT UNSIGNED NOT NULL DEFAULT 0,
	duration_us_max BIGINT UNSIGNED NOT NULL DEFAULT 0,
	PRIMARY KEY (window_seconds, dimension, window_start, value)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin ROW_FORMAT=DYNAMIC;

-- The latency histogram of each row of counts that had durations: hits per
-- bucket (rows only for buckets with hits). The sum of a key's hits here is
-- its duration_count.
CREATE TABLE IF NOT EXISTS latency (
	window_seconds INT UNSIGNED NOT NULL,
	window_start DATETIME NOT NULL,
	dimension VARCHAR(32) NOT NULL,
	value VARCHAR(512) NOT NULL,
	bucket TINYINT UNSIGNED NOT NULL,
	hits BIGINT UNSIGNED NOT NULL,
	PRIMARY KEY (window_seconds, dimension, window_start, value, bucket)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin ROW_FORMAT=DYNAMIC;

-- The buckets, fixed: bucket b holds the durations d (microseconds) with
-- le_us(b - 1) < d <= le_us(b), from 0 for bucket 0; bucket 61 (le_us NULL,
-- le '+Inf') holds those above 100 s. The bounds are the R10 preferred
-- numbers from 100 us to 100 s (ten a decade, each at most 1.28 times the
-- one before). le is le_us in seconds, as Prometheus writes its "le" label.
CREATE TABLE IF NOT EXISTS latency_buckets (
	bucket TINYINT UNSIGNED NOT NULL PRIMARY KEY,
	le_us BIGINT UNSIGNED NULL,
	le VARCHAR(16) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

INSERT IGNORE INTO latency_buckets (bucket, le_us, le) VALUES
	(0,100,'0.0001'),
	(1,125,'0.000125'),
	(2,160,'0.00016'),
	(3,200,'0.0002'),
	(4,250,'0.00025'),
	(5,315,'0.000315'),
	(6,400,'0.0004'),
	(7,500,'0.0005'),
	(8,630,'0.00063'),
	(9,800,'0.0008'),
	(10,1000,'0.001'),
	(11,1250,'0.00125'),
	(12,1600,'0.0016'),
	(13,2000,'0.002'),
	(14,2500,'0.0025'),
	(15,3150,'0.00315'),
	(16,4000,'0.004'),
	(17,5000,'0.005'),
	(18,6300,'0.0063'),
	(19,8000,'0.008'),
	(20,10000,'0.01'),
	(21,12500,'0.0125'),
	(22,16000,'0.016'),
	(23,20000,'0.02'),
	(24,25000,'0.025'),
	(25,31500,'0.0315'),
	(26,40000,'0.04'),
	(27,50000,'0.05'),
	(28,63000,'0.063'),
	(29,80000,'0.08'),
	(30,100000,'0.1'),
	(31,125000,'0.125'),
	(32,160000,'0.16'),
	(33,200000,'0.2'),
	(34,250000,'0.25'),
	(35,315000,'0.315'),
	(36,400000,'0.4'),
	(37,500000,'0.5'),
	(38,630000,'0.63'),
	(39,800000,'0.8'),
	(40,1000000,'1'),
	(41,1250000,'1.25'),
	(42,1600000,'1.6'),
	(43,2000000,'2'),
	(44,2500000,'2.5'),
	(45,3150000,'3.15'),
	(46,4000000,'4'),
	(47,5000000,'5'),
	(48,6300000,'6.3'),
	(49,8000000,'8'),
	(50,10000000,'10'),
	(51,12500000,'12.5'),
	(52,16000000,'16'),
	(53,20000000,'20'),
	(54,25000000,'25'),
	(55,31500000,'31.5'),
	(56,40000000,'40'),
	(57,50000000,'50'),
	(58,63000000,'63'),
	(59,80000000,'80'),
	(60,100000000,'100'),
	(61,NULL,'+Inf');

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
	VALUES (1, UTC_TIMESTAMP()), (2, UTC_TIMESTAMP()), (3, UTC_TIMESTAMP());
