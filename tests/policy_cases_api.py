"""Violating and compliant resources for the API edge's resource rule (merged into the CASES of
tests/test_policies_rules.py); its stack rules: tests/test_policies_api_edge.py."""

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _server(args: list[str]) -> dict:
    return {"spec": {"template": {"spec": {"containers": [
        {"name": "server", "image": "vllm/vllm-openai:v0.24.0", "args": args}]}}}}


API_CASES: dict[str, tuple] = {
    "api-model-server-authenticates": (DEPLOYMENT, _server(["--model", "s3://w/m"]),
                                       _server(["--model", "s3://w/m", "--middleware", "rollout_key_auth.KeyAuth"])),
}
