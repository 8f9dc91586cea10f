"""A battery of broken stack files, one defect each, across every config section and every stage.

Each case is (id, the text of a Pulumi.<stack>.yaml, a word the error must name). Used by
tests/test_bad_input.py against `infra.preview`, `infra.sizing` and `infra.policy_check`.
"""

from __future__ import annotations

import copy
import functools
import random
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel

from infra.config import MAX_TEXT, RolloutConfig
from tests.factories import raw_config

NS = "global-ai-rollout"


def base() -> dict[str, Any]:
    """A valid stack with every section present, so each case changes exactly one thing."""
    return raw_config(
        tags={"owner": "platform-team", "costCenter": "cc-1", "extra": {"team": "serving"}},
        network={"supernet": "10.0.0.0/8", "natPerZone": False, "flowLogRetentionDays": 7},
        demand=[{"geography": "us-east", "rps": 4}, {"geography": "central-europe", "rps": 3}],
        utilization={"normal": 0.7, "failoverCeiling": 0.9},
        sizing={"minReplicasPerRegion": 1, "burstReplicas": 1,
                "instanceTypes": ["g5.xlarge", "g6.xlarge", "g2-standard-4"],
                "prices": {"use1": {"g5.xlarge": 1.006}}, "quotas": {"use1": {"g5.xlarge": 20}}},
        cluster={"kubernetesVersion": "1.36",
                 "apiAccess": {"mode": "dns-endpoint", "deployerCidrs": ["203.0.113.0/24"]},
                 "adminRoleArns": ["arn:aws:iam::123456789012:role/platform-admin"]},
    )


def as_text(raw: dict[str, Any]) -> str:
    return yaml.safe_dump({"config": {"aws:region": "us-east-1", **{f"{NS}:{k}": v for k, v in raw.items()}}},
                          sort_keys=False)


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    names: str  # what the error message must mention (the field, or the offending value)


CASES: list[Case] = []


def case(id: str, names: str) -> Callable[[Callable[[dict[str, Any]], Any]], None]:
    """Register a case that edits the valid raw config (returning nothing) or returns YAML text."""

    def register(edit: Callable[[dict[str, Any]], Any]) -> None:
        raw = copy.deepcopy(base())
        out = edit(raw)
        CASES.append(Case(id, out if isinstance(out, str) else as_text(raw), names))

    return register


def text_case(id: str, names: str, text: str) -> None:
    CASES.append(Case(id, text, names))


def valid_text() -> str:
    return as_text(base())


# --- the file itself ---------------------------------------------------------------------------
text_case("yaml-syntax", "not valid YAML", valid_text().replace("rps: 4", "rps: [4"))
text_case("yaml-tab-indent", "not valid YAML",
          valid_text().replace("  global-ai-rollout:domain", "\tglobal-ai-rollout:domain"))
text_case("empty-file", "config", "")
text_case("top-level-list", "config", "- config\n- 1\n")
text_case("config-is-text", "config", "config: hello\n")
text_case("no-project-keys", "global-ai-rollout", "config:\n  aws:region: us-east-1\n")
text_case("non-text-config-key", "config key", valid_text() + "  7: seven\n")
text_case("duplicate-top-key", "environment", valid_text() + f"  {NS}:environment: prod\n")
text_case("duplicate-region-field", "name",
          valid_text().replace("  - name: use1\n", "  - name: use1\n    name: use9\n"))
text_case("duplicate-price-key", "g5.xlarge",
          valid_text().replace("      g5.xlarge: 1.006\n", "      g5.xlarge: 1.006\n      g5.xlarge: 0.5\n"))
text_case("yaml-null-byte", "not valid YAML", valid_text().replace("dev", "d\x00ev", 1))
text_case("yaml-two-documents", "not valid YAML", valid_text() + "---\nconfig: {}\n")
text_case("yaml-python-tag", "not valid YAML",
          valid_text().replace("domain: test.rollout.example.com", "domain: !!python/object:os.system x"))
text_case("yaml-nested-too-deeply", "not valid YAML", f"config:\n  {NS}:regions: " + "[" * 1000 + "]" * 1000 + "\n")
text_case("yaml-recursive-alias", "regions",
          valid_text().replace(f"  {NS}:regions:\n", f"  {NS}:regions: &r [*r]\n  {NS}:old:\n"))
text_case("empty-key-name", f"{NS}:", valid_text() + f"  {NS}:: 3\n")
text_case("tag-value-date", "team", valid_text().replace("team: serving", "team: 2026-01-01"))
text_case("secret-value", "secret", valid_text() + f"  {NS}:token:\n    secure: AAABAJx\n")


@case("json-object-text", "network")
def _(raw): raw["network"] = "{oops"


# --- top level ----------------------------------------------------------------------------------
@case("unknown-top-key", "colour")
def _(raw): raw["colour"] = "blue"
@case("environment-unknown", "environment")
def _(raw): raw["environment"] = "production"
@case("environment-number", "environment")
def _(raw): raw["environment"] = 3
@case("domain-invalid", "domain")
def _(raw): raw["domain"] = "Not A Domain"
@case("domain-too-long", "domain")
def _(raw): raw["domain"] = ("a" * 60 + ".") * 5 + "com"


# --- tags ---------------------------------------------------------------------------------------
@case("owner-uppercase", "owner")
def _(raw): raw["tags"]["owner"] = "Platform Team"
@case("owner-missing", "owner")
def _(raw): del raw["tags"]["owner"]
@case("tag-key-starts-with-digit", "2026-budget")
def _(raw): raw["tags"]["extra"]["2026-budget"] = "yes"
@case("tag-key-aws-prefix", "aws:")
def _(raw): raw["tags"]["extra"]["aws:team"] = "serving"
@case("tag-key-too-long", "63")
def _(raw): raw["tags"]["extra"]["k" * 64] = "v"
@case("tag-key-uppercase", "GCP label keys")
def _(raw): raw["tags"]["extra"]["Team"] = "serving"
@case("tag-value-uppercase", "GCP label values")
def _(raw): raw["tags"]["extra"]["team"] = "Serving"
@case("tag-value-too-long", "value of 'team'")
def _(raw): raw["tags"]["extra"]["team"] = "x" * 300
@case("tag-overrides-environment", "environment")
def _(raw): raw["tags"]["extra"]["environment"] = "prod"
@case("tag-value-number", "extra")
def _(raw): raw["tags"]["extra"]["team"] = 42
@case("too-many-tags", "extra tags")
def _(raw): raw["tags"]["extra"] = {f"k{i}": "v" for i in range(60)}


# --- regions ------------------------------------------------------------------------------------
@case("regions-empty", "regions")
def _(raw): raw["regions"] = []
@case("regions-not-a-list", "regions")
def _(raw): raw["regions"] = "use1"
@case("region-name-duplicate", "name")
def _(raw): raw["regions"][1]["name"] = "use1"
@case("region-name-bad", "name")
def _(raw): raw["regions"][0]["name"] = "US_East"
@case("region-unknown-location", "us-east-9")
def _(raw): raw["regions"][0]["location"] = "us-east-9"
@case("region-location-on-wrong-cloud", "europe-west4")
def _(raw): raw["regions"][0]["location"] = "europe-west4"
@case("region-same-location-twice", "location")
def _(raw): raw["regions"].append({"name": "use1b", "cloud": "aws", "location": "us-east-1", "zones": 3})
@case("region-cloud-unknown", "cloud")
def _(raw): raw["regions"][0]["cloud"] = "azure"
@case("region-zones-zero", "zones")
def _(raw): raw["regions"][0]["zones"] = 0
@case("region-zones-text", "zones")
def _(raw): raw["regions"][0]["zones"] = "3"
@case("region-zones-bool", "zones")
def _(raw): raw["regions"][0]["zones"] = True
@case("region-zones-float", "zones")
def _(raw): raw["regions"][0]["zones"] = 2.5
@case("region-zones-more-than-catalog", "zones")
def _(raw): raw["regions"][1]["zones"] = 5
@case("region-aws-one-zone", "zones")
def _(raw): raw["regions"][0]["zones"] = 1
@case("region-zones-without-gpus", "zones")
def _(raw): raw["regions"][1].update(location="us-west3", zones=1)
@case("region-unknown-field", "zone")
def _(raw): raw["regions"][0]["zone"] = 3
@case("region-cidr-invalid", "cidr")
def _(raw): raw["regions"][0]["cidr"] = "10.0.0.0/33"
@case("region-cidr-public", "cidr")
def _(raw): raw["regions"][0]["cidr"] = "8.8.0.0/16"
@case("region-cidr-host-bits", "cidr")
def _(raw): raw["regions"][0]["cidr"] = "10.1.2.3/16"
@case("region-cidr-too-small", "cidr")
def _(raw): raw["regions"][0]["cidr"] = "10.1.0.0/24"
@case("region-cidrs-overlap", "overlapping")
def _(raw):
    raw["regions"][0]["cidr"] = "10.100.0.0/15"
    raw["regions"][1]["cidr"] = "10.101.0.0/16"
@case("region-cidr-overlaps-default-slot", "overlapping")
def _(raw): raw["regions"][1]["cidr"] = "10.0.0.0/16"  # use1 is catalog slot 0: 10.0.0.0/15
@case("region-name-too-long", "name")
def _(raw): raw["regions"][1]["name"] = "europe-west4-amsterdam"


# --- network ------------------------------------------------------------------------------------
@case("supernet-public", "supernet")
def _(raw): raw["network"]["supernet"] = "11.0.0.0/8"
@case("supernet-too-small", "supernet")
def _(raw): raw["network"]["supernet"] = "10.0.0.0/24"
@case("retention-not-cloudwatch", "flowLogRetentionDays")
def _(raw): raw["network"]["flowLogRetentionDays"] = 10
@case("retention-negative", "flowLogRetentionDays")
def _(raw): raw["network"]["flowLogRetentionDays"] = -7
@case("region-prefix-out-of-range", "regionPrefixLength")
def _(raw): raw["network"]["regionPrefixLength"] = 20
@case("default-slot-outside-small-supernet", "supernet")
def _(raw):
    raw["network"].update(supernet="10.0.0.0/16", regionPrefixLength=16)


# --- model --------------------------------------------------------------------------------------
@case("model-image-latest", "image")
def _(raw): raw["model"]["image"] = "vllm/vllm-openai:latest"
@case("model-name-empty", "name")
def _(raw): raw["model"]["name"] = ""
@case("throughput-inf", "throughputRps")
def _(raw):
    return as_text(raw).replace("A10G: 1.5", "A10G: .inf")
@case("throughput-nan", "throughputRps")
def _(raw):
    return as_text(raw).replace("A10G: 1.5", "A10G: .nan")
@case("throughput-negative", "throughputRps")
def _(raw): raw["model"]["throughputRps"]["A10G"] = -1.5
@case("throughput-unknown-gpu", "throughputRps")
def _(raw): raw["model"]["throughputRps"]["B200"] = 9.0
@case("throughput-empty", "throughputRps")
def _(raw): raw["model"]["throughputRps"] = {}


# --- demand -------------------------------------------------------------------------------------
@case("demand-empty", "demand")
def _(raw): raw["demand"] = []
@case("rps-inf", "rps")
def _(raw):
    return as_text(raw).replace("rps: 4", "rps: .inf")
@case("rps-negative-inf", "rps")
def _(raw):
    return as_text(raw).replace("rps: 4", "rps: -.inf")
@case("rps-nan", "rps")
def _(raw):
    return as_text(raw).replace("rps: 4", "rps: .NaN")
@case("rps-huge", "rps")
def _(raw): raw["demand"][0]["rps"] = 1e300
@case("rps-huge-int", "rps")
def _(raw): raw["demand"][0]["rps"] = 10**40
@case("rps-text", "rps")
def _(raw): raw["demand"][0]["rps"] = "4"
@case("rps-zero", "rps")
def _(raw): raw["demand"][0]["rps"] = 0
@case("rps-negative", "rps")
def _(raw): raw["demand"][0]["rps"] = -3
@case("geography-unknown", "atlantis")
def _(raw): raw["demand"][0]["geography"] = "atlantis"
@case("geography-twice", "geography")
def _(raw): raw["demand"][1]["geography"] = "us-east"
@case("latitude-out-of-range", "latitude")
def _(raw): raw["demand"][0].update(geography="somewhere", latitude=200, longitude=10)
@case("latitude-without-longitude", "longitude")
def _(raw): raw["demand"][0].update(geography="somewhere", latitude=20)


# --- latency ------------------------------------------------------------------------------------
@case("latency-missing", "latency")
def _(raw): del raw["latency"]
@case("normal-ms-inf", "normalMs")
def _(raw):
    return as_text(raw).replace("normalMs: 120", "normalMs: .inf")
@case("normal-ms-zero", "normalMs")
def _(raw): raw["latency"]["normalMs"] = 0
@case("failover-below-normal", "failoverMs")
def _(raw): raw["latency"]["failoverMs"] = 100
@case("measured-rtt-unknown-region", "measuredRttMs")
def _(raw): raw["latency"]["measuredRttMs"] = {"us-east": {"nowhere": 10}}
@case("measured-rtt-negative", "measuredRttMs")
def _(raw): raw["latency"]["measuredRttMs"] = {"us-east": {"use1": -5}}
@case("normal-budget-too-tight", "normalMs")
def _(raw): raw["latency"]["normalMs"] = 1


@case("fleet-of-billions", "throughputRps")
def _(raw):
    raw["demand"][0]["rps"] = 9e6
    raw["model"]["throughputRps"] = {"A10G": 0.01, "L4": 0.01}


# --- utilisation --------------------------------------------------------------------------------
@case("utilization-above-one", "normal")
def _(raw): raw["utilization"]["normal"] = 1.5
@case("utilization-zero", "normal")
def _(raw): raw["utilization"]["normal"] = 0
@case("utilization-tiny", "utilization.normal")
def _(raw): raw["utilization"]["normal"] = 1e-300
@case("throughput-tiny", "throughputRps")
def _(raw): raw["model"]["throughputRps"]["A10G"] = 1e-300
@case("failover-ceiling-below-normal", "failoverCeiling")
def _(raw): raw["utilization"]["failoverCeiling"] = 0.5


# --- sizing inputs ------------------------------------------------------------------------------
@case("price-negative", "prices")
def _(raw): raw["sizing"]["prices"]["use1"]["g5.xlarge"] = -1.0
@case("price-zero", "prices")
def _(raw): raw["sizing"]["prices"]["use1"]["g5.xlarge"] = 0
@case("price-inf", "prices")
def _(raw):
    return as_text(raw).replace("g5.xlarge: 1.006", "g5.xlarge: .inf")
@case("price-unknown-instance-type", "prices")
def _(raw): raw["sizing"]["prices"]["use1"]["g9.mega"] = 1.0
@case("quota-negative", "quotas")
def _(raw): raw["sizing"]["quotas"]["use1"]["g5.xlarge"] = -3
@case("quota-huge", "quotas")
def _(raw): raw["sizing"]["quotas"]["use1"]["g5.xlarge"] = 10**12
@case("quota-unknown-region", "quotas")
def _(raw): raw["sizing"]["quotas"]["nowhere"] = {"g5.xlarge": 3}
@case("quota-float", "quotas")
def _(raw): raw["sizing"]["quotas"]["use1"]["g5.xlarge"] = 2.5
@case("burst-huge", "burstReplicas")
def _(raw): raw["sizing"]["burstReplicas"] = 1_000_000
@case("burst-negative", "burstReplicas")
def _(raw): raw["sizing"]["burstReplicas"] = -1
@case("min-replicas-negative", "minReplicasPerRegion")
def _(raw): raw["sizing"]["minReplicasPerRegion"] = -1
@case("min-replicas-zero", "minReplicasPerRegion")
def _(raw): raw["sizing"]["minReplicasPerRegion"] = 0
@case("instance-types-empty", "instanceTypes")
def _(raw): raw["sizing"]["instanceTypes"] = []
@case("instance-types-unknown", "instanceTypes")
def _(raw): raw["sizing"]["instanceTypes"] = ["g5.xlarge", "nope.large"]
@case("instance-types-leave-a-region-empty", "instanceTypes")
def _(raw): raw["sizing"]["instanceTypes"] = ["g2-standard-4"]
@case("quota-below-min-replicas", "minReplicasPerRegion")
def _(raw):
    raw["sizing"]["instanceTypes"] = ["g5.xlarge", "g2-standard-4"]
    raw["sizing"]["minReplicasPerRegion"] = 3
    raw["sizing"]["quotas"]["use1"]["g5.xlarge"] = 2
@case("infeasible-quota-for-demand", "sizing.quotas")
def _(raw):
    raw["sizing"]["instanceTypes"] = ["g5.xlarge", "g2-standard-4"]
    raw["sizing"]["quotas"] = {"use1": {"g5.xlarge": 2}, "euw4": {"g2-standard-4": 2}}
    raw["demand"][0]["rps"] = 400
@case("single-region-cannot-survive-loss", "region")
def _(raw):
    raw["regions"] = raw["regions"][:1]
    raw["sizing"]["quotas"] = {}
    raw["sizing"]["prices"] = {}
@case("sizing-unknown-field", "minReplicas")
def _(raw): raw["sizing"]["minReplicas"] = 2


# --- cluster settings ---------------------------------------------------------------------------
@case("kubernetes-version-unsupported", "kubernetesVersion")
def _(raw): raw["cluster"]["kubernetesVersion"] = "1.20"
@case("kubernetes-version-float", "kubernetesVersion")
def _(raw):
    return as_text(raw).replace("kubernetesVersion: '1.36'", "kubernetesVersion: 1.36")
@case("public-api-open-to-all", "deployerCidrs")
def _(raw): raw["cluster"]["apiAccess"]["deployerCidrs"] = ["0.0.0.0/0"]
@case("public-api-wider-than-a-slash-8", "deployerCidrs")
def _(raw): raw["cluster"]["apiAccess"]["deployerCidrs"] = ["128.0.0.0/2"]
@case("public-api-cidr-invalid", "deployerCidrs")
def _(raw): raw["cluster"]["apiAccess"]["deployerCidrs"] = ["not-a-cidr"]
@case("api-access-missing", "apiAccess")
def _(raw): del raw["cluster"]["apiAccess"]
@case("api-access-mode-unknown", "mode")
def _(raw): raw["cluster"]["apiAccess"]["mode"] = "public"
@case("private-runner-outside-supernet", "runnerCidrs")
def _(raw): raw["cluster"]["apiAccess"] = {"mode": "private", "runnerCidrs": ["192.168.0.0/24"]}
@case("admin-role-not-a-role", "adminRoleArns")
def _(raw): raw["cluster"]["adminRoleArns"] = ["arn:aws:iam::123456789012:user/bob"]


# --- progressive rollout ------------------------------------------------------------------------
@case("rollout-canary-unknown", "canary")
def _(raw): raw["rollout"] = {"canary": "nowhere"}
@case("rollout-empty-wave", "groups")
def _(raw): raw["rollout"] = {"groups": [[]]}
@case("rollout-gate-probes-zero", "probes")
def _(raw): raw["rollout"] = {"gate": {"probes": 0}}
@case("rollout-gate-interval-inf", "intervalSeconds")
def _(raw):
    raw["rollout"] = {"gate": {"intervalSeconds": 15.0}}
    return as_text(raw).replace("intervalSeconds: 15.0", "intervalSeconds: .inf")
@case("rollout-pin-unpinned-image", "image")
def _(raw): raw["rollout"] = {"pins": {"use1": {"model": "m", "image": "vllm/vllm-openai:latest"}}}
@case("rollout-pin-unknown-region", "pins")
def _(raw): raw["rollout"] = {"pins": {"nowhere": {"model": "m", "image": "vllm/vllm-openai:v0.6.3"}}}


# === generated from the schema ==================================================================
# Not a list of remembered cases: every key of the pydantic schema, walked from RolloutConfig, gets each
# defect that applies to its type and constraints (wrong type, out of range, too long, NaN/inf, a YAML 1.1
# boolean, an unknown key and the snake_case spelling of a camelCase key), and seeded triples of those
# defects in one file check that every problem is reported at once.

def full_base() -> dict[str, Any]:
    """base() with every optional section written out (the schema's defaults), so every key exists."""
    raw = base()
    raw.update(mongodb={}, traffic={"geolocations": {}}, rollout={"pins": {}, "groups": []},
               serving={"weights": {"source": "bucket", "path": "weights/m"}})
    dumped = RolloutConfig.model_validate(raw).model_dump(by_alias=True, exclude_none=True)
    dumped["regions"][0]["cidr"] = "10.0.0.0/15"
    dumped["traffic"].update(zoneName="rollout.example.com", zoneId="Z0123456789ABC")
    dumped["domain"] = "test.rollout.example.com"
    dumped["rollout"].update(canary="use1", groups=[["euw4"]],
                             pins={"use1": {"model": "m", "image": "vllm/vllm-openai:v0.6.3", "traffic": True}})
    dumped["latency"]["measuredRttMs"] = {"us-east": {"use1": 10.0}}
    dumped["demand"][0].update(latitude=40.7, longitude=-74.0)
    dumped["serving"]["weights"]["huggingFaceModel"] = "meta-llama/Llama-3.1-8B-Instruct"
    dumped["regions"].append({"name": "euc1", "cloud": "aws", "location": "eu-central-1", "zones": 3})
    dumped["mongodb"]["tieBreakerRegion"] = "euc1"
    dumped["mongodb"]["primaryRegion"] = "use1"
    dumped["residency"] = {"zones": {"us": ["use1"], "eu": ["euw4", "euc1"]},
                           "geographies": {"us-east": "us", "central-europe": "eu"}}
    dumped["monitoring"]["receiver"].update(emailFrom="alerts@example.com", smarthost="smtp.example.com:587",
                                            smtpUsername="alerts")
    # A region in the China partition, with that partition's credentials (docs/partitions.md).
    dumped["regions"].append({"name": "cnn1", "cloud": "aws", "location": "cn-north-1", "zones": 3})
    dumped["partitions"] = {"aws-cn": {"region": "cn-north-1", "profile": "china",
                                       "roleArn": "arn:aws-cn:iam::444444444444:role/rollout-deployer",
                                       "allowedAccountIds": ["444444444444"]}}
    return dumped


@dataclass(frozen=True)
class Defect:
    id: str
    path: tuple[Any, ...]  # keys and list indices into the raw config
    value: Any  # what goes there; a str starting with "__YAML:" is written as that raw YAML text
    names: str  # the field path the error must name


def _shown_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """(base annotation, constraint metadata) through Optional and Annotated."""
    meta: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *more = typing.get_args(annotation)
            meta += more
        elif origin in (typing.Union, types.UnionType):
            inner = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(inner) != 1:
                return annotation, meta
            annotation = inner[0]
        else:
            return annotation, meta


def _bounds(meta: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in meta:
        for attr in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            if getattr(m, attr, None) is not None:
                out[attr] = getattr(m, attr)
        if isinstance(m, annotated_types.Interval):
            out.update({k: v for k, v in (("ge", m.ge), ("gt", m.gt), ("le", m.le), ("lt", m.lt)) if v is not None})
    return out


def _leaf_defects(path: tuple[Any, ...], annotation: Any, meta: list[Any], value: Any) -> list[Defect]:
    name = _shown_path(path)
    key = "-".join(str(p) for p in path)
    base_type, more = _unwrap(annotation)
    bounds = _bounds(meta + more)
    origin = typing.get_origin(base_type)
    out: list[Defect] = []
    if base_type is bool:
        out += [Defect(f"gen-{key}-text", path, "maybe", name),
                Defect(f"gen-{key}-yaml11-off", path, "__YAML:off", str(path[-1])),
                Defect(f"gen-{key}-yaml11-yes", path, "__YAML:Yes", str(path[-1]))]
    elif base_type in (int, float):
        out += [Defect(f"gen-{key}-quoted", path, "12", name), Defect(f"gen-{key}-list", path, [1], name)]
        if base_type is int:
            out.append(Defect(f"gen-{key}-fraction", path, 2.5, name))
        out += [Defect(f"gen-{key}-nan", path, "__YAML:.nan", name),
                Defect(f"gen-{key}-inf", path, "__YAML:-.inf", name)]
        for bound, delta in (("ge", -1), ("gt", 0), ("le", 1), ("lt", 0)):
            if bound in bounds:
                edge = bounds[bound] + (delta if base_type is int else delta or 0)
                if bound in ("ge", "le"):
                    edge = bounds[bound] + delta * max(1, abs(bounds[bound]) * 0.5)
                bad = int(edge) if base_type is int else float(edge)
                out.append(Defect(f"gen-{key}-{bound}", path, bad, name))
    elif base_type is str:
        out += [Defect(f"gen-{key}-number", path, 12345, name),
                Defect(f"gen-{key}-mapping", path, {"a": 1}, name),
                Defect(f"gen-{key}-huge", path, "a" * (MAX_TEXT + 1), name)]
        if "max_length" in bounds:
            out.append(Defect(f"gen-{key}-max-length", path, "a" * (bounds["max_length"] + 1), name))
        if bounds.get("min_length"):
            out.append(Defect(f"gen-{key}-empty", path, "", name))
    elif origin is typing.Literal:
        out += [Defect(f"gen-{key}-literal", path, "no-such-choice", name), Defect(f"gen-{key}-number", path, 7, name)]
    elif origin is list:
        out += [Defect(f"gen-{key}-scalar", path, "x", name), Defect(f"gen-{key}-huge-list", path,
                                                                     ["x"] * 1001, name)]
    elif origin is dict:
        out += [Defect(f"gen-{key}-list", path, ["x"], name)]
    return out


@functools.cache
def schema_defects() -> tuple[Defect, ...]:
    """Every key of RolloutConfig reachable from full_base(), with the defects its type allows."""
    defects: list[Defect] = []

    def walk(model: type[BaseModel], raw: dict[str, Any], path: tuple[Any, ...]) -> None:
        prefix = "-".join(map(str, path)) or "top"
        defects.append(Defect(f"gen-{prefix}-unknown-key", (*path, "colour"), "blue",
                              _shown_path((*path, "colour"))))
        for field_name, info in model.model_fields.items():
            alias = info.alias or field_name
            here = (*path, alias)
            if alias not in raw:
                continue
            value = raw[alias]
            if field_name != alias:
                defects.append(Defect(f"gen-{'-'.join(map(str, here))}-snake-case", (*path, field_name), value,
                                      alias))
            annotation, meta = _unwrap(info.annotation)
            meta = meta + list(info.metadata)
            origin = typing.get_origin(annotation)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
                defects.append(Defect(f"gen-{'-'.join(map(str, here))}-not-mapping", here, ["x"],
                                      _shown_path(here)))
                walk(annotation, value, here)
            elif origin is list and value:
                item, item_meta = _unwrap(typing.get_args(annotation)[0])
                defects.extend(_leaf_defects(here, annotation, meta, value))
                if isinstance(item, type) and issubclass(item, BaseModel):
                    walk(item, value[0], (*here, 0))
                else:
                    defects.extend(_leaf_defects((*here, 0), item, item_meta, value[0]))
            elif origin is dict and value:
                defects.extend(_leaf_defects(here, annotation, meta, value))
                inner, inner_meta = _unwrap(typing.get_args(annotation)[1])
                first = next(iter(value))
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    walk(inner, value[first], (*here, first))
                elif typing.get_origin(inner) is dict and value[first]:
                    second = next(iter(value[first]))
                    leaf, leaf_meta = _unwrap(typing.get_args(inner)[1])
                    defects.extend(_leaf_defects((*here, first, second), leaf, leaf_meta, value[first][second]))
                else:
                    defects.extend(_leaf_defects((*here, first), inner, inner_meta, value[first]))
            else:
                defects.extend(_leaf_defects(here, annotation, meta, value))

    walk(RolloutConfig, full_base(), ())
    return tuple(defects)


def _apply(raw: dict[str, Any], defect: Defect, sentinels: dict[str, str]) -> None:
    node: Any = raw
    *steps, last = defect.path
    for step in steps:
        node = node[step]
    value = defect.value
    if isinstance(value, str) and value.startswith("__YAML:"):
        token = f"__SENTINEL_{len(sentinels)}__"
        sentinels[token] = value.removeprefix("__YAML:")
        value = token
    if len(defect.path) >= 1 and isinstance(last, str) and last not in node and defect.id.endswith("snake-case"):
        camel = defect.names
        node[last] = node.pop(camel)
        return
    node[last] = value


def render(defects: list[Defect]) -> str:
    raw = full_base()
    sentinels: dict[str, str] = {}
    for defect in defects:
        _apply(raw, defect, sentinels)
    text = as_text(raw)
    for token, yaml_text in sentinels.items():
        text = text.replace(token, yaml_text)
    return text


GENERATED: list[Case] = [Case(d.id, render([d]), d.names) for d in schema_defects()]


def _independent(a: Defect, b: Defect) -> bool:
    shorter = min(len(a.path), len(b.path))
    return a.path[:shorter] != b.path[:shorter] and a.path[:2] != b.path[:2]


def combined_cases(count: int = 40, seed: int = 26) -> list[tuple[str, str, list[str]]]:
    """Seeded triples of independent single defects in one file: (id, text, names every one must appear)."""
    rng = random.Random(seed)
    singles = [d for d in schema_defects() if "huge" not in d.id and "yaml11" not in d.id]
    out = []
    while len(out) < count:
        trio = rng.sample(singles, 3)
        if all(_independent(x, y) for i, x in enumerate(trio) for y in trio[i + 1:]):
            out.append(("+".join(d.id for d in trio), render(trio), [d.names for d in trio]))
    return out



# === the reported cases, by name (each also falls under a generated class above) ==================
@case("health-path-megabytes", "healthCheck.path")
def _(raw): raw["traffic"] = {"healthCheck": {"path": "/" + "h" * 2_000_000}}
@case("backup-schedule-impossible", "backupSchedule")
def _(raw): raw["mongodb"] = {"backupSchedule": "0 3 30 2 *"}
@case("backup-schedule-out-of-range", "backupSchedule")
def _(raw): raw["mongodb"] = {"backupSchedule": "61 25 * * *"}
@case("image-with-space", "model.image")
def _(raw): raw["model"]["image"] = "vllm/vllm-openai :v0.6.3"
@case("image-truncated-digest", "model.image")
def _(raw): raw["model"]["image"] = "vllm/vllm-openai@sha256:0123abcd"
@case("mongodb-image-uppercase", "mongodb.image")
def _(raw): raw["mongodb"] = {"image": "Mongo:8.0.17"}
@case("snake-case-key", "natPerZone")
def _(raw): raw["network"]["nat_per_zone"] = raw["network"].pop("natPerZone")
@case("snake-case-top-key", "costCenter")
def _(raw): raw["tags"]["cost_center"] = raw["tags"].pop("costCenter")
@case("yaml11-boolean-off", "natPerZone")
def _(raw): return as_text(raw).replace("natPerZone: false", "natPerZone: off")
@case("region-cidr-outside-supernet", "regions[0].cidr")
def _(raw):
    raw["network"]["supernet"] = "10.0.0.0/9"
    raw["regions"][0]["cidr"] = "10.200.0.0/16"
@case("geolocation-conflict", "traffic.geolocations")
def _(raw): raw["traffic"] = {"geolocations": {"us-east": ["US-NY"], "central-europe": ["US-NY"]}}
text_case("alias-bomb", "aliases expand",
          "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
              f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(20))
          + valid_text())
