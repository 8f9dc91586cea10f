"""Test doubles for the ops commands: moto for AWS (with the EC2 quotas moto lacks), a fake GCP API,
and a guard that fails any test that opens a network connection."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
}

# Default EC2 quotas the fake answers with (a small new account; tests override what they need). moto has
# no EC2 quotas and no GetAWSDefaultServiceQuota.
EC2_DEFAULT_QUOTAS = {"L-1216C47A": 5.0, "L-DB2E81BA": 0.0, "L-417A185B": 0.0, "L-0263D0A3": 5.0,
                      "L-A2478D36": 5.0}


_SESSION: list[Any] = []


def shared_session() -> Any:
    """One boto3 session for every test: clients reuse its loaded service models (the EC2 model alone
    takes about a second to parse), while moto still answers every call."""
    if not _SESSION:
        import boto3

        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


def guard_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any TCP/UDP connection fails the test (moto answers in-process, so nothing should connect)."""

    def refuse(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"test tried to reach the network: {address}")
        return original(self, address)

    original = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@contextmanager
def ec2_quotas(monkeypatch: pytest.MonkeyPatch, applied: Mapping[str, float] | None = None,
               defaults: Mapping[str, float] | None = None) -> Iterator[None]:
    """Teach moto's Service Quotas the EC2 quotas it lacks: `applied` quota codes answer
    GetServiceQuota, the others raise NoSuchResource there (as on the real API when nothing was applied)
    and answer GetAWSDefaultServiceQuota with `defaults`."""
    from moto.servicequotas.exceptions import NoSuchResource
    from moto.servicequotas.models import ServiceQuotasBackend
    from moto.servicequotas.responses import ServiceQuotasResponse

    applied = dict(applied or {})
    defaults = {**EC2_DEFAULT_QUOTAS, **(defaults or {})}
    original_get = ServiceQuotasBackend.get_service_quota

    def quota(code: str, value: float) -> dict[str, Any]:
        return {"ServiceCode": "ec2", "QuotaCode": code, "Value": value, "Unit": "None", "Adjustable": True}

    def get_service_quota(self: ServiceQuotasBackend, service_code: str, quota_code: str) -> dict[str, Any]:
        if service_code != "ec2":
            return original_get(self, service_code, quota_code)
        if quota_code in applied:
            return quota(quota_code, applied[quota_code])
        raise NoSuchResource

    def get_default(self: ServiceQuotasResponse) -> str:
        params = json.loads(self.body)
        code = params["QuotaCode"]
        if params["ServiceCode"] != "ec2" or code not in defaults:
            raise NoSuchResource
        return json.dumps({"Quota": quota(code, defaults[code])})

    monkeypatch.setattr(ServiceQuotasBackend, "get_service_quota", get_service_quota)
    monkeypatch.setattr(ServiceQuotasResponse, "get_aws_default_service_quota", get_default, raising=False)
    yield


def set_tunnel_telemetry(ec2: Any, telemetry: Mapping[str, list[dict[str, Any]]]) -> None:
    """moto returns no VgwTelemetry: add it to this client's DescribeVpnConnections answers, per VPN
    connection id, in the real API's shape (Status UP/DOWN, AcceptedRouteCount, StatusMessage)."""

    def add(parsed: dict[str, Any], **_: Any) -> None:
        for connection in parsed.get("VpnConnections", []):
            if connection["VpnConnectionId"] in telemetry:
                connection["VgwTelemetry"] = telemetry[connection["VpnConnectionId"]]

    ec2.meta.events.register("after-call.ec2.DescribeVpnConnections", add)


@dataclass
class FakeGcp:
    """`GcpApi` with state set by the test."""

    project: str = "rollout-test"
    accelerators: dict[str, set[str]] = field(default_factory=dict)  # zone -> accelerator types
    quotas: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)  # region -> metric -> limit, usage
    project_wide: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> limit, usage
    machine_cpus: dict[tuple[str, str], int] = field(default_factory=dict)  # (zone, machine type) -> vCPUs
    buckets: set[str] = field(default_factory=set)
    keys: dict[str, str] = field(default_factory=dict)
    subnets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region -> subnetworks
    pools: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (location, cluster) -> pools
    clusters: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (location, name) -> cluster
    calls: list[str] = field(default_factory=list)

    def accelerator_types(self, zone: str) -> set[str]:
        self.calls.append(f"accelerators {zone}")
        return self.accelerators.get(zone, set())

    def region_quotas(self, region: str) -> dict[str, tuple[float, float]]:
        self.calls.append(f"quotas {region}")
        return self.quotas.get(region, {})

    def project_quotas(self) -> dict[str, tuple[float, float]]:
        self.calls.append("project quotas")
        return self.project_wide

    def machine_type_cpus(self, zone: str, machine_type: str) -> int | None:
        return self.machine_cpus.get((zone, machine_type))

    def bucket_exists(self, bucket: str) -> bool:
        return bucket in self.buckets

    def crypto_key_state(self, name: str) -> str | None:
        return self.keys.get(name)

    def subnetworks(self, region: str) -> list[dict[str, Any]]:
        return self.subnets.get(region, [])

    def node_pools(self, location: str, cluster: str) -> list[dict[str, Any]] | None:
        return self.pools.get((location, cluster))

    def cluster(self, location: str, name: str) -> dict[str, Any] | None:
        return self.clusters.get((location, name))

    def access_token(self) -> str:
        return "ya29.fake-token"


@dataclass
class FakeCluster:
    """`ClusterApi` of one cluster with state set by the test: ready servers per Deployment and what its
    Prometheus answers (a value, None for an empty result, or an exception to raise)."""

    ready: dict[tuple[str, str], int] = field(default_factory=dict)  # (namespace, deployment) -> ready pods
    rps: float | Exception | None = None
    queries: list[str] = field(default_factory=list)

    def ready_replicas(self, namespace: str, deployment: str) -> int | None:
        return self.ready.get((namespace, deployment))

    def prometheus_scalar(self, query: str) -> float | None:
        self.queries.append(query)
        if isinstance(self.rps, Exception):
            raise self.rps
        return self.rps
