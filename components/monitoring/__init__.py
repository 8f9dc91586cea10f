"""Monitoring: alert rules in each region's Prometheus (from the plan) and the clouds' own alarms."""

from components.monitoring.cloud_alarms import CloudAlarms, CloudAlarmsArgs

__all__ = ["CloudAlarms", "CloudAlarmsArgs"]
