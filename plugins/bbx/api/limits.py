"""Limits of BBX's web service and pages, in one place (contract limits of MijnOverheid
itself are in ``bbx.domain.limits``)."""

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # one HTTP request body (JSON, or multipart with PDFs)
MAX_POPULATION_REQUEST_BYTES = 64 * 1024 * 1024  # a population list (PUT .../population): ~5 M BSNs
POPULATION_PATH_SUFFIX = "/population"
# A send request as multipart (personal letters with PDFs) is read streamed, its PDFs encrypted
# on disk (bbx.api.streamed): 10,000 citizens x 2 PDFs of ~100 kB fit; memory stays bounded.
MAX_STREAMED_SEND_BYTES = 2 * 1024 * 1024 * 1024
SEND_PATH_SUFFIXES = ("/messages", "/messages/preview")  # a send and its dry run
MAX_BSNS_PER_CALL = 10_000  # BSNs in one send request (web service and manual page)
MAX_IDEMPOTENCY_KEY_CHARS = 100
MAX_REPORT_DAYS = 366  # longest period of one report request
MAX_ROWS_PER_PAGE = 10_000  # per-row outcomes returned by one request (use ``after_row`` to page)
DEFAULT_ROWS_PER_PAGE = 1_000
MAX_SUBMISSIONS_PER_LOG = 5_000  # submission-log entries in one response
# Send requests per API key (per connection: the tenant configuration, connections[].send_limits)
API_KEY_REQUESTS_PER_MINUTE = 120
API_KEY_CONCURRENT_REQUESTS = 8
