"""The stack's callback receiver (``simulator.callback_receiver``) as a connection's
configured status callback, for ``make demo``.

The demo applies the tenant configuration before the stack (and so the receiver's address)
exists, so the callback is registered after the stack is up, the way the configuration would
(``configure_endpoint``), trusting the demo's test root as the connection's own CA bundle
(what ``callback.ca_file`` gives in a tenant configuration).
"""

from __future__ import annotations

from pathlib import Path

from bbx.store import administration, db
from bbx.store import callbacks as store


def register_receiver(stack, url: str, connection_code: str) -> str:
    """The receiver as ``connection_code``'s configured callback; created, updated or unchanged."""
    with db.transaction(url) as conn:
        row = administration.connection_by_code(conn, connection_code)
        return store.configure_endpoint(conn, row["id"], stack.callback_url, stack.callback_secret_variable,
                                        ca_pem=(Path(stack.pki_dir) / "ca.pem").read_text(), actor="demo")
