"""Dependency audit of the lock (``make test`` runs it; docs/development.md): pip-audit
reads requirements.txt and asks an advisory service about every pinned version; any
known vulnerability fails, unless it is accepted in ``.ci/pip-audit-ignore.txt`` (with
a reason).

The service is PyPI's JSON API by default (``BBX_AUDIT_SERVICE=osv`` for OSV). Where a
PyPI mirror answers only per project (not per version: pip-audit then skips the pin as
"not found"), the pin is audited with the project's entry, whose ``vulnerabilities`` are
those of its latest release — valid when the pin is that release. A pin that nothing
could audit, or a service that cannot be reached, fails the audit with a message that
says so: it never passes silently. ``BBX_SKIP_AUDIT=1`` leaves the audit out knowingly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = Path(os.environ.get("BBX_AUDIT_LOCK", ROOT / "requirements.txt"))  # another lock: the tests
IGNORE = Path(os.environ.get("BBX_AUDIT_IGNORE", ROOT / ".ci" / "pip-audit-ignore.txt"))
PIP_AUDIT = Path(sys.executable).parent / "pip-audit"
PROJECT_URL = "https://pypi.org/pypi/{name}/json"


def accepted(path: Path = IGNORE) -> tuple[dict[str, str], dict[str, str]]:
    """({advisory id: reason}, {"name==version": reason}) from the ignore file.

    ``ID  # reason`` accepts a vulnerability; ``unaudited NAME==VERSION  # reason`` accepts
    that a pin could not be audited. A line without a reason is an error."""
    vulns, pins = {}, {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        what, _, reason = line.partition("#")
        what = what.split()
        if not what or not reason.strip() or (what[0] == "unaudited" and len(what) != 2) or len(what) > 2:
            raise SystemExit(f"{path}:{number}: write 'ID  # reason' or 'unaudited NAME==VERSION  # reason'")
        if what[0] == "unaudited":
            pins[_normal(what[1])] = reason.strip()
        else:
            vulns[what[0]] = reason.strip()
    return vulns, pins


def _normal(pin: str) -> str:
    name, _, version = pin.partition("==")
    return f"{re.sub(r'[-_.]+', '-', name).lower()}=={version}"


_SESSIONS = threading.local()


def _session():
    import requests

    if not hasattr(_SESSIONS, "session"):
        _SESSIONS.session = requests.Session()
    return _SESSIONS.session


def _project_vulns(name: str, version: str, timeout: float = 20) -> list[dict] | None:
    """The project's advisories when ``version`` is its latest release; None: cannot tell."""
    response = _session().get(PROJECT_URL.format(name=name), timeout=timeout)
    response.raise_for_status()
    data = response.json()
    if data["info"]["version"] != version:
        return None
    return [v for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")]


def main() -> int:
    if os.environ.get("BBX_SKIP_AUDIT") == "1":
        print("dependency audit: left out (BBX_SKIP_AUDIT=1)", file=sys.stderr)
        return 0
    service = os.environ.get("BBX_AUDIT_SERVICE", "pypi")
    ignores, unaudited_ok = accepted()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        command = [str(PIP_AUDIT), "-r", str(LOCK), "--no-deps", "--disable-pip", "--progress-spinner", "off",
                   "-s", service, "-f", "json", "-o", str(out), "--timeout", "30"]
        for vuln in ignores:
            command += ["--ignore-vuln", vuln]
        run = subprocess.run(command, capture_output=True, text=True)
        report = json.loads(out.read_text()) if out.exists() and out.stat().st_size else None
    if report is None:
        reason = (run.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"dependency audit FAILED: pip-audit could not ask the advisory service ({service}): {reason}\n"
              "  The lock was NOT audited. Check the network to the service (or BBX_AUDIT_SERVICE=osv|pypi); "
              "BBX_SKIP_AUDIT=1 leaves the audit out knowingly.", file=sys.stderr)
        return 1
    problems, unaudited, audited = [], [], 0
    skipped = [dep for dep in report["dependencies"] if "skip_reason" in dep]
    for dep in skipped:
        dep["version"] = dep.get("version") or _pinned(dep["name"])
    with ThreadPoolExecutor(16) as pool:
        fallbacks = dict(zip([d["name"] for d in skipped], pool.map(_fallback, skipped), strict=True))
    for dep in report["dependencies"]:
        vulns = dep.get("vulns", [])
        if "skip_reason" in dep:
            project = fallbacks[dep["name"]]
            if project is None:
                pin = _normal(f"{dep['name']}=={dep['version']}")
                if pin not in unaudited_ok:
                    unaudited.append(f"{pin}: {dep['skip_reason']}")
                continue
            vulns = [{"id": v["id"], "aliases": v.get("aliases", []), "fix_versions": v.get("fixed_in", []),
                      "description": v.get("summary") or v.get("details") or ""} for v in project]
            vulns = [v for v in vulns if not ({v["id"], *v["aliases"]} & ignores.keys())]
        audited += 1
        for v in vulns:
            fix = ", ".join(v.get("fix_versions") or []) or "no fixed version yet"
            problems.append(f"{dep['name']} {dep.get('version')}: {v['id']} (fixed in {fix}) "
                            f"{(v.get('description') or '')[:160]}")
    if problems:
        print(f"dependency audit FAILED: {len(problems)} known vulnerabilities in requirements.txt:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        print(f"  Upgrade the pin, or accept one in {IGNORE} with a reason.", file=sys.stderr)
        return 1
    if unaudited:
        # Which pins are "not the latest release" changes whenever a project publishes one, so
        # failing on them would turn CI red with no change here: they are a loud warning, and
        # fail only with BBX_AUDIT_STRICT=1 (known vulnerabilities always fail, above).
        strict = os.environ.get("BBX_AUDIT_STRICT") == "1"
        print(f"dependency audit {'FAILED' if strict else 'WARNING'}: {len(unaudited)} pins could not be "
              f"audited ({service} had no answer for these versions, and they are not the latest release):",
              file=sys.stderr)
        for u in unaudited:
            print(f"  {u}", file=sys.stderr)
        print(f"  Upgrade the pin, audit it another way (BBX_AUDIT_SERVICE=osv), or accept it in "
              f"{IGNORE} ('unaudited NAME==VERSION  # reason').", file=sys.stderr)
        if strict:
            return 1
    print(f"dependency audit: {audited} pinned packages audited, no known vulnerabilities; "
          f"{len(ignores)} vulnerabilities and {len(unaudited_ok)} unaudited pins accepted in "
          f"{IGNORE} (service {service})")
    return 0


def _fallback(dep: dict) -> list[dict] | None:
    if not dep.get("version"):
        return None
    try:
        return _project_vulns(dep["name"], dep["version"])
    except Exception as exc:  # the service did not answer: not audited, and said so
        dep["skip_reason"] = f"{dep['skip_reason']}; project entry: {type(exc).__name__}: {exc}"
        return None


def _pinned(name: str) -> str | None:
    wanted = re.sub(r"[-_.]+", "-", name).lower()
    for line in LOCK.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9._-]+)==([^\s;#]+)", line)
        if pin and re.sub(r"[-_.]+", "-", pin.group(1)).lower() == wanted:
            return pin.group(2)
    return None


if __name__ == "__main__":
    raise SystemExit(main())
