"""SFTP intake: tenant drop folders → validated, logged submissions (the shell).

The rules are in ``bbx.domain.drop`` / ``drop_tables`` / ``drop_check`` (pure); this
package moves files on SFTP (through the Airflow SFTP provider's hook), logs what was
handed in, writes rows through ``bbx.store.submissions`` and puts acknowledgements and
error reports in the tenant's ``outbox/``. ``bbx.intake.steps`` holds the task bodies of
the ``bbx_ingest__<connection>`` DAGs.
"""
