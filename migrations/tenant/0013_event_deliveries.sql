-- The event hall's record of reactions that ran (modules/events). A "later" subscriber's reaction commits in one
-- transaction with its row here, so an event delivered twice (the relay and Asynq deliver at least once) has its
-- effect once: the second delivery finds the row and does nothing. Rows are pruned after the longest time a task
-- can still be retried (events.DeliveryRetention).
CREATE TABLE event_deliveries (
    subscriber   text NOT NULL CHECK (subscriber <> ''),
    event_id     uuid NOT NULL,
    event_type   text NOT NULL CHECK (event_type <> ''),
    delivered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber, event_id)
);
CREATE INDEX event_deliveries_delivered_at ON event_deliveries (delivered_at);
