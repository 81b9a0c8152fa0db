"""Services: long-lived objects the UI calls (no gradio here). Built once per process by :func:`build_services`.

The services layer: they own the model (lazily), the corrections store, the example and episode lists and the
VLA outbox, with their locks; UI handlers stay short and hold only plain per-session data.
"""

from __future__ import annotations

from dataclasses import dataclass

from vifailback_demo.models.backend import VLMBackend
from vifailback_demo.services.config import AppConfig, load_config
from vifailback_demo.services.corrections import CorrectionsService, Draft
from vifailback_demo.services.diagnosis import DiagnosisService, Stage
from vifailback_demo.services.episodes import EpisodesService
from vifailback_demo.services.examples import ExamplesService
from vifailback_demo.services.live import LiveService, LiveSettings
from vifailback_demo.services.outbox import OutboxService
from vifailback_demo.services.review_queue import ReviewQueue


@dataclass
class Services:
    config: AppConfig
    diagnosis: DiagnosisService
    examples: ExamplesService
    episodes: EpisodesService
    corrections: CorrectionsService
    outbox: OutboxService
    live: LiveService
    queue: ReviewQueue | None = None  # with --queue only

    def close(self) -> None:
        self.live.close()  # stops a run and holds the robot before the store goes
        if self.queue is not None:
            self.queue.close()
        self.corrections.store.close()


def build_services(config: AppConfig, *, backend: VLMBackend | None = None) -> Services:
    """All services for one app; ``backend`` injects a ready backend (tests), else it is built on first use."""
    from vifailback_demo.store import CorrectionsStore

    diagnosis = DiagnosisService(config, backend)
    store = CorrectionsStore(config.data_dir)
    queue = None
    if config.queue_dir is not None:
        queue = ReviewQueue(config.queue_dir, store, diagnosis, lease_s=config.queue_lease_s)
    return Services(
        config=config,
        diagnosis=diagnosis,
        examples=ExamplesService(config.examples_dir),
        episodes=EpisodesService(config.dataset_root),
        corrections=CorrectionsService(store),
        outbox=OutboxService(config.data_dir),
        live=LiveService(config, diagnosis, store),
        queue=queue,
    )


__all__ = [
    "AppConfig",
    "CorrectionsService",
    "DiagnosisService",
    "Draft",
    "EpisodesService",
    "ExamplesService",
    "LiveService",
    "LiveSettings",
    "OutboxService",
    "ReviewQueue",
    "Services",
    "Stage",
    "build_services",
    "load_config",
]
