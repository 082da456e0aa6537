"""The starter library: flows for what MSP engineers meet every week, shipped with FlowPilot (YAML files)."""
