-- event-system schema version 6: an event's source is stored whole.
-- The API takes a source of up to 1024 bytes (trigger "source", CloudEvents
-- source); the column held 255 characters, so a longer one was refused by
-- the database and the client was answered 503 on every retry.  Both the
-- old and the new length take two length bytes in utf8mb4, so InnoDB
-- widens the column in place.
ALTER TABLE events
  MODIFY COLUMN source VARCHAR(1024) NOT NULL;
