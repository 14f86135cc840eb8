"""/api/v1/docs and /api/v1/redoc work without internet: every asset they reference is
served by BBX itself, and the OpenAPI file declares the API-key schemes (Authorize)."""

import re

from api_helpers import client  # noqa: F401 (fixture)
from fastapi.testclient import TestClient

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")


def _references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


def test_swagger_ui_and_redoc_reference_no_external_url_and_their_assets_load(app):
    with TestClient(app, base_url="http://testserver", root_path="/bbx") as client:  # noqa: F811
        for page, expected in (("/bbx/api/v1/docs", "swagger-ui-bundle.js"), ("/bbx/api/v1/redoc", "redoc.standalone.js")):
            response = client.get(page)
            assert response.status_code == 200, page
            html = response.text
            assert "cdn.jsdelivr" not in html and "fonts.googleapis" not in html and "tiangolo" not in html
            refs = _references(html)
            assert any(r.endswith(expected) for r in refs), refs
            external = [r for r in refs if re.match(r"^(https?:)?//", r)]
            assert external == [], f"{page} references {external}"
            for ref in refs:
                assert ref.startswith("/bbx/api/v1/"), ref
                asset = client.get(ref)
                assert asset.status_code == 200 and len(asset.content) > 0, ref
                if ref.endswith(".js"):
                    assert "javascript" in asset.headers["content-type"]
                    assert len(asset.content) > 100_000  # the real bundle, not a placeholder


def test_openapi_declares_the_api_key_schemes_and_health_is_public(client):  # noqa: F811
    schema = client.get("/api/v1/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyHeader"]["in"] == "header" and schemes["apiKeyHeader"]["name"] == "X-API-Key"
    assert schema["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert schema["paths"]["/api/v1/health"]["get"]["security"] == []
    assert "security" not in schema["paths"]["/api/v1/connections"]["get"]  # the global requirement applies
