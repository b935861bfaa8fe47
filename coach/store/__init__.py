"""SQLite results store: every scored call, queryable with any SQLite or BI tool.

The per-call JSON files are the contract and the source of truth; this
database is a second, indexed copy of the same documents so that a report
can cover many batches and a QA lead (or Power BI, Metabase, Excel through
ODBC) can ask questions without parsing thousands of files. Schema version 2
(kept in `PRAGMA user_version`; documented for users in docs/store.md):

    calls             one row per recording, keyed by its absolute path
                      (`call_key`), with the call's metadata as columns
    events            one row per finding (contract `events[]`)
    metrics           one row per (call, metric name) with a numeric value
    category_scores   one row per (call, category): points from `score.by_category`
    utterances        one row per transcript line (contract `transcript[]`)
    v_calls           view: one row per call, every metric a column
    v_agent_daily / v_agent_weekly / v_queue_weekly
                      views: score per agent per day / week, per queue per week

Why these choices:
- the key is the recording's absolute path, not the stem or the path as
  typed, so two recordings named alike never share a row;
- WAL journal, so a BI tool holding a read transaction never blocks a batch
  writing (in rollback mode a 75 s read stopped the batch after 60 s);
- a failed write is the caller's warning, not its end (`try_save_result`),
  and `sync` re-saves what the JSON files hold and the store lacks, so a
  deleted or stale database is rebuilt on the next run.
"""

from coach.store.db import BUSY_TIMEOUT_S, DEFAULT_DB_NAME, SCHEMA_VERSION, StoreError
from coach.store.read import StoredCall, load_entries, load_results
from coach.store.write import SyncSummary, save_result, sync, try_save_result

__all__ = [
    "BUSY_TIMEOUT_S", "DEFAULT_DB_NAME", "SCHEMA_VERSION", "StoreError", "StoredCall", "SyncSummary",
    "load_entries", "load_results", "save_result", "sync", "try_save_result",
]
