-- event-system schema version 2: delivery timings, the audit log, and
-- subscriptions kept in the database.

ALTER TABLE deliveries
  ADD COLUMN timed_out TINYINT(1) NOT NULL DEFAULT 0 AFTER attempts,
  ADD COLUMN latency_us BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER finished_at;

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
