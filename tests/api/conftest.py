from api_helpers import app, client, configured, keys  # noqa: F401 (fixtures)
