from api_helpers import app, client, client_nl, configured, keys  # noqa: F401 (fixtures)
