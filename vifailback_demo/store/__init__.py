"""The corrections store: human accepts/edits of diagnoses, kept in SQLite (WAL) plus content-addressed frames.

Engine layer: imports core formats, never the UI. The UI and the CLI use
:class:`CorrectionsStore`; :mod:`vifailback_demo.store.vqa` turns accepted records into VQA pairs and
:mod:`vifailback_demo.store.export` writes them as LLaMA-Factory ShareGPT or a Hugging Face dataset;
:meth:`CorrectionsStore.clean_orphans` removes files a crash left behind (:mod:`vifailback_demo.store.maintenance`).
"""

from vifailback_demo.store.maintenance import CleanResult, OrphanFile, OrphanScan
from vifailback_demo.store.records import (
    DECISIONS,
    REVIEW_STATUSES,
    SOURCE_KINDS,
    CorrectionRecord,
    FinalVersion,
    NewCorrection,
    Source,
)
from vifailback_demo.store.store import DATA_DIR_ENV, CorrectionsStore, Page, Revision, default_data_dir

__all__ = [
    "DATA_DIR_ENV",
    "DECISIONS",
    "REVIEW_STATUSES",
    "SOURCE_KINDS",
    "CleanResult",
    "CorrectionRecord",
    "CorrectionsStore",
    "FinalVersion",
    "NewCorrection",
    "OrphanFile",
    "OrphanScan",
    "Page",
    "Revision",
    "Source",
    "default_data_dir",
]
