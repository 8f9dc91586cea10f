"""The Kubernetes API of a region's cluster, for the read-only questions verify asks of what runs:
how many servers of a Deployment are ready, and what the region's Prometheus measures.

- `ClusterApi`: the protocol (tests use a fake with the same methods).
- `KubernetesRestApi`: plain REST to the cluster's API server with a bearer token, no kubeconfig and no
  client library. Prometheus is reached through the API server's service proxy
  (`/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/...`,
  https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls),
  so nothing is port-forwarded and no address outside the cluster is opened.
- `cluster_connector`: endpoint, CA and token from the clouds the ops commands already talk to: EKS
  `DescribeCluster` and a presigned STS `GetCallerIdentity` token (the aws-iam-authenticator scheme,
  https://github.com/kubernetes-sigs/aws-iam-authenticator#api-authorization-from-outside-a-cluster);
  GKE `clusters.get` and the application default credentials' access token.

Endpoints used (GET): `apis/apps/v1/namespaces/{ns}/deployments/{name}` (status.readyReplicas,
https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/#DeploymentStatus),
Prometheus `api/v1/query` (https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries).
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable
from typing import Any, Protocol

from infra.ops.clouds import AwsClients, GcpApi
from infra.planning.cluster_plan import ClusterPlan
from infra.planning.serving_versions import PROMETHEUS

PROMETHEUS_SERVICE = f"{PROMETHEUS.name}-server"  # the chart's server Service (templates/_helpers.tpl)
PROMETHEUS_PORT = 80  # its service port (values.yaml server.service.servicePort); PROMETHEUS_URL says the same
EKS_TOKEN_PREFIX = "k8s-aws-v1."
TIMEOUT_S = 20


class PrometheusUnreachable(RuntimeError):
    """The region's Prometheus did not answer a query (proxy refused, Service missing, query error)."""


class ClusterApi(Protocol):
    """Read-only calls to one cluster."""

    def ready_replicas(self, namespace: str, deployment: str) -> int | None:
        """Ready pods of a Deployment (status.readyReplicas, 0 when absent); None if no such Deployment."""
        ...

    def prometheus_scalar(self, query: str) -> float | None:
        """The single value of an instant query to the cluster's Prometheus; None for an empty result.
        Raises PrometheusUnreachable when Prometheus does not answer."""
        ...


class KubernetesRestApi:
    """`ClusterApi` over REST to the API server (requests with the cluster's CA)."""

    def __init__(self, server: str, ca_pem: bytes | None, token: Callable[[], str], session: Any = None):
        self.server = server.rstrip("/")
        self._token = token
        if session is None:
            import requests

            session = requests.Session()
        self._session = session
        self._verify: Any = True
        if ca_pem:
            ca = tempfile.NamedTemporaryFile(prefix="cluster-ca-", suffix=".pem", delete=False)  # noqa: SIM115
            ca.write(ca_pem)
            ca.close()
            self._verify = ca.name

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._session.get(f"{self.server}{path}", params=params, timeout=TIMEOUT_S, verify=self._verify,
                                 headers={"Authorization": f"Bearer {self._token()}", "Accept": "application/json"})

    def ready_replicas(self, namespace: str, deployment: str) -> int | None:
        response = self._get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return int((response.json().get("status") or {}).get("readyReplicas") or 0)

    def prometheus_scalar(self, query: str) -> float | None:
        path = (f"/api/v1/namespaces/{PROMETHEUS.namespace}/services/{PROMETHEUS_SERVICE}:{PROMETHEUS_PORT}"
                "/proxy/api/v1/query")
        try:
            response = self._get(path, {"query": query})
        except Exception as error:  # connection refused, timeout, TLS
            raise PrometheusUnreachable(f"{type(error).__name__}: {error}") from error
        if response.status_code != 200:
            raise PrometheusUnreachable(f"HTTP {response.status_code} from {path}: {response.text[:200]}")
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusUnreachable(f"query failed: {body.get('errorType')}: {body.get('error')}")
        return prometheus_value(body["data"])


def prometheus_value(data: dict[str, Any]) -> float | None:
    """The one value of an instant query's `data` (a scalar, or a vector of at most one sample)."""
    if data.get("resultType") == "scalar":
        return float(data["result"][1])
    result = data.get("result") or []
    if not result:
        return None
    if len(result) > 1:
        raise PrometheusUnreachable(f"expected one series, got {len(result)}: aggregate the query")
    return float(result[0]["value"][1])


def eks_token(sts: Any, cluster_name: str) -> str:
    """A bearer token EKS accepts: a presigned GetCallerIdentity URL naming the cluster in the signed
    `x-k8s-aws-id` header, base64url without padding, after `k8s-aws-v1.` (valid 15 minutes)."""

    def name_cluster(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster_name

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", name_cluster, unique_id=f"eks-{cluster_name}")
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    return EKS_TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def cluster_connector(aws: AwsClients, gcp: Callable[[], GcpApi],
                      session: Any = None) -> Callable[[ClusterPlan], ClusterApi]:
    """A `ClusterApi` per planned cluster, reached with the credentials the other checks use."""

    def connect(cluster: ClusterPlan) -> ClusterApi:
        if cluster.cloud == "aws":
            info = aws.client("eks", cluster.location).describe_cluster(name=cluster.name)["cluster"]
            sts = aws.client("sts", cluster.location)
            return KubernetesRestApi(info["endpoint"], base64.b64decode(info["certificateAuthority"]["data"]),
                                     lambda: eks_token(sts, cluster.name), session)
        api = gcp()
        info = api.cluster(cluster.location, cluster.name)
        if info is None:
            raise LookupError(f"no GKE cluster {cluster.name} in {cluster.location}")
        return KubernetesRestApi(f"https://{info['endpoint']}",
                                 base64.b64decode(info["masterAuth"]["clusterCaCertificate"]), api.access_token,
                                 session)

    return connect
