-- The claim indexes hold only the rows a claim looks for, as in the PostgreSQL schema: a
-- delivery leaves them when it finishes, so finished deliveries cost nothing to claim past
-- and a delivery created claimed never enters the due index.
DROP INDEX deliveries_due;
DROP INDEX deliveries_lease;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'Pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'Delivering';
