"""The cluster API verify's live-capacity check reads through: the calls it makes (Deployment status,
Prometheus through the API server's service proxy), how it reads the answers, and how it connects to EKS
and GKE with the ops commands' own credentials. No network: a recording session stands in for requests."""

from __future__ import annotations

import base64
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from infra.ops.kube import (
    EKS_TOKEN_PREFIX,
    KubernetesRestApi,
    PrometheusUnreachable,
    cluster_connector,
    eks_token,
    prometheus_value,
)
from tests.ops_fakes import FakeGcp
from tests.ops_stack import ops_plan


@dataclass
class Answer:
    status_code: int
    body: Any = None
    text: str = ""

    def json(self) -> Any:
        return self.body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


@dataclass
class Session:
    answers: dict[str, Answer | Exception]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def get(self, url: str, **kw: Any) -> Answer:
        self.calls.append({"url": url, **kw})
        path = urllib.parse.urlparse(url).path
        answer = self.answers.get(path, Answer(404))
        if isinstance(answer, Exception):
            raise answer
        return answer


DEPLOYMENT = "/apis/apps/v1/namespaces/rollout-serving/deployments/vllm-g5-xlarge"
PROXY = "/api/v1/namespaces/rollout-system/services/prometheus-server:80/proxy/api/v1/query"


def api(session: Session) -> KubernetesRestApi:
    return KubernetesRestApi("https://k8s.example:443/", b"-----BEGIN CERTIFICATE-----\n", lambda: "tok", session)


def vector(*values: float) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1700000000, str(v)]} for v in values]}}


def test_ready_replicas_read_the_deployment_status_with_the_bearer_token():
    session = Session({DEPLOYMENT: Answer(200, {"status": {"replicas": 4, "readyReplicas": 3}})})
    assert api(session).ready_replicas("rollout-serving", "vllm-g5-xlarge") == 3
    call = session.calls[0]
    assert call["url"] == "https://k8s.example:443" + DEPLOYMENT
    assert call["headers"]["Authorization"] == "Bearer tok"
    assert call["verify"].endswith(".pem"), "the cluster's own CA, not the system store"


def test_a_deployment_with_no_ready_pods_has_zero_and_a_missing_one_none():
    assert api(Session({DEPLOYMENT: Answer(200, {"status": {"replicas": 2}})})).ready_replicas(
        "rollout-serving", "vllm-g5-xlarge") == 0
    assert api(Session({})).ready_replicas("rollout-serving", "vllm-g5-xlarge") is None


def test_prometheus_is_queried_through_the_service_proxy():
    session = Session({PROXY: Answer(200, vector(12.5))})
    assert api(session).prometheus_scalar("sum(rate(x[5m]))") == 12.5
    assert session.calls[0]["params"] == {"query": "sum(rate(x[5m]))"}


@pytest.mark.parametrize("answer, says", [
    (Answer(503, text="no endpoints available for service prometheus-server"), "HTTP 503"),
    (ConnectionError("connection refused"), "ConnectionError: connection refused"),
    (Answer(200, {"status": "error", "errorType": "bad_data", "error": "parse error"}), "bad_data: parse error"),
])
def test_prometheus_not_answering_is_prometheus_unreachable(answer, says):
    with pytest.raises(PrometheusUnreachable, match=says):
        api(Session({PROXY: answer})).prometheus_scalar("up")


def test_query_results_read_as_one_value():
    assert prometheus_value({"resultType": "scalar", "result": [1700000000, "4"]}) == 4.0
    assert prometheus_value(vector()["data"]) is None
    assert prometheus_value(vector(0.5)["data"]) == 0.5
    with pytest.raises(PrometheusUnreachable, match="one series"):
        prometheus_value(vector(1, 2)["data"])


def test_an_eks_token_is_a_presigned_get_caller_identity_naming_the_cluster(aws):
    token = eks_token(aws.client("sts", "us-east-1"), "use1-k8s")
    assert token.startswith(EKS_TOKEN_PREFIX) and not token.endswith("=")
    raw = token.removeprefix(EKS_TOKEN_PREFIX)
    url = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert query["Action"] == ["GetCallerIdentity"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0], "the cluster name is signed into the token"


def test_the_connector_finds_each_cluster_through_its_cloud(aws):
    plan = ops_plan()
    eks, gke = plan.clusters["use1"], plan.clusters["euw4"]
    aws.client("eks", eks.location).create_cluster(name=eks.name, roleArn="arn:aws:iam::123456789012:role/eks",
                                                   resourcesVpcConfig={"subnetIds": []})
    gcp = FakeGcp()
    gcp.clusters[(gke.location, gke.name)] = {"endpoint": "34.1.2.3", "masterAuth": {
        "clusterCaCertificate": base64.b64encode(b"CA").decode()}}
    connect = cluster_connector(aws, lambda: gcp, session=Session({}))
    assert connect(eks).server.startswith("https://")
    google = connect(gke)
    assert google.server == "https://34.1.2.3" and google._token() == "ya29.fake-token"
    with pytest.raises(LookupError, match="no GKE cluster"):
        connect(replace(gke, name="gone"))


def test_the_google_api_gives_a_gke_cluster_and_a_token_of_its_credentials():
    from infra.ops.clouds import CONTAINER, GoogleRestApi

    class Credentials:
        valid, token = True, "ya29.live"

    plan = ops_plan()
    gke = plan.clusters["euw4"]
    url = f"{CONTAINER}/projects/p/locations/{gke.location}/clusters/{gke.name}"
    session = Session({urllib.parse.urlparse(url).path: Answer(200, {"endpoint": "34.1.2.3"})})
    session.credentials = Credentials()  # type: ignore[attr-defined]
    google = GoogleRestApi("p", session=session)
    assert google.cluster(gke.location, gke.name) == {"endpoint": "34.1.2.3"}
    assert session.calls[0]["url"] == url
    assert google.cluster(gke.location, "gone") is None
    assert google.access_token() == "ya29.live"
