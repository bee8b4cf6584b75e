-- event-system schema version 4: the attempt number survives a restart,
-- and an event's time is kept as the client wrote it.

-- The time exactly as the client sent it (any number of fraction digits,
-- any offset), NULL when it sent none: a redelivered event carries the
-- client's text, not event_time reformatted.
ALTER TABLE events
  ADD COLUMN time_text TEXT NULL AFTER event_time;

-- Attempts of a delivery that ended without a final outcome (the plugin
-- asked for a retry, or timed out and will be retried): the highest
-- attempt number so far.  Redelivery after a restart continues from it
-- (and from delivery_crashes), so a plugin sees attempt N+1, not 1 again,
-- and max_attempts counts every attempt.
CREATE TABLE IF NOT EXISTS delivery_attempts (
  event_seq BIGINT UNSIGNED NOT NULL,
  plugin VARCHAR(64) NOT NULL,
  attempts INT UNSIGNED NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (event_seq, plugin)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
