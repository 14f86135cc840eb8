-- Status callbacks to a receiver with a private CA (issue 18): the PEM bundle the tenant
-- configuration gives for the connection (callback.ca_file), trusted in addition to the
-- public CAs and BBX_CALLBACK_CA_FILE. NULL: public trust only. Verification is never off.
ALTER TABLE callback_endpoints ADD COLUMN ca_pem text;
