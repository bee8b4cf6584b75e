-- event-system schema version 1: events, their deliveries and dead letters.
-- Applied by `event-system --migrate`; never edit a released migration,
-- add the next one instead.

CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT UNSIGNED NOT NULL,
  name VARCHAR(128) NOT NULL,
  applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per accepted event.  `seq` is assigned by the daemon (receive
-- time in microseconds, kept increasing), so rows arrive in key order.
CREATE TABLE IF NOT EXISTS events (
  seq BIGINT UNSIGNED NOT NULL,
  id VARCHAR(128) NOT NULL,
  name VARCHAR(255) NOT NULL,
  source VARCHAR(255) NOT NULL,
  event_time DATETIME(6) NOT NULL,
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
CREATE TABLE IF NOT EXISTS deliveries (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  event_seq BIGINT UNSIGNED NOT NULL,
  plugin VARCHAR(64) NOT NULL,
  status ENUM('delivered', 'dead') NOT NULL,
  attempts INT UNSIGNED NOT NULL,
  last_error VARCHAR(512) NULL,
  finished_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY idx_deliveries_event (event_seq, plugin)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Deliveries that exhausted their attempts, kept for inspection and replay.
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
