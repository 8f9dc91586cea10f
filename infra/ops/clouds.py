"""The two small interfaces the ops commands talk to the clouds through.

- AWS: `AwsClients`, boto3 clients per (service, region) from the standard credential chain
  (environment, shared config, SSO, instance role). Tests run the same code against moto (`mock_aws`).
- GCP: the `GcpApi` protocol: the few read-only calls preflight and verify make. `GoogleRestApi` is the
  real implementation: plain REST calls to the public Google APIs with google-auth's application default
  credentials (`gcloud auth application-default login` or a service account), no gcloud CLI and no
  per-service client libraries. Tests use a fake with the same methods.

Endpoints used (all GET, read-only):
- Compute: `zones/{zone}/acceleratorTypes`, `zones/{zone}/machineTypes/{type}` (guestCpus),
  `projects/{p}` (project-wide quotas: GPUS_ALL_REGIONS, CPUS_ALL_REGIONS), `regions/{region}` (quotas:
  metric, limit, usage), `regions/{region}/subnetworks`, the node pools' instance group managers
  (targetSize) and their `listManagedInstances` (POST, paged: the instances actually RUNNING)
  https://cloud.google.com/compute/docs/reference/rest/v1
- GKE: `projects/{p}/locations/{l}/clusters/{c}/nodePools`
  https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools
  and `projects/{p}/locations/{l}/clusters/{c}` (endpoint and CA, for verify's live-capacity check)
- Cloud Storage: `b/{bucket}` https://cloud.google.com/storage/docs/json_api/v1/buckets/get
- Cloud KMS: `{cryptoKey name}` (primary version state)
  https://cloud.google.com/kms/docs/reference/rest/v1/projects.locations.keyRings.cryptoKeys/get
"""

from __future__ import annotations

from typing import Any, Protocol


class GcpCredentialsError(RuntimeError):
    """No usable Google credentials (application default credentials missing or unusable)."""


def page_all(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item of a boto3 listing: through its paginator when the operation pages, else one call."""
    if client.can_paginate(operation):
        return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, [])]
    return list(getattr(client, operation)(**kwargs).get(key, []))


CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
COMPUTE = "https://compute.googleapis.com/compute/v1"
CONTAINER = "https://container.googleapis.com/v1"
STORAGE = "https://storage.googleapis.com/storage/v1"
KMS = "https://cloudkms.googleapis.com/v1"


class AwsClients:
    """boto3 clients, one per (service, region), created on first use."""

    def __init__(self, session: Any = None):
        import boto3  # imported here so planning-only commands never pay for it

        self._session = session or boto3.session.Session()
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self._session.client(service, region_name=region)
        return self._clients[key]


class GcpApi(Protocol):
    """Read-only GCP calls of preflight and verify, for one project."""

    project: str

    def accelerator_types(self, zone: str) -> set[str]:
        """Accelerator type names offered in a zone (e.g. nvidia-l4)."""
        ...

    def region_quotas(self, region: str) -> dict[str, tuple[float, float]]:
        """Quota metric (e.g. NVIDIA_L4_GPUS) -> (limit, usage) in a region."""
        ...

    def project_quotas(self) -> dict[str, tuple[float, float]]:
        """Project-wide quota metric (GPUS_ALL_REGIONS, CPUS_ALL_REGIONS, ...) -> (limit, usage)."""
        ...

    def machine_type_cpus(self, zone: str, machine_type: str) -> int | None:
        """vCPUs of a machine type in a zone; None if the zone does not offer it."""
        ...

    def bucket_exists(self, bucket: str) -> bool: ...

    def crypto_key_state(self, name: str) -> str | None:
        """State of a Cloud KMS key's primary version (ENABLED, DISABLED, ...); None if no such key."""
        ...

    def subnetworks(self, region: str) -> list[dict[str, Any]]:
        """Subnetworks of the project in a region, as the Compute API returns them
        (name, ipCidrRange, secondaryIpRanges[{rangeName, ipCidrRange}])."""
        ...

    def node_pools(self, location: str, cluster: str) -> list[dict[str, Any]] | None:
        """A GKE cluster's node pools as the GKE API returns them, each with an added `nodeCount` (the
        sum of its instance groups' target sizes: what the autoscaler asked for) and `runningCount`
        (managed instances RUNNING with no pending action: what actually runs); None if no such cluster."""
        ...


    def cluster(self, location: str, name: str) -> dict[str, Any] | None:
        """A GKE cluster as the GKE API returns it (endpoint, masterAuth.clusterCaCertificate); None if
        no such cluster."""
        ...

    def access_token(self) -> str:
        """An OAuth access token of the same credentials (a GKE API server accepts it as a bearer token)."""
        ...


class GoogleRestApi:
    """`GcpApi` over REST with application default credentials (google-auth's AuthorizedSession)."""

    def __init__(self, project: str, session: Any = None):
        self.project = project
        if session is None:
            try:
                import google.auth
                from google.auth.transport.requests import AuthorizedSession

                credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
                session = AuthorizedSession(credentials)
            except Exception as error:  # DefaultCredentialsError, or a half-configured environment
                raise GcpCredentialsError(f"no usable Google credentials: {type(error).__name__}: {error}") from error
        self._session = session

    def _get(self, url: str, params: dict[str, str] | None = None) -> dict[str, Any] | None:
        response = self._session.get(url, params=params, timeout=30)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def _items(self, url: str, key: str = "items") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._get(url, {"pageToken": token} if token else None) or {}
            out += page.get(key, [])
            token = page.get("nextPageToken")
            if not token:
                return out

    def accelerator_types(self, zone: str) -> set[str]:
        return {a["name"] for a in self._items(f"{COMPUTE}/projects/{self.project}/zones/{zone}/acceleratorTypes")}

    def region_quotas(self, region: str) -> dict[str, tuple[float, float]]:
        body = self._get(f"{COMPUTE}/projects/{self.project}/regions/{region}") or {}
        return {q["metric"]: (float(q["limit"]), float(q.get("usage", 0))) for q in body.get("quotas", [])}

    def project_quotas(self) -> dict[str, tuple[float, float]]:
        body = self._get(f"{COMPUTE}/projects/{self.project}") or {}
        return {q["metric"]: (float(q["limit"]), float(q.get("usage", 0))) for q in body.get("quotas", [])}

    def machine_type_cpus(self, zone: str, machine_type: str) -> int | None:
        body = self._get(f"{COMPUTE}/projects/{self.project}/zones/{zone}/machineTypes/{machine_type}")
        return None if body is None else int(body["guestCpus"])

    def _running(self, manager: str) -> int:
        """Managed instances RUNNING with no action pending (listManagedInstances pages like the lists)."""
        running, token = 0, None
        while True:
            response = self._session.post(f"{manager}/listManagedInstances",
                                          params={"pageToken": token} if token else None, timeout=30)
            if response.status_code == 404:
                return running
            response.raise_for_status()
            page = response.json()
            running += sum(1 for i in page.get("managedInstances", [])
                           if i.get("instanceStatus") == "RUNNING" and i.get("currentAction") == "NONE")
            token = page.get("nextPageToken")
            if not token:
                return running

    def bucket_exists(self, bucket: str) -> bool:
        return self._get(f"{STORAGE}/b/{bucket}") is not None

    def crypto_key_state(self, name: str) -> str | None:
        body = self._get(f"{KMS}/{name}")
        if body is None:
            return None
        return (body.get("primary") or {}).get("state", "NO_PRIMARY_VERSION")

    def subnetworks(self, region: str) -> list[dict[str, Any]]:
        return self._items(f"{COMPUTE}/projects/{self.project}/regions/{region}/subnetworks")

    def node_pools(self, location: str, cluster: str) -> list[dict[str, Any]] | None:
        body = self._get(f"{CONTAINER}/projects/{self.project}/locations/{location}/clusters/{cluster}/nodePools")
        if body is None:
            return None
        pools = body.get("nodePools", [])
        for pool in pools:
            # instanceGroupUrls point at instanceGroups; the managers with the same path hold targetSize.
            managers = [url.replace("/instanceGroups/", "/instanceGroupManagers/")
                        for url in pool.get("instanceGroupUrls", [])]
            pool["nodeCount"] = int(sum((self._get(m) or {}).get("targetSize", 0) for m in managers))
            pool["runningCount"] = sum(self._running(m) for m in managers)
        return pools

    def cluster(self, location: str, name: str) -> dict[str, Any] | None:
        return self._get(f"{CONTAINER}/projects/{self.project}/locations/{location}/clusters/{name}")

    def access_token(self) -> str:
        credentials = self._session.credentials
        if not credentials.valid:
            from google.auth.transport.requests import Request

            credentials.refresh(Request())
        return str(credentials.token)
