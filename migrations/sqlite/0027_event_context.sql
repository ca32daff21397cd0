-- A CloudEvent's context (its attributes and how the payload holds the data), as JSON;
-- NULL for an event that did not arrive as a CloudEvent. Numbered after issue 27 so it
-- cannot collide with migrations written at the same time.
ALTER TABLE events ADD COLUMN context TEXT;
