-- event-system schema version 5: each daemon sharing a database with the
-- JetStream backend claims its queue.jetstream.node_id, so that two
-- daemons given the same number (whose keys would collide) are told.

-- One row per node_id in use.  `holder` names the daemon (host name, an
-- identity kept in its state directory, listening address; compared
-- byte for byte); it renews `renewed_at` every 10 seconds and deletes the
-- row when it stops.  Another holder takes the number over only once the
-- row is 30 seconds old (its daemon died).
CREATE TABLE IF NOT EXISTS node_claims (
  node_id SMALLINT UNSIGNED NOT NULL,
  holder VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  renewed_at DATETIME(6) NOT NULL,
  PRIMARY KEY (node_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
