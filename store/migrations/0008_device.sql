-- Wrong user codes entered on the /device page, to slow down guessing.
CREATE TABLE device_attempts (
    user_id  text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX device_attempts_user ON device_attempts (user_id, at);
