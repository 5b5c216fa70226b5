"""Prometheus series for the job engine, on a registry of its own (never the global one),
so several engines (tests) can live in one process."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.core.states import JobState

#: provider calls take seconds to minutes
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900)


class EngineMetrics:
    """Jobs by state, provider latency and errors, images charged."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.jobs = Gauge(
            "seedream_jobs", "Jobs in the ledger by state.", ["state"], registry=self.registry
        )
        self.provider_latency = Histogram(
            "seedream_provider_latency_seconds",
            "Provider latency: submit calls, and submit to finished task.",
            ["provider", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.provider_errors = Counter(
            "seedream_provider_errors",
            "Provider errors by provider and error class.",
            ["provider", "error"],
            registry=self.registry,
        )
        self.images_charged = Counter(
            "seedream_images_charged",
            "Images charged to member quotas (delivered).",
            ["provider"],
            registry=self.registry,
        )
        self.concurrency_limit = Gauge(
            "seedream_provider_concurrency_limit",
            "Tasks each provider may have in flight now (adaptive, up to PROVIDER_CONCURRENCY).",
            ["provider"],
            registry=self.registry,
        )
        self.concurrency_changes = Counter(
            "seedream_provider_concurrency_changes",
            "Changes of a provider's concurrency limit, by direction (up, down).",
            ["provider", "direction"],
            registry=self.registry,
        )
        self.submits = Counter(
            "seedream_provider_submits",
            "Submits by outcome (accepted, rate_limited, failed).",
            ["provider", "outcome"],
            registry=self.registry,
        )
        for state in JobState:
            self.jobs.labels(state.value).set(0)

    def set_job_counts(self, counts: Mapping[JobState, int]) -> None:
        """Refresh the jobs gauge from the ledger."""
        for state in JobState:
            self.jobs.labels(state.value).set(counts.get(state, 0))

    def provider_error(self, provider: str, error: BaseException) -> None:
        """Count one provider error."""
        self.provider_errors.labels(provider, type(error).__name__).inc()

    def observe_latency(self, provider: str, operation: str, seconds: float) -> None:
        """Record one provider latency (``operation``: ``submit`` or ``result``)."""
        self.provider_latency.labels(provider, operation).observe(max(seconds, 0.0))

    def provider_limit(self, provider: str, limit: int, direction: str | None = None) -> None:
        """A provider's concurrency limit now; ``direction`` when it just changed."""
        self.concurrency_limit.labels(provider).set(limit)
        if direction is not None:
            self.concurrency_changes.labels(provider, direction).inc()

    def submit_outcome(self, provider: str, outcome: str) -> None:
        """Count one submit's outcome."""
        self.submits.labels(provider, outcome).inc()

    def charged(self, provider: str | None, images: int) -> None:
        """Count images charged to members."""
        if images:
            self.images_charged.labels(provider or "none").inc(images)

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
