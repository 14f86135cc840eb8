-- Callbacks from the tenant configuration (issue 18): a connection's callback URL can be set
-- in the configuration file with a reference to its HMAC secret (an Airflow Variable, so a
-- secrets backend), instead of registered through the web service with a secret BBX made.
-- Exactly one of the two is set: secret_variable marks an endpoint the configuration owns.
ALTER TABLE callback_endpoints ALTER COLUMN secret_encrypted DROP NOT NULL;
ALTER TABLE callback_endpoints ADD COLUMN secret_variable text;
ALTER TABLE callback_endpoints ADD CONSTRAINT callback_endpoints_one_secret
    CHECK ((secret_encrypted IS NULL) <> (secret_variable IS NULL));
