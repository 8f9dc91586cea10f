"""Global traffic: the Route 53 public zone, publicly trusted certificates per regional endpoint
(created before the regions: the serving stack's listeners consume them), and the health checks and
records (created after: they point at the regions' endpoints)."""

from components.traffic.certificates import RegionalCertificates, RegionalCertificatesArgs, ServingTls
from components.traffic.records import GlobalRecords, GlobalRecordsArgs
from components.traffic.zone import PublicZone, PublicZoneArgs

__all__ = ["GlobalRecords", "GlobalRecordsArgs", "PublicZone", "PublicZoneArgs", "RegionalCertificates",
           "RegionalCertificatesArgs", "ServingTls"]
