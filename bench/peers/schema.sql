-- The venue for PostgreSQL: 9,000 seats numbered 1..9000. A seat is held
-- when held_by (the buyer) is set, until held_until; a sweeper would free
-- seats past held_until. The partial index holds only the free seats, in
-- seat order, so "the lowest free seats" reads the front of a small index.
CREATE TABLE seats (
  id int PRIMARY KEY,
  held_by bigint,
  held_until timestamptz
);
INSERT INTO seats (id) SELECT generate_series(1, 9000);
CREATE INDEX seats_free ON seats (id) WHERE held_by IS NULL;
VACUUM ANALYZE seats;
