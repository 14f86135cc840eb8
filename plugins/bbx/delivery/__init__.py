"""Delivery, the imperative shell: plan a run, build and send batches, collect results,
close submissions and write the tenant's result files.

Business rules live in ``bbx.domain`` (globe, chunking, attachments, outcomes,
delivery); SQL in ``bbx.store`` (``waiting``, ``batches``, ``results``, ``result_files``,
``redelivery``); the protocol in ``bbx.hooks.berichtenbox``.
The Airflow operators in ``bbx.operators`` call :mod:`.plan`, :mod:`.send` and
:mod:`.results`; the demo and the benchmark call the same functions.
"""
