"""Stack config: one validated, immutable model; every problem reported at once with its path."""

from __future__ import annotations

import pytest

from infra.config import config_from_engine, config_from_stack_file, parse_config
from infra.errors import ConfigError
from tests.factories import ROOT, raw_config, write_stack_file


def problems_of(raw) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    return caught.value.problems


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_shipped_stack_files_are_valid(stack):
    cfg = config_from_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    assert cfg.environment == stack
    assert {r.cloud for r in cfg.regions} == {"aws", "gcp"}


def test_prod_spans_three_continents_and_four_regions():
    from infra.catalog import load_catalog

    cfg = config_from_stack_file(ROOT / "Pulumi.prod.yaml")
    continents = {load_catalog().region(r.cloud, r.location).continent for r in cfg.regions}
    assert len(cfg.regions) >= 4 and len(continents) >= 3


def test_defaults_fill_in_what_the_stack_file_leaves_out():
    cfg = parse_config(raw_config())
    assert cfg.network.supernet == "10.0.0.0/8"
    assert cfg.utilization.normal == 0.7 and cfg.utilization.failover_ceiling == 0.9
    assert cfg.sizing.min_replicas_per_region == 2


def test_config_is_immutable():
    cfg = parse_config(raw_config())
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen models
        cfg.environment = "prod"  # type: ignore[misc]


def test_unknown_fields_are_rejected_with_their_path():
    raw = raw_config(tags={"owner": "a", "costCenter": "b", "colour": "red"})
    assert any(p.startswith("tags.colour: unknown field") for p in problems_of(raw))


def test_every_problem_is_listed_at_once_with_field_paths_and_choices():
    raw = raw_config(environment="qa", latency={"normalMs": 100, "failoverMs": 50})
    raw["regions"][0]["cloud"] = "azure"
    found = problems_of(raw)
    assert len(found) == 3
    assert any(p.startswith("environment:") and "'dev', 'staging' or 'prod'" in p for p in found)
    assert any(p.startswith("regions[0].cloud:") and "'azure'" in p for p in found)
    assert any(p.startswith("latency:") and "failoverMs must be >= normalMs" in p for p in found)


def test_an_unknown_region_names_it_and_lists_the_valid_ones():
    raw = raw_config()
    raw["regions"][0]["location"] = "us-east-9"
    (problem,) = problems_of(raw)
    assert "regions[0].location" in problem and "'us-east-9'" in problem
    assert "us-west-2" in problem and "eu-central-1" in problem  # the valid choices


def test_asking_for_more_zones_than_the_region_has_is_an_error():
    raw = raw_config()
    raw["regions"][1]["zones"] = 5
    (problem,) = problems_of(raw)
    assert "regions[1].zones" in problem and "europe-west4-a" in problem


def test_region_names_and_locations_are_unique():
    raw = raw_config()
    raw["regions"].append({"name": "use1", "cloud": "aws", "location": "us-east-1"})
    found = problems_of(raw)
    assert any("regions[2].name" in p for p in found) and any("regions[2].location" in p for p in found)


def test_unpinned_images_and_unknown_gpu_models_are_rejected():
    raw = raw_config(model={"name": "m", "image": "vllm/vllm-openai:latest", "throughputRps": {"A10": 1}})
    found = problems_of(raw)
    assert any("model.image" in p and "pin" in p for p in found)
    assert any("model.throughputRps" in p and "A10G" in p for p in found)


def test_demand_takes_a_built_in_geography_or_explicit_coordinates():
    ok = parse_config(raw_config(demand=[{"geography": "lagos-office", "rps": 2, "latitude": 6.5,
                                          "longitude": 3.4}, {"geography": "japan", "rps": 1}]))
    assert ok.demand[0].coordinates == (6.5, 3.4)
    assert ok.demand[1].coordinates == (35.68, 139.69)
    (problem,) = problems_of(raw_config(demand=[{"geography": "mars", "rps": 1}]))
    assert "demand[0]" in problem and "japan" in problem


def test_user_cidrs_must_be_private_region_sized_blocks():
    raw = raw_config()
    raw["regions"][0]["cidr"] = "8.8.0.0/16"
    raw["regions"][1]["cidr"] = "10.9.0.0/24"
    found = problems_of(raw)
    assert any(p.startswith("regions[0].cidr") and "private" in p for p in found)
    assert any(p.startswith("regions[1].cidr") and "/14 to /18" in p for p in found)


def test_quotas_and_prices_must_name_real_regions_and_instance_types():
    raw = raw_config(sizing={"quotas": {"nowhere": {"g5.xlarge": 2}, "use1": {"g2-standard-4": 1}}})
    found = problems_of(raw)
    assert any("sizing.quotas.nowhere" in p for p in found)
    assert any("sizing.quotas.use1.g2-standard-4" in p and "g5.xlarge" in p for p in found)


def test_the_engine_path_and_the_stack_file_path_agree(tmp_path):
    raw = raw_config()
    from_file = config_from_stack_file(write_stack_file(tmp_path / "Pulumi.t.yaml", raw))
    engine_values = {"aws:region": "us-east-1"}  # other namespaces are ignored
    import json

    engine_values |= {f"global-ai-rollout:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    assert config_from_engine(engine_values) == from_file


def test_secret_config_values_are_refused(tmp_path):
    path = tmp_path / "Pulumi.s.yaml"
    path.write_text("config:\n  global-ai-rollout:token:\n    secure: AAABAC==\n")
    with pytest.raises(ConfigError, match="secret config values are not used"):
        config_from_stack_file(path)


def test_the_receivers_secret_urls_may_sit_encrypted_in_the_stack_file(tmp_path):
    raw = raw_config()
    path = write_stack_file(tmp_path / "Pulumi.s.yaml", raw)
    path.write_text(path.read_text() + "  alerting:webhookUrl:\n    secure: AAABAC==\n")
    assert config_from_stack_file(path).monitoring.receiver.kind == "webhook"
    path.write_text(path.read_text() + "  alerting:pagerKey:\n    secure: AAABAC==\n")
    with pytest.raises(ConfigError, match="alerting:pagerKey: secret config values are not used"):
        config_from_stack_file(path)


def test_an_email_receiver_names_its_relay_sender_and_recipients():
    problems = problems_of(raw_config(monitoring={"receiver": {"kind": "email", "emailTo": ["a@example.com"]}}))
    assert any("kind email needs emailTo, emailFrom and smarthost" in p for p in problems), problems
    ok = parse_config(raw_config(monitoring={"receiver": {
        "kind": "email", "emailTo": ["a@example.com"], "emailFrom": "alerts@example.com",
        "smarthost": "smtp.example.com:587", "smtpUsername": "alerts"}}))
    assert ok.monitoring.receiver.smarthost == "smtp.example.com:587"
    problems = problems_of(raw_config(monitoring={"receiver": {"kind": "webhook", "heartbeat": False}}))
    assert any("heartbeat may be off only with kind none" in p for p in problems), problems


def test_a_missing_stack_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such stack file"):
        config_from_stack_file(tmp_path / "Pulumi.none.yaml")


def test_an_unknown_region_is_reported_alongside_other_field_errors():
    raw = raw_config(environment="qa")
    raw["regions"][0]["location"] = "us-east-9"
    found = problems_of(raw)
    assert any(p.startswith("environment:") for p in found)
    assert any(p.startswith("regions[0].location:") and "'us-east-9'" in p for p in found)


def test_pattern_errors_say_what_is_allowed_in_plain_words():
    raw = raw_config()
    raw["regions"][0]["name"] = "US_East"
    (problem,) = problems_of(raw)
    assert problem.startswith("regions[0].name: 3-16 characters") and "'US_East'" in problem


def test_a_geography_listed_twice_names_both_entries():
    raw = raw_config(demand=[{"geography": "japan", "rps": 1}, {"geography": "japan", "rps": 2}])
    (problem,) = problems_of(raw)
    assert problem.startswith("demand[1].geography") and "demand[0]" in problem
