"""A small OpenAPI 3.1 validator: enough of the specification to hold a fake (and what is sent
to it) to a written contract. Operations by path template and method; path, query and header
parameters (required, JSON Schema); JSON request bodies; declared response statuses and their
JSON bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

CONTRACTS = Path(__file__).resolve().parent / "contracts"


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: Mapping[str, Any]


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    """A query/header/path string as the schema's type reads it."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False}.get(value, value)
    except ValueError:
        return value
    return value


class Contract:
    def __init__(self, name: str) -> None:
        self.name = name
        self.doc: dict[str, Any] = yaml.safe_load((CONTRACTS / f"{name}.yaml").read_text())
        self.operations: list[Operation] = []
        for template, item in self.doc["paths"].items():
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$"
            names = re.findall(r"\{([^}]+)\}", template)
            for method, op in item.items():
                if method == "parameters":
                    continue
                params = [*item.get("parameters", []), *op.get("parameters", [])]
                self.operations.append(
                    Operation(
                        method.upper(),
                        template,
                        re.compile(regex),
                        {**op, "parameters": params, "path_names": names},
                    )
                )

    def _schema(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        return Draft202012Validator({**schema, "components": self.doc.get("components", {})})

    def _resolve(self, obj: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = obj.get("$ref")
        if not ref:
            return obj
        node: Any = self.doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node  # type: ignore[no-any-return]

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for op in self.operations:
            m = op.pattern.match(path)
            if op.method == method and m:
                return op, dict(zip(op.spec["path_names"], m.groups(), strict=True))
        return None

    def check_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> list[str]:
        found = self.find(method, path)
        if found is None:
            return [f"{method} {path}: no such operation in the {self.name} contract"]
        op, path_params = found
        problems: list[str] = []
        where = f"{method} {op.template}"
        lower_headers = {k.lower(): v for k, v in headers.items()}
        for raw in op.spec["parameters"]:
            p = self._resolve(raw)
            source = {"path": path_params, "query": query, "header": lower_headers}[p["in"]]
            key = p["name"].lower() if p["in"] == "header" else p["name"]
            if key not in source:
                if p.get("required"):
                    problems.append(f"{where}: {p['in']} parameter {p['name']} is required")
                continue
            value = _coerce(source[key], p.get("schema", {}))
            for e in self._schema(p.get("schema", {})).iter_errors(value):
                problems.append(f"{where}: {p['in']} parameter {p['name']}: {e.message}")
        declared = {self._resolve(p)["name"] for p in op.spec["parameters"]}
        for name in query:
            if name not in declared:
                problems.append(f"{where}: query parameter {name} is not in the contract")
        rb = op.spec.get("requestBody")
        if rb is not None:
            if not body:
                if rb.get("required"):
                    problems.append(f"{where}: a JSON body is required")
            else:
                if "application/json" not in rb["content"]:
                    return problems  # a form: present is all this validator checks
                try:
                    data = json.loads(body)
                except ValueError:
                    return [*problems, f"{where}: the body is not JSON"]
                schema = rb["content"]["application/json"]["schema"]
                for e in self._schema(schema).iter_errors(data):
                    problems.append(f"{where}: body {list(e.absolute_path)}: {e.message}")
        elif body:
            problems.append(f"{where}: takes no body")
        return problems

    def check_response(self, method: str, path: str, status: int, body: bytes) -> list[str]:
        found = self.find(method, path)
        if found is None:
            return []
        op, _ = found
        responses = op.spec.get("responses", {})
        spec = responses.get(str(status)) or responses.get("default")
        where = f"{method} {op.template} -> {status}"
        if spec is None:
            return [f"{where}: status not declared in the {self.name} contract"]
        spec = self._resolve(spec)
        content = spec.get("content")
        if content is None:
            return [f"{where}: declared without a body, answered with one"] if body else []
        if not body:
            return [f"{where}: declared with a body, answered without"]
        schema = content["application/json"]["schema"]
        try:
            data = json.loads(body)
        except ValueError:
            return [f"{where}: the body is not JSON"]
        return [f"{where}: {e.message}" for e in self._schema(schema).iter_errors(data)]
