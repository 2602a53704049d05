"""Tests of the demo project, the JS client, docker-compose and the end-to-end paths."""
