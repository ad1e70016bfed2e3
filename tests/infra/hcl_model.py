"""Load the Terraform module in infra/ into plain Python data.

python-hcl2 8.x keeps HCL quoting: keys and string literals come back as
'"aws_lambda_function"' and expressions as '${aws_iam_role.lambda.arn}'.
normalise() strips the quotes from literals (so they compare like the JSON
Terraform would produce) and leaves expressions as their '${...}' text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
EVENTS_DIR = REPO_ROOT / "events"

_BLOCK_MARKERS = {"__is_block__", "__comments__", "__inline_comments__"}


def unquote(text: str) -> str:
    """'"abc"' -> 'abc'; anything else is returned unchanged."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text[1:-1]
    return text


def normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {unquote(k): normalise(v) for k, v in value.items() if k not in _BLOCK_MARKERS}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return unquote(value)
    return value


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def load_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return normalise(hcl2.load(handle))


@dataclass
class Module:
    """Every top-level construct of the .tf files of one directory."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    directory: Path = INFRA_DIR

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        assert (rtype, name) in self.resources, f"missing resource {rtype}.{name}"
        return self.resources[(rtype, name)]

    def data_source(self, dtype: str, name: str) -> dict[str, Any]:
        assert (dtype, name) in self.data, f"missing data source {dtype}.{name}"
        return self.data[(dtype, name)]

    def resources_of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (kind, name), body in self.resources.items() if kind == rtype}

    def module_call(self, name: str) -> dict[str, Any]:
        calls = [block[name] for parsed in self.files.values() for block in parsed.get("module", []) if name in block]
        assert len(calls) == 1, f"module {name} called {len(calls)} times"
        return calls[0]

    def module_output(self, name: str, output: str) -> Any:
        """The value of `output` of the child module `name`, with its locals and variables
        replaced by what this module passes (as text: both are plain references here)."""
        call = self.module_call(name)
        child = load_module((self.directory / call["source"]).resolve())
        text = json.dumps(child.outputs[output]["value"])
        for local, value in child.locals.items():
            text = text.replace("${local.%s}" % local, value)
        for variable in child.variables:
            argument = call[variable]
            assert is_expression(argument), f"{name}.{variable}: {argument}"
            text = text.replace("${var.%s}" % variable, argument)
        assert "${var." not in text and "${local.arn" not in text, text
        return json.loads(text)


def _add_typed(target: dict, blocks: list[dict[str, Any]], what: str, filename: str) -> None:
    for block in blocks:
        for rtype, named in block.items():
            for name, body in named.items():
                key = (rtype, name)
                assert key not in target, f"{what} {rtype}.{name} declared twice ({filename})"
                target[key] = body


def load_module(directory: Path = INFRA_DIR) -> Module:
    module = Module(directory=directory)
    for path in sorted(directory.glob("*.tf")):
        parsed = load_file(path)
        module.files[path.name] = parsed
        _add_typed(module.resources, parsed.get("resource", []), "resource", path.name)
        _add_typed(module.data, parsed.get("data", []), "data source", path.name)
        for block in parsed.get("variable", []):
            for name, body in block.items():
                assert name not in module.variables, f"variable {name} declared twice"
                module.variables[name] = body
        for block in parsed.get("output", []):
            for name, body in block.items():
                assert name not in module.outputs, f"output {name} declared twice"
                module.outputs[name] = body
        for block in parsed.get("locals", []):
            for name, value in block.items():
                assert name not in module.locals, f"local {name} declared twice"
                module.locals[name] = value
        module.terraform.extend(parsed.get("terraform", []))
    return module


def policy_statements(document: dict[str, Any], module: Module | None = None) -> list[dict[str, Any]]:
    """Static and dynamic `statement` blocks of an aws_iam_policy_document.

    Dynamic statements carry their `for_each` under the key 'for_each' so a
    test can check what switches them on. A dynamic statement over a child
    module's statements (`module.<name>.statements`) is expanded, one per
    element, with `module` (the calling module) resolving them.
    """
    statements = [dict(s, for_each=None) for s in document.get("statement", [])]
    for dynamic in document.get("dynamic", []):
        for label, body in dynamic.items():
            if label != "statement":
                continue
            for_each = body.get("for_each")
            for content in body.get("content", []):
                if isinstance(for_each, str) and for_each.startswith("${module."):
                    assert module is not None, f"{for_each} needs the calling module"
                    name, output = for_each[len("${module."):-1].split(".")
                    for element in module.module_output(name, output):
                        text = json.dumps(content)
                        for key, value in element.items():
                            text = text.replace(json.dumps("${statement.value.%s}" % key), json.dumps(value))
                        statements.append(dict(json.loads(text), for_each=for_each))
                else:
                    statements.append(dict(content, for_each=for_each))
    return statements


def load_event(name: str) -> Any:
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
