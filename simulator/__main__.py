"""``python -m simulator``: run the MijnOverheid + ebMS adapter simulator over mTLS.

Examples::

    # a test PKI and one sender, on https://127.0.0.1:8443
    python -m simulator --pki-dir demo-out/pki --generate-pki \\
        --sender 00000001001234567000:cpa-bbx-1:UPO2026,PASVERL

    # everything from a configuration file, simulating 1 March 2026
    python -m simulator --config config/simulator.yaml --pki-dir demo-out/pki --today 2026-03-01
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from simulator.config import (
    DEFAULT_LOGIUS_DIR,
    DEFAULT_MIJNOVERHEID_PARTY_ID,
    DEFAULT_SCHEMAS_DIR,
    RESULT_DIALECTS,
    ConfigError,
    SenderConfig,
    SimulatorConfig,
    parse_date,
    parse_sender_spec,
    senders_from_tenants,
)
from simulator.faults import FaultSettings

DESCRIPTION = """\
Simulated MijnOverheid Berichtenbox behind an ebMS adapter, for BBX's tests, demo and
benchmarks. Serves, over HTTPS with a required client certificate (TLS >= 1.2; the
caller's OIN is the certificate subject's serialNumber):
  /service/ebms                   EbMSMessageService SOAP API (?wsdl serves BBX's WSDL)
  /BerichtenboxValidatieService   ValidateAbonnementen (official WSDL at ?wsdl)
  /admin/...                      JSON inspection and control (faults, clock, senders)
"""

EPILOG = """\
Sender spec (--sender): OIN[:CPA_ID[:TYPE,TYPE...]], e.g.
  00000001001234567000:cpa-bbx-1:UPO2026,PASVERL
The CPA id defaults to cpa-<OIN>; the population seed to the OIN. Options given on the
command line override the configuration file. Fault rates are 0..1; all faults can be
changed at run time with PUT /admin/faults (see simulator/README.md).
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simulator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = p.add_argument_group("network and TLS")
    net.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    net.add_argument(
        "--port",
        type=int,
        default=8443,
        help="port to listen on; 0 picks a free one (default %(default)s)",
    )
    net.add_argument(
        "--pki-dir",
        type=Path,
        help="folder with ca.pem, server.pem, server-key.pem (layout of simulator.pki)",
    )
    net.add_argument(
        "--generate-pki",
        action="store_true",
        help="create missing test PKI files in --pki-dir: root, server certificate, "
        "a client certificate per sender OIN and an admin certificate",
    )
    net.add_argument(
        "--pki-only",
        action="store_true",
        help="with --generate-pki: write the PKI and exit without serving",
    )
    net.add_argument(
        "--client-oin",
        action="append",
        default=[],
        metavar="OIN",
        help="extra OIN to make a client certificate for (repeatable; with --generate-pki)",
    )
    net.add_argument("--server-cert", type=Path, help="server certificate (overrides --pki-dir)")
    net.add_argument("--server-key", type=Path, help="server private key (overrides --pki-dir)")
    net.add_argument(
        "--client-ca",
        type=Path,
        help="root that client certificates must chain to (overrides --pki-dir)",
    )

    cfg = p.add_argument_group("configuration")
    cfg.add_argument(
        "--config", type=Path, help="JSON or YAML configuration file (see simulator/config.py)"
    )
    cfg.add_argument(
        "--sender",
        action="append",
        default=[],
        metavar="SPEC",
        help="add a sender: OIN[:CPA_ID[:TYPE,TYPE...]] (repeatable)",
    )
    cfg.add_argument(
        "--tenants",
        type=Path,
        metavar="FILE",
        help="add a sender for every connection in a BBX tenant configuration file "
        "(oin, cpa_id, sender_code, message type codes), e.g. config/sample/tenants.yaml",
    )
    cfg.add_argument(
        "--intermediary-oin",
        action="append",
        default=[],
        metavar="OIN",
        help="also accept client certificates with this OIN on every sender's CPA "
        "(BBX as intermediary with one certificate; repeatable)",
    )
    cfg.add_argument(
        "--population-size",
        type=int,
        help="subscribers per sender from --sender/--tenants (default 2000)",
    )
    cfg.add_argument(
        "--logius-dir",
        type=Path,
        help=f"official Logius XSD/WSDL folder (default {DEFAULT_LOGIUS_DIR})",
    )
    cfg.add_argument(
        "--schemas-dir",
        type=Path,
        help=f"BBX's include/schemas folder (default {DEFAULT_SCHEMAS_DIR})",
    )
    cfg.add_argument(
        "--mijnoverheid-party-id",
        help=f"MijnOverheid's ebMS party id (default {DEFAULT_MIJNOVERHEID_PARTY_ID})",
    )
    cfg.add_argument("--today", help="simulated date YYYY-MM-DD (default: the real date)")
    cfg.add_argument(
        "--result-delay",
        type=float,
        help="seconds until a GLOBE-R-BV-Result can be fetched (default 1.0)",
    )
    cfg.add_argument(
        "--register-delay",
        type=float,
        help="seconds until a GLOBE-R-A answer can be fetched (default 1.0)",
    )
    cfg.add_argument(
        "--result-dialect",
        choices=RESULT_DIALECTS,
        help="how GLOBE-R-BV-Result is written: 'documented' (the official XSD, default) or "
        "'live' (as a live adapter sends it: times in Z, VerwerkingsCode 00 when processed); "
        "per sender at run time: PUT /admin/senders/{oin}/result-dialect",
    )

    flt = p.add_argument_group("fault injection (changeable at run time: PUT /admin/faults)")
    flt.add_argument(
        "--fault-technisch-probleem-rate",
        type=float,
        metavar="RATE",
        help="share of messages answered TechnischProbleem (not delivered)",
    )
    flt.add_argument(
        "--fault-http-500-rate",
        type=float,
        metavar="RATE",
        help="share of service requests answered HTTP 500, unprocessed",
    )
    flt.add_argument(
        "--fault-http-503-rate",
        type=float,
        metavar="RATE",
        help="share of service requests answered HTTP 503, unprocessed",
    )
    flt.add_argument(
        "--fault-drop-rate",
        type=float,
        metavar="RATE",
        help="share of service requests whose connection is dropped mid-request, unprocessed",
    )
    flt.add_argument(
        "--fault-drop-after-processing-rate",
        type=float,
        metavar="RATE",
        help="share of service requests processed, then dropped without an answer",
    )
    flt.add_argument(
        "--fault-duplicate-result-rate",
        type=float,
        metavar="RATE",
        help="share of results/answers delivered twice",
    )
    flt.add_argument(
        "--fault-latency",
        type=float,
        metavar="SECONDS",
        help="latency added to every service request",
    )
    flt.add_argument(
        "--fault-result-extra-delay",
        type=float,
        metavar="SECONDS",
        help="extra delay before results and answers can be fetched",
    )
    flt.add_argument(
        "--fault-seed", type=int, metavar="N", help="seed of the fault dice (default 0)"
    )

    out = p.add_argument_group("output")
    out.add_argument(
        "--ready-file",
        type=Path,
        help="write {base_url, pid, ...} as JSON here once serving (for scripts)",
    )
    out.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default %(default)s",
    )
    return p


_FAULT_OPTIONS = {
    "fault_technisch_probleem_rate": "technisch_probleem_rate",
    "fault_http_500_rate": "http_500_rate",
    "fault_http_503_rate": "http_503_rate",
    "fault_drop_rate": "drop_rate",
    "fault_drop_after_processing_rate": "drop_after_processing_rate",
    "fault_duplicate_result_rate": "duplicate_result_rate",
    "fault_latency": "latency",
    "fault_result_extra_delay": "result_extra_delay",
    "fault_seed": "seed",
}


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    config = SimulatorConfig.load(args.config) if args.config else SimulatorConfig()
    extra = senders_from_tenants(args.tenants) if args.tenants else []
    for data in extra + [parse_sender_spec(spec) for spec in args.sender]:
        if args.population_size is not None:
            data["population"] = {"size": args.population_size}
        sender = SenderConfig.from_dict(data)
        config.senders = [s for s in config.senders if s.oin != sender.oin] + [sender]
    if args.intermediary_oin:
        config.senders = [
            dataclasses.replace(s, certificate_oins=s.certificate_oins | set(args.intermediary_oin))
            for s in config.senders
        ]
    for option, attribute in (
        ("logius_dir", "logius_dir"),
        ("schemas_dir", "schemas_dir"),
        ("mijnoverheid_party_id", "mijnoverheid_party_id"),
        ("result_delay", "result_delay"),
        ("register_delay", "register_delay"),
        ("result_dialect", "result_dialect"),
    ):
        value = getattr(args, option)
        if value is not None:
            setattr(config, attribute, value)
    if args.today:
        config.today = parse_date(args.today, "--today")
    changes = {
        field: getattr(args, opt)
        for opt, field in _FAULT_OPTIONS.items()
        if getattr(args, opt) is not None
    }
    if changes:
        faults = FaultSettings.from_dict(config.faults.to_dict())
        faults.apply(changes)
        config.faults = faults
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = config_from_args(args)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2

    from simulator.pki import make_test_pki
    from simulator.server import RunningSimulator, TlsFiles

    if args.generate_pki:
        if not args.pki_dir:
            print("simulator: --generate-pki needs --pki-dir", file=sys.stderr)
            return 2
        oins = sorted(
            {s.oin for s in config.senders}
            | {o for s in config.senders for o in s.certificate_oins}
            | set(args.client_oin)
        )
        pki = make_test_pki(args.pki_dir, oins)
        print(
            f"test PKI in {pki.folder}: root ca.pem, server.pem, client certificates for "
            f"{', '.join(sorted(pki.clients))}",
            file=sys.stderr,
        )
        if args.pki_only:
            return 0
    folder = args.pki_dir
    cert = args.server_cert or (folder / "server.pem" if folder else None)
    key = args.server_key or (folder / "server-key.pem" if folder else None)
    ca = args.client_ca or (folder / "ca.pem" if folder else None)
    if not (cert and key and ca):
        print(
            "simulator: give --pki-dir (or --server-cert, --server-key and --client-ca)",
            file=sys.stderr,
        )
        return 2
    for path in (cert, key, ca):
        if not Path(path).is_file():
            print(
                f"simulator: {path} not found (use --generate-pki to make a test PKI)",
                file=sys.stderr,
            )
            return 2
    try:
        running = RunningSimulator(config, TlsFiles(cert, key, ca), host=args.host, port=args.port)
    except (OSError, ValueError) as exc:
        print(f"simulator: cannot start: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    running.start()
    info = {
        "base_url": running.base_url,
        "ebms_url": running.base_url + "/service/ebms",
        "validatie_url": running.base_url + "/BerichtenboxValidatieService",
        "admin_url": running.base_url + "/admin",
        "pid": __import__("os").getpid(),
        "senders": [s.oin for s in config.senders],
    }
    if args.ready_file:
        args.ready_file.write_text(json.dumps(info))
    logging.getLogger("simulator").info(
        "serving on %s (senders: %s)", running.base_url, ", ".join(info["senders"]) or "none yet"
    )
    stop.wait()
    running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
