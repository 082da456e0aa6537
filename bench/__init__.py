"""Benchmarks: FlowPilot against a bare Bolt + Claude bot, both driven with signed Slack requests."""
