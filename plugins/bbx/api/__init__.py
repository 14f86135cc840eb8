"""BBX's FastAPI app, mounted in the Airflow api-server by ``bbx/plugin.py``.

- ``/api/v1/...`` — the web service for tenants' systems (OpenAPI at ``/api/v1/openapi.json``,
  docs at ``/api/v1/docs``); see ``docs/api.md``;
- ``/``, ``/send``, ``/lookup``, ``/reports``, ``/submissions/{id}`` — pages for operators and
  tenant staff (server-rendered, a little vanilla JavaScript).

Importing this package is cheap; ``bbx.api.app`` builds the app.
"""
