"""The fan-out engine (docs/architecture.md §5, §6).

- :mod:`~wsgateway.fanout.messages` — the payload on the wire (``message_id`` added, size checked);
- :mod:`~wsgateway.fanout.targets` — who receives a message, as plain data a task can carry;
- :mod:`~wsgateway.fanout.planner` — streams recipient ids in id order (keyset pagination) and
  cuts them into chunks grouped by management endpoint;
- :mod:`~wsgateway.fanout.broadcast` — planner + plan bookkeeping, as the broadcast task runs it;
- :mod:`~wsgateway.fanout.delivery` — runs one chunk with the retry policy and classifies answers;
- :mod:`~wsgateway.fanout.results` — per-broadcast summary aggregated in Redis, chunk idempotence;
- :mod:`~wsgateway.fanout.limiter` — the account-wide request budget all workers draw from;
- :mod:`~wsgateway.fanout.gone` — bulk marking of sessions API Gateway no longer holds.

Redis is reached through :mod:`wsgateway.redis_client` (one connection per process), and every
rate limit kept in Redis is the one script in :mod:`wsgateway.gcra`.

The HTTP side (keep-alive ``@connections`` client, SigV4 signer) lives in the AWS boundary,
:mod:`wsgateway.aws.management` and :mod:`wsgateway.aws.sigv4`. The public entry points are in
:mod:`wsgateway.sending`; the Celery tasks in :mod:`wsgateway.tasks.fanout`.
"""
