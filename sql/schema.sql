-- event-system database schema, current version (6).
--
-- For a new database (docs/operations.md, "Database"):
--   mysql -u event_system -p event_system < sql/schema.sql
--   mysql -u event_system -p event_system < sql/init_data.sql
-- An existing database is upgraded with `event-system --migrate`, which
-- applies sql/migrations/ in order; this file equals all of them applied.
-- MySQL 8.0+ and MariaDB 10.11+; utf8mb4, InnoDB.

CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT UNSIGNED NOT NULL,
  name VARCHAR(128) NOT NULL,
  applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per accepted event.  `seq` is assigned by the daemon (receive
-- time in microseconds, kept increasing), so rows arrive in key order.  With
-- the JetStream backend (several daemons, one database) the time is shifted
-- left by 10 bits and the accepting daemon's queue.jetstream.node_id fills
-- them, so keys of different daemons never collide.
-- state: accepted (deliveries outstanding), done, refused (a plugin queue
-- was full after the row was written; the client was answered 503).
CREATE TABLE IF NOT EXISTS events (
  seq BIGINT UNSIGNED NOT NULL,
  id VARCHAR(128) NOT NULL,
  name VARCHAR(255) NOT NULL,
  source VARCHAR(1024) NOT NULL,
  event_time DATETIME(6) NOT NULL,
  time_text TEXT NULL,
  received_at DATETIME(6) NOT NULL,
  payload JSON NOT NULL,
  attributes JSON NULL,
  state ENUM('accepted', 'done', 'refused') NOT NULL DEFAULT 'accepted',
  PRIMARY KEY (seq),
  KEY idx_events_id (id),
  KEY idx_events_name_received (name, received_at),
  KEY idx_events_received (received_at),
  KEY idx_events_state (state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The final outcome of each delivery of an event to a plugin.
-- latency_us: from receipt of the event to this outcome.
CREATE TABLE IF NOT EXISTS deliveries (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_seq BIGINT UNSIGNED NOT NULL,
  plugin VARCHAR(64) NOT NULL,
  status ENUM('delivered', 'dead') NOT NULL,
  attempts INT UNSIGNED NOT NULL,
  timed_out TINYINT(1) NOT NULL DEFAULT 0,
  last_error VARCHAR(512) NULL,
  finished_at DATETIME(6) NOT NULL,
  latency_us BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY idx_deliveries_event (event_seq, plugin)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Deliveries that exhausted their attempts, kept for inspection and replay
-- (POST /api/dead-letters/{id}/replay).
CREATE TABLE IF NOT EXISTS dead_letters (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_seq BIGINT UNSIGNED NOT NULL,
  plugin VARCHAR(64) NOT NULL,
  attempts INT UNSIGNED NOT NULL,
  last_error VARCHAR(512) NULL,
  created_at DATETIME(6) NOT NULL,
  replayed_at DATETIME(6) NULL,
  replay_count INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY idx_dead_letters_event (event_seq),
  KEY idx_dead_letters_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Who did what: reloads, dead-letter replays, migrations.
CREATE TABLE IF NOT EXISTS audit_log (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  at DATETIME(6) NOT NULL,
  actor VARCHAR(128) NOT NULL,
  action VARCHAR(64) NOT NULL,
  detail VARCHAR(2048) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_audit_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Event configuration: extra subscriptions added to those of the config
-- file (read at start and on every reload).
CREATE TABLE IF NOT EXISTS event_subscriptions (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  plugin VARCHAR(64) NOT NULL,
  pattern VARCHAR(255) NOT NULL,
  enabled TINYINT(1) NOT NULL DEFAULT 1,
  description VARCHAR(255) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_event_subscriptions (plugin, pattern)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Crashes of a plugin while it handled an event (the daemon, or an
-- isolated plugin's process, died): redelivery after a restart counts them
-- and dead-letters an event that crashed a plugin max_crashes times.
CREATE TABLE IF NOT EXISTS delivery_crashes (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_seq BIGINT UNSIGNED NOT NULL,
  plugin VARCHAR(64) NOT NULL,
  attempt INT UNSIGNED NOT NULL,
  signal_name VARCHAR(16) NOT NULL,
  crashed_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_delivery_crashes (event_seq, plugin, crashed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Attempts of a delivery that ended without a final outcome (retry,
-- timeout): redelivery after a restart continues from the highest.
CREATE TABLE IF NOT EXISTS delivery_attempts (
  event_seq BIGINT UNSIGNED NOT NULL,
  plugin VARCHAR(64) NOT NULL,
  attempts INT UNSIGNED NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (event_seq, plugin)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The queue.jetstream.node_id each daemon sharing the database holds
-- (JetStream backend): renewed every 10 seconds, deleted at stop, taken
-- over by another daemon only once 30 seconds old.  Two daemons given the
-- same number (their keys would collide) are told, and the second writes
-- no history until the number is free.
CREATE TABLE IF NOT EXISTS node_claims (
  node_id SMALLINT UNSIGNED NOT NULL,
  holder VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  renewed_at DATETIME(6) NOT NULL,
  PRIMARY KEY (node_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO schema_migrations (version, name) VALUES
  (1, 'initial'),
  (2, 'audit_timings_subscriptions'),
  (3, 'delivery_crashes'),
  (4, 'attempts_and_time_text'),
  (5, 'node_claims'),
  (6, 'event_source_length');
