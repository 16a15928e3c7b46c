"""The deployment files, checked with what runs here (Docker and Helm do not): every file
a Dockerfile copies exists, the images run as a non-root user with the project's Python
and uv, the compose file and Helm values name only settings the code reads, and nginx's
compose configuration is the rendering of the template that tests/test_scale.py runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from scripts.scaled_stack import compose_nginx_config
from tests.action_helper import ROOT

DEPLOY = ROOT / "deploy"
DOCKERFILES = ["Dockerfile.rasa", "Dockerfile.actions"]


def settings_read_by_the_code() -> set[str]:
    """Every environment variable the project's code or Rasa reads."""
    names: set[str] = set()
    for path in [
        *ROOT.glob("actions/*.py"),
        *ROOT.glob("core/*.py"),
        *ROOT.glob("scripts/*"),
        ROOT / "endpoints.yml",
    ]:
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            names |= set(re.findall(r"\b((?:CART|RASA|ACTION|WEB|SANIC)_[A-Z_]+)\b", text))
    return names | {"RASA_TELEMETRY_ENABLED", "TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH"}


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfiles_copy_what_exists_and_run_as_a_user(name: str) -> None:
    text = (DEPLOY / name).read_text(encoding="utf-8")
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.MULTILINE):
        *sources, _target = line.split()
        for source in sources:
            assert (ROOT / source.rstrip("/")).exists(), f"{name}: COPY {source}: missing"
    assert re.search(r"^USER 1001$", text, flags=re.MULTILINE), "runs as root"
    assert "FROM python:3.10-" in text  # Rasa 3.6 needs Python 3.10
    assert "uv sync --frozen --no-dev" in text  # the locked environment, no test tools
    pinned = re.search(r"pip install --no-cache-dir uv==([\d.]+)", text)
    assert pinned, "uv is pinned"
    command = re.search(r"^CMD \[(.+?)\]$", text, flags=re.MULTILINE | re.DOTALL)
    assert command
    for path in re.findall(r'"([\w/]+\.(?:yml|tar\.gz))"', command.group(1)):
        produced = path.startswith("models/")  # trained inside the image
        assert produced or (ROOT / path).exists(), f"{name}: CMD names {path}"


def test_the_rasa_image_trains_with_the_projects_config() -> None:
    text = (DEPLOY / "Dockerfile.rasa").read_text(encoding="utf-8")
    assert "components.spacy_pipeline build/spacy_pipeline" in text
    # The sentence model is built (and its hash checked) before the model is trained.
    sentence = text.index("components.sentence_model build/sentence_model")
    assert sentence < text.index("rasa train")
    assert "rasa train --fixed-model-name cart-assistant --out models" in text
    command = text[text.index("\nCMD ") :]
    assert "--enable-api" not in command  # families' servers: no HTTP API


def test_compose_names_real_files_and_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"rasa-1", "rasa-2", "actions-1", "actions-2", "nginx", "postgres", "redis"} <= set(
        services
    )
    known = settings_read_by_the_code()
    for name, service in services.items():
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).exists(), name
        for dependency in service.get("depends_on", []):
            assert dependency in services, (name, dependency)
        environment = service.get("environment") or {}
        if name not in ("postgres",):
            unknown = {v for v in environment if v not in known}
            assert not unknown, (name, unknown)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx", "console"}
    assert services["console"]["ports"] == ["127.0.0.1:8081:8081"]  # staff network only
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    assert not re.search(r"PASSWORD: [^$\s]", text), "a secret is typed into the file"


def test_compose_nginx_config_is_the_templates_rendering() -> None:
    rendered = (DEPLOY / "nginx" / "compose.conf").read_text(encoding="utf-8")
    assert rendered == compose_nginx_config(), (
        "deploy/nginx/compose.conf is stale: python scripts/scaled_stack.py "
        "--compose-nginx-config > deploy/nginx/compose.conf"
    )
    assert "rasa-1:5005" in rendered and "actions-2:5055" in rendered


def test_helm_values_use_the_images_config_and_known_settings() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "rasa-values.yaml").read_text(encoding="utf-8"))
    assert values["replicaCount"] >= 2
    assert values["rasa-action-server"]["replicaCount"] >= 2
    assert values["applicationSettings"]["enableAPI"] is False
    assert values["applicationSettings"]["trainInitialModel"] is False
    assert "--endpoints" in values["args"] and "endpoints.yml" in values["args"]
    known = settings_read_by_the_code()
    for entry in [*values["extraEnv"], *values["rasa-action-server"]["extraEnv"]]:
        assert entry["name"] in known, entry["name"]
    affinity = values["ingress"]["annotations"]["nginx.ingress.kubernetes.io/affinity"]
    assert affinity == "cookie"  # socket.io long polling needs sticky sessions
    assert int(values["resources"]["limits"]["memory"].removesuffix("Mi")) <= 1536


def test_nothing_secret_in_the_deploy_files() -> None:
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not re.search(r"[A-Za-z0-9_-]{43}=", text), f"{path}: a Fernet key?"
            assert "BEGIN PRIVATE KEY" not in text


def test_deploy_directory_has_what_the_readme_names() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ["Dockerfile.rasa", "Dockerfile.actions", "docker-compose.yml",
                 "helm/rasa-values.yaml", "nginx/compose.conf"]:  # fmt: skip
        assert (DEPLOY / name).exists() and Path(name).name in readme, name
