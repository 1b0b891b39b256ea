-- One cycle for pgbench (-M prepared): hold the 2 best free seats for a
-- buyer, then release them; each statement is its own transaction, so 2
-- commits a cycle, each waiting for its WAL flush (synchronous_commit = on).
--
-- The hold: lock the 2 lowest-numbered free seats no other transaction has
-- locked (SKIP LOCKED: concurrent holders take the next seats instead of
-- waiting), and mark them held, in one statement; the count guard makes it
-- all or nothing when fewer than 2 are free.
\set buyer random(1, 1000000000)
WITH picked AS (
  SELECT id FROM seats WHERE held_by IS NULL ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED
), held AS (
  UPDATE seats SET held_by = :buyer, held_until = now() + interval '10 minutes'
  FROM picked WHERE seats.id = picked.id AND (SELECT count(*) FROM picked) = 2
  RETURNING seats.id
)
SELECT min(id) AS first_seat, max(id) AS last_seat FROM held \gset
-- The release: the buyer's seats back to free.
UPDATE seats SET held_by = NULL, held_until = NULL
  WHERE id IN (:first_seat, :last_seat) AND held_by = :buyer;
