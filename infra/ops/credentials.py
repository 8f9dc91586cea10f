"""Cloud credentials that outlive a long release.

A prod release runs for hours (docs/rollout.md times it), longer than a one-hour role session. In
GitHub Actions the deploy re-assumes its AWS role between waves from a fresh OIDC token
(`AssumeRoleWithWebIdentity`, https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html;
the token from the runner's `ACTIONS_ID_TOKEN_REQUEST_URL`,
https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect)
and puts the new keys in the environment the `pulumi` CLI inherits on its next `up`. Google's
workload identity credentials written by `google-github-actions/auth` fetch a new OIDC token by
themselves, so GCP needs nothing here.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable, MutableMapping
from typing import Any


def github_oidc_token(env: MutableMapping[str, str], audience: str = "sts.amazonaws.com") -> str:
    request = urllib.request.Request(f"{env['ACTIONS_ID_TOKEN_REQUEST_URL']}&audience={audience}",
                                     headers={"Authorization": f"bearer {env['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["value"])


class AwsRoleRefresher:
    """Re-assume `role_arn` when the session has less than `min_left_s` left (or was never taken here)."""

    def __init__(self, role_arn: str, sts: Any, *, env: MutableMapping[str, str] | None = None,
                 token: Callable[[], str] | None = None, duration_s: int = 3600, min_left_s: float = 1800,
                 clock: Callable[[], float] = time.time):
        self.role_arn, self.sts, self.duration_s, self.min_left_s = role_arn, sts, duration_s, min_left_s
        self.env = os.environ if env is None else env
        self._token = token or (lambda: github_oidc_token(self.env))
        self._clock = clock
        self.expires: float = 0.0
        self.renewals = 0

    def refresh(self) -> None:
        if self.expires - self._clock() > self.min_left_s:
            return
        answer = self.sts.assume_role_with_web_identity(
            RoleArn=self.role_arn, RoleSessionName=f"rollout-deploy-{int(self._clock())}",
            WebIdentityToken=self._token(), DurationSeconds=self.duration_s)
        creds = answer["Credentials"]
        self.env.update({"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                         "AWS_SESSION_TOKEN": creds["SessionToken"]})
        expiration = creds["Expiration"]
        self.expires = expiration.timestamp() if hasattr(expiration, "timestamp") else float(expiration)
        self.renewals += 1


def refresher_from_env(env: MutableMapping[str, str], sts: Callable[[], Any]) -> AwsRoleRefresher | None:
    """In GitHub Actions with `ROLLOUT_AWS_ROLE_ARN` set: a refresher; elsewhere None (local credentials)."""
    role = env.get("ROLLOUT_AWS_ROLE_ARN")
    if not role or not env.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
        return None
    return AwsRoleRefresher(role, sts(), env=env, duration_s=int(env.get("ROLLOUT_AWS_SESSION_SECONDS", "3600")))
