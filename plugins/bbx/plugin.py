"""The Airflow plugin of BBX: its FastAPI app (web service + pages) in the api-server, and
links to the pages in the Airflow UI.

Airflow's plugin loader imports every ``.py`` file under ``plugins/`` as a top-level
module; ``plugins/.airflowignore`` limits that to this file (the rest of ``bbx`` is an
installed package and is imported normally).

Every Airflow process loads plugins, every task run included, so this module stays
light: the web app (FastAPI, templates, the web code) is built on the first HTTP request,
which only ever reaches the api-server.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/bbx"


class BbxWebApp:
    """ASGI app that builds BBX's FastAPI app (``bbx.api.app.create_app``) on first use."""

    def __init__(self) -> None:
        self._app = None

    @property
    def app(self):
        if self._app is None:
            from bbx.api.app import create_app

            self._app = create_app()
        return self._app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


def _view(name: str, path: str, route: str) -> dict:
    # url_route: Airflow shows the page inside its own UI (at /plugin/<route>).
    return {"name": name, "href": f"{URL_PREFIX}{path}", "url_route": route, "category": "BBX",
            "destination": "nav"}


class BbxPlugin(AirflowPlugin):
    name = "bbx"
    fastapi_apps = [{"app": BbxWebApp(), "url_prefix": URL_PREFIX, "name": "BBX web service and pages"}]
    external_views = [
        _view("Send a message", "/send", "bbx-send"),
        _view("BSN lookup", "/lookup", "bbx-lookup"),
        _view("Reports", "/reports", "bbx-reports"),
        _view("Submissions", "/submissions", "bbx-submissions"),
        _view("Audit log", "/audit", "bbx-audit"),
        {"name": "Web service API (OpenAPI)", "href": f"{URL_PREFIX}/api/v1/docs", "category": "BBX",
         "destination": "nav"},
    ]
