-- event-system schema version 3: crashes of a plugin while it handled an
-- event, so redelivery after a restart can count them (max_crashes).

-- One row per crash: the daemon (or an isolated plugin's process) died
-- while `plugin` handled the event `event_seq`.  Inserted with INSERT
-- IGNORE: the same crash handed over twice is one row.
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
