"""Leases on the messages a worker holds: a killed worker's chunks come back in seconds.

With Redis as the broker, a message a worker has taken but not acknowledged (``acks_late``) sits
in the ``unacked`` hash, indexed by the time it was taken (``unacked_index``). Kombu puts it back
on its queue once it is older than the broker's ``visibility_timeout`` (600 s here): after a
``kill -9``, ten minutes of silence. Lowering that timeout for everyone would redeliver
long-running chunks and countdown retries (a worker also holds those unacknowledged until they
are due) while their worker is still alive.

:class:`LeaseKeeper`, a consumer bootstep in each worker's main process, runs every
``lease / 4`` seconds and

1. re-stamps every message its own worker holds (``ZADD XX`` with the current time), so a live
   worker's messages never look old;
2. puts back on their queues the messages whose stamp is older than ``lease`` (15 s by default,
   Celery setting ``wsgateway_lease_seconds``): only a dead worker (or one cut off from Redis)
   stops re-stamping. Kombu's own restore (atomic per message) does the work, so two workers
   restoring at once restore a message once.

The visibility timeout stays as the backstop for workers that do not run the step. Every worker
consuming from the broker must run it, or its long tasks run twice (duplicates, never losses).

It also notices the broker losing its data (a Redis restart without persistence): a marker key
written once per Redis dataset (the broker epoch) disappears, and an error is logged, since
queued chunks and broadcast summaries went with it. Every round then asks the delivery ledger
(:func:`wsgateway.fanout.ledger.replay`) to rebuild the summaries and re-enqueue the chunks
still pending under an epoch that is gone: within one round (``lease / 4`` s) of noticing; and
to publish again the planning tasks the broker lost (:func:`wsgateway.fanout.plan_ledger.replay_plans`).
Publishing is the tasks' business: ``AppConfig.ready()`` hands :func:`use_republisher`
:func:`wsgateway.tasks.fanout.republish_lost`, so this package never imports the tasks.

Install it in your project's Celery app module: ``wsgateway.fanout.lease.install(app)``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from celery import Celery, bootsteps

logger = logging.getLogger("wsgateway.fanout")

#: Written once per Redis dataset; its disappearance means Redis lost its data.
EPOCH_KEY = "wsgateway:broker:epoch"
#: Seconds without a re-stamp after which a held message is considered orphaned.
DEFAULT_LEASE_SECONDS = 15.0
#: Orphans restored per round (the next round takes the rest).
RESTORE_BATCH = 200
#: Seconds between two deletions of the delivery ledger's day-old broadcasts (per worker).
PRUNE_INTERVAL = 600.0

#: Publishes again what a lost broker epoch took, given the worker's broker channel (or None).
Republisher = Callable[[Any], None]

_republisher: Republisher | None = None


def use_republisher(republish: Republisher) -> None:
    """Make ``republish`` what every round runs after the leases (``AppConfig.ready()`` calls it)."""
    global _republisher
    _republisher = republish


def _held_tags(channel: Any) -> list[str]:
    delivered = getattr(getattr(channel, "qos", None), "_delivered", None)
    if not delivered:
        return []
    for _ in range(3):  # copied while a pool thread may ack (threads pool): retry on resize
        try:
            return list(delivered)
        except RuntimeError:
            continue
    return []


class LeaseKeeper(bootsteps.StartStopStep):
    """Re-stamp this worker's unacknowledged messages in Redis' ``unacked_index``."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.epoch: bytes | None = None
        self.lease = DEFAULT_LEASE_SECONDS
        self.next_prune = time.monotonic() + PRUNE_INTERVAL

    def start(self, parent: Any) -> None:
        channel = getattr(getattr(parent, "task_consumer", None), "channel", None)
        if channel is None or not hasattr(channel, "unacked_index_key"):
            return  # not the Redis transport: nothing to do
        self.lease = float(parent.app.conf.get("wsgateway_lease_seconds") or DEFAULT_LEASE_SECONDS)
        interval = max(0.25, self.lease / 4)
        self.tref = parent.timer.call_repeatedly(interval, self.round, (channel,), priority=10)
        self.round(channel)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    shutdown = stop

    def beat(self, channel: Any) -> None:
        """One round: re-stamp what this worker holds, restore what nobody re-stamped."""
        tags = _held_tags(channel)
        try:
            with channel.conn_or_acquire() as client:
                now = time.time()
                if tags:  # XX: a message acked meanwhile is not re-added
                    client.zadd(channel.unacked_index_key, dict.fromkeys(tags, now), xx=True)
                orphans = client.zrangebyscore(
                    channel.unacked_index_key, "-inf", now - self.lease, start=0, num=RESTORE_BATCH
                )
                held = {t.encode() if isinstance(t, str) else t for t in tags}
                orphans = [tag for tag in orphans if tag not in held]  # ours, just late
                for tag in orphans:
                    channel.qos.restore_by_tag(tag, client)
                if orphans:
                    logger.warning(
                        "wsgateway.fanout restored %d message(s) of a worker silent for over %.0fs",
                        len(orphans),
                        self.lease,
                    )
                self._check_epoch(client)
        except Exception as err:  # a broker outage must not stop the worker
            logger.warning("wsgateway.fanout lease round failed (%d held): %r", len(tags), err)

    def round(self, channel: Any) -> None:
        """What the timer runs: :meth:`beat`, then :meth:`replay`."""
        self.beat(channel)
        self.replay(channel)

    def replay(self, channel: Any = None) -> None:
        """Replay the delivery ledger's chunks of a lost broker epoch, and publish again the
        planning tasks that were lost (reads only, usually)."""
        from django.db import close_old_connections, connection

        from wsgateway.fanout import ledger

        try:
            if _republisher is None:
                raise RuntimeError("no republisher: is 'wsgateway' in INSTALLED_APPS?")
            _republisher(channel)
            if time.monotonic() >= self.next_prune:
                self.next_prune = time.monotonic() + PRUNE_INTERVAL
                ledger.prune()
        except Exception as err:  # Redis or the database down: the next round tries again
            logger.warning("wsgateway.fanout ledger replay failed: %r", err)
            close_old_connections()
        finally:
            connection.close()  # this thread's connection: not held between rounds

    def _check_epoch(self, client: Any) -> None:
        fresh = uuid.uuid4().hex.encode()
        client.set(EPOCH_KEY, fresh, nx=True)
        current = client.get(EPOCH_KEY)
        if self.epoch is not None and current != self.epoch:
            logger.error(
                "wsgateway.fanout broker lost its data (epoch %s -> %s): fan-out chunks queued and "
                "broadcast summaries written before now are gone; replaying them from the delivery "
                "ledger; see README 'Reliability'",
                self.epoch.decode(),
                (current or b"?").decode(),
            )
        self.epoch = current


def install(app: Celery) -> None:
    """Add :class:`LeaseKeeper` to ``app``'s workers (idempotent)."""
    app.steps["consumer"].add(LeaseKeeper)
