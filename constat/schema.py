"""The JSON Schemas in schema/ applied to loaded documents, their errors told in an editor's terms."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

if TYPE_CHECKING:
    import jsonschema

from constat.load import Document, ValuePath
from constat.problems import Problem, did_you_mean

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
"""The single source of truth for every input file's shape; editors' IDEs read the same files."""

MAX_UNKNOWN_KEYS = 20
"""Past this many, the rest of a mapping's unknown keys are counted, not listed (and not compared)."""

_TYPE_NAMES = {
    "string": "text", "number": "a number", "integer": "a whole number", "array": "a list",
    "object": "a mapping of keys and values", "boolean": "true or false", "null": "empty",
}


@cache
def _schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text(encoding="utf-8"))
    return schema


@cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    import jsonschema  # only for a file jsonschema-rs refuses: 30 ms of every build's start otherwise

    schema = _schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@cache
def _passes(kind: str) -> Callable[[Any], bool]:
    """Whether a document passes schema/<kind>.schema.json, by jsonschema-rs (compiled: 2.7 µs a
    claim against 224 µs): the answer for the files that pass, nearly all of them. A file it
    refuses is checked again by jsonschema, which finds every error and says it in our terms;
    it never accepts a file jsonschema refuses (tests/test_schema.py)."""
    fast = jsonschema_rs.validator_for(_schema(kind))  # which checks the schema as a schema first

    def passes(data: Any) -> bool:
        try:
            return bool(fast.is_valid(data))
        except Exception:  # a value it cannot take (a huge number): jsonschema decides
            return False

    return passes


def check_schema(doc: Document, kind: str) -> list[Problem]:
    """Every way ``doc`` breaks schema/<kind>.schema.json, each at the line of the value at fault."""
    if _passes(kind)(doc.data):
        return []
    problems: list[Problem] = []
    validator = _validator(kind)
    schema = validator.schema
    required = frozenset(schema.get("required", ()) if isinstance(schema, dict) else ())
    for error in validator.iter_errors(doc.data):
        problems.extend(_translate(doc, error, required))
    return problems


def _field(where: ValuePath) -> str:
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the file"


def _kind_of(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a yes/no value"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "a mapping"


def _empty(doc: Document, where: ValuePath, name: str, required: frozenset[str]) -> list[Problem]:
    fix = "write a value" if len(where) == 1 and where[0] in required else "write a value or remove the key"
    return [doc.problem(where, "missing-field", f'"{name}" is empty: {fix}')]


def _translate(doc: Document, error: jsonschema.ValidationError, required: frozenset[str]) -> list[Problem]:
    where: ValuePath = tuple(error.absolute_path)
    name = _field(where)
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    value: Any = error.instance
    kind = error.validator
    bound: Any = error.validator_value
    custom = schema.get("x-error")
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = [key for key in value if key not in allowed]
        problems = [doc.problem((*where, key), "unknown-key",
                                f'unknown key "{key}"' + (did_you_mean(key, allowed)
                                                          or f": the keys allowed here are {', '.join(allowed)}"),
                                key=True)
                    for key in unknown[:MAX_UNKNOWN_KEYS]]
        if len(unknown) > MAX_UNKNOWN_KEYS:
            problems.append(doc.problem(where, "unknown-key",
                                        f"{len(unknown) - MAX_UNKNOWN_KEYS} more unknown keys in {name}"))
        return problems
    if kind == "required":
        known = schema.get("properties", {})
        unknown = [k for k in value if k not in known][:MAX_UNKNOWN_KEYS]
        problems = []
        for key in bound:
            if key in value or difflib.get_close_matches(key, unknown, n=1, cutoff=0.6):
                continue  # a misspelt key is reported as unknown, with this one as the fix
            about = known.get(key, {}).get("description", "").split(". ")[0].split(" : ")[0].rstrip(".")
            message = f'missing required field "{key}"' + (f" in {name}" if where else "")
            problems.append(doc.problem(where, "missing-field", message + (f" ({about})" if about else "")))
        return problems
    if kind == "type":
        if value is None:
            return _empty(doc, where, name, required)
        expected = bound if isinstance(bound, list) else [bound]
        wanted = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in expected if t != "null")
        message = f'"{name}" {custom}' if custom else f'"{name}" must be {wanted}, not {_kind_of(value)}'
        if "string" in expected and isinstance(value, (bool, int, float)):
            message += ": put the value in quotes"
        return [doc.problem(where, "wrong-type", message)]
    if kind == "pattern":
        code = "bad-url" if "http" in bound else (
            "invalid-date" if "[0-9]{4}-" in bound else "invalid-value")
        return [doc.problem(where, code, f'"{name}" {custom or "has the wrong form"}: got "{value}"')]
    if kind == "enum":
        choices = [str(c) for c in bound]
        return [doc.problem(where, "invalid-value", f'"{name}" cannot be "{value}"'
                            + (did_you_mean(str(value), choices) or f": use one of {', '.join(choices)}"))]
    if kind == "minLength":
        return _empty(doc, where, name, required)
    if kind == "maxLength":
        return [doc.problem(where, "too-long",
                            f'"{name}" is too long: {len(value):,} characters, at most {bound:,}')]
    if kind in ("minItems", "maxItems"):
        bound = "at least" if kind == "minItems" else "at most"
        return [doc.problem(where, "invalid-value", f'"{name}" needs {bound} {bound} item(s)')]
    if kind == "uniqueItems":
        return [doc.problem(where, "invalid-value", f'"{name}" lists the same item twice: remove the repeat')]
    if kind in ("minimum", "maximum"):
        return [doc.problem(where, "invalid-value",
                            f'"{name}" must be between {schema.get("minimum")} and {schema.get("maximum")}, '
                            f"not {value}")]
    return [doc.problem(where, "invalid-value", f'"{name}": {error.message}')]
