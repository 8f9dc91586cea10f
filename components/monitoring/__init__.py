"""Monitoring: alert rules in each region's Prometheus (from the plan), the clouds' own alarms, and the
dashboards."""

from components.monitoring.cloud_alarms import CloudAlarms, CloudAlarmsArgs
from components.monitoring.dashboards import Dashboards, DashboardsArgs

__all__ = ["CloudAlarms", "CloudAlarmsArgs", "Dashboards", "DashboardsArgs"]
