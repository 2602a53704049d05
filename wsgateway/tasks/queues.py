"""Queue names (docs/architecture.md §5)."""

PROVISIONING = "provisioning"
FANOUT = "fanout"
MAINTENANCE = "maintenance"

ALL = (PROVISIONING, FANOUT, MAINTENANCE)
