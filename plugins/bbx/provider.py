"""BBX as an Airflow provider: the ``berichtenbox`` connection type.

Registered through the ``apache_airflow_provider`` entry point (pyproject.toml), so the
connection form in *Admin → Connections* offers type "Berichtenbox (ebMS adapter)" with
labelled fields, and *Test* calls ``BerichtenboxHook.test_connection`` (certificates,
then a ping). Airflow 3.2+ reads the form declaratively from ``conn-fields`` and
``ui-field-behaviour`` here (the hook methods ``get_connection_form_widgets`` /
``get_ui_field_behaviour`` are deprecated there and need wtforms); the hook's
``get_ui_field_behaviour`` returns the same dictionary for older callers.
"""

from __future__ import annotations


def _text(label: str, description: str, default=None) -> dict:
    schema: dict = {"type": ["string", "null"]}
    if default is not None:
        schema["default"] = default
    return {"label": label, "schema": schema, "description": description}


CONN_FIELDS = {
    "cpa_id": _text("CPA id", "the CPA of this connection, e.g. cpa-gemeente-voorbeeld-bb"),
    "from_party_id": _text("Party id (sender)", "urn:osb:oin:<OIN of the sender>"),
    "to_party_id": _text("Party id (MijnOverheid)", "leave empty for MijnOverheid's default party id"),
    "oin": _text("OIN", "the sender's OIN; the client certificate's subject must carry it (serialNumber)"),
    "client_cert": _text("Client certificate (path)", "PEM file of the PKIoverheid client certificate"),
    "client_key": _text("Client key (path)", "PEM file of its private key"),
    "ca_cert": _text("Trust chain (path)", "PEM file with the root and intermediate certificates to trust"),
    "validatie_url": _text("ValidateAbonnementen URL", "endpoint of the Berichtenbox validation service"),
    "timeout": {"label": "Timeout (seconds)", "schema": {"type": ["integer", "null"], "default": 60}},
    "timeout_per_mb": {"label": "Extra send timeout per MB (seconds)",
                       "schema": {"type": ["number", "null"], "default": 2}},
}

UI_FIELD_BEHAVIOUR = {
    "hidden-fields": ["schema", "login", "password", "port"],
    "relabeling": {"host": "ebMS adapter base URL"},
    "placeholders": {"host": "https://adapter.example.nl:8443"},
}


def get_provider_info() -> dict:
    return {
        "package-name": "bbx",
        "name": "BBX",
        "description": "BBX — a Berichtenbox gateway: the berichtenbox connection type (ebMS adapter)",
        "versions": ["0.1.0"],
        "connection-types": [{
            "connection-type": "berichtenbox",
            "hook-class-name": "bbx.hooks.berichtenbox.BerichtenboxHook",
            "hook-name": "Berichtenbox (ebMS adapter)",
            "conn-fields": CONN_FIELDS,
            "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
        }],
    }
