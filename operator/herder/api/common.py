"""Shared vocabulary of every Herder kind: the wire conventions, scalar types, references, resources, conditions
and the metric/threshold language used by analysis, monitoring, retraining triggers and the promotion gate.

Why the scalar types look the way they do:
- no floats anywhere: a float in YAML round-trips lossily and diffs noisily in GitOps, so thresholds, fractions and
  metric values are decimal *strings* validated by a pattern (parse them with :func:`to_decimal`);
- durations are Go-style strings ("30s", "1h30m"), the same format Kubernetes uses for ``metav1.Duration``;
- every string has a ``maxLength`` and every list a ``maxItems``, so the API server can bound the cost of the CEL
  rules that iterate them.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from herder import API_GROUP, API_VERSION

API_VERSION_STRING = f"{API_GROUP}/{API_VERSION}"

CEL = "x-kubernetes-validations"
"""The OpenAPI extension that carries CEL rules; models put rules under this key in ``json_schema_extra``."""


def cel_string(text: str) -> str:
    """``text`` as a CEL string literal (single quotes; backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cel_int(expr: str, digits: int) -> str:
    """A CEL string expression rendering the non-negative int ``expr`` (at most ``digits`` digits) in decimal.

    ``string(int)`` would be shorter, but the API server's cost estimator cannot bound the size of its result, so
    a messageExpression that concatenates it is estimated as unbounded and the CRD is refused. Picking digits out of
    a literal with ``substring`` keeps every size known."""
    def digit(e: str) -> str:
        return f"'0123456789'.substring({e}, {e} + 1)"
    parts = []
    for place in range(digits - 1, 0, -1):
        scale = 10 ** place
        parts.append(f"({expr} >= {scale} ? {digit(f'{expr} / {scale} % 10')} : '')")
    parts.append(digit(f"{expr} % 10"))
    return " + ".join(parts)


def rule(expression: str, message: str, *, value: str | None = None, hint: str | None = None,
         reason: str | None = None, field_path: str | None = None, optional_old_self: bool = False) -> dict[str, Any]:
    """One CEL validation rule in the shape ``x-kubernetes-validations`` expects.

    ``value`` is a CEL string expression for the bad value(s): the rejection then reads "<message> (got <value>)",
    like the models' errors; ``hint`` says what would be right ("e.g. ..."), after the value. The static message
    (used when the API server cannot evaluate the expression) carries the hint too. Only string-valued parts may
    be concatenated: render ints with :func:`cel_int` (the cost estimator treats ``string(int)`` as unbounded)."""
    static = f"{message}; {hint}" if hint else message
    out: dict[str, Any] = {"rule": expression, "message": static}
    if value:
        tail = f" + {cel_string('; ' + hint)}" if hint else ""
        out["messageExpression"] = f"{cel_string(message + ' (got ')} + {value} + ')'{tail}"
    if reason:
        out["reason"] = reason
    if field_path:
        out["fieldPath"] = field_path
    if optional_old_self:
        out["optionalOldSelf"] = True
    return out


def rules(*items: dict[str, Any]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules (for ``model_config`` or ``Field``)."""
    return {CEL: list(items)}


def _which_set(fields: tuple[str, ...]) -> str:
    """CEL: the names of ``fields`` that are set, comma-separated, or "none". Built by concatenating literals: the
    cost estimator cannot bound ``join()`` of a computed list."""
    parts = []
    for i, f in enumerate(fields):
        before = " || ".join(f"has(self.{g})" for g in fields[:i])
        sep = f"({before} ? ', ' : '') + " if before else ""
        parts.append(f"(has(self.{f}) ? {sep}{cel_string(f)} : '')")
    none = " && ".join(f"!has(self.{f})" for f in fields)
    return f"(({none}) ? 'none' : {' + '.join(parts)})"


def cel_first_index(items: str, var: str, condition: str) -> str:
    """CEL: the index of the first element of the list ``items`` satisfying ``condition`` (over ``var``). Messages
    show that element through ``items[index]``: the cost estimator keeps the schema's bounds that way, while the
    elements of a ``filter()`` result have unknown sizes."""
    return f"{items}.transformList(i, {var}, {condition}, i)[0]"


def exactly_one_of(*fields: str, hint: str | None = None) -> dict[str, Any]:
    """A CEL rule: exactly one of ``fields`` is set (the Kubernetes "one-of" union pattern); the rejection says
    which were set."""
    has = ", ".join(f"has(self.{f})" for f in fields)
    names = ", ".join(fields)
    return rule(f"[{has}].filter(x, x).size() == 1", f"exactly one of {names} must be set",
                value=_which_set(fields), hint=hint)


def at_most_one_of(*fields: str, hint: str | None = None) -> dict[str, Any]:
    """A CEL rule: at most one of ``fields`` is set; the rejection says which were set."""
    has = ", ".join(f"has(self.{f})" for f in fields)
    names = ", ".join(fields)
    return rule(f"[{has}].filter(x, x).size() <= 1", f"at most one of {names} may be set",
                value=_which_set(fields), hint=hint)


def one_of_message(fields: tuple[str, ...], set_: list[str], hint: str | None = None, *, exactly: bool = True) -> str:
    """The models' twin of :func:`exactly_one_of` / :func:`at_most_one_of`'s rejection text."""
    head = f"exactly one of {', '.join(fields)} must be set" if exactly else \
        f"at most one of {', '.join(fields)} may be set"
    text = f"{head} (got {', '.join(set_) or 'none'})"
    return f"{text}; {hint}" if hint else text


class WireModel(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python, unknown fields rejected, and field
    docstrings used as descriptions (they become ``kubectl explain`` text)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=False,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, only the fields that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# ---------------------------------------------------------------------------------------------- scalar types
DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,12})?$"
FRACTION_PATTERN = r"^(0(\.[0-9]{1,12})?|1(\.0{1,12})?)$"
DURATION_PATTERN = r"^([0-9]{1,6}(ms|s|m|h))+$"
ZERO_DURATION_PATTERN = r"^(0+(ms|s|m|h))+$"
DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
URI_PATTERN = r"^(file|s3|https?)://[^\s]+$"
TRAVERSAL_PATTERN = r"^[^?#]*(/|\\|%2[fF]|%5[cC])(\.|%2[eE]){2}(/|\\|%2[fF]|%5[cC]|[?#]|$)"
"""A ``..`` path segment before the query, also percent-encoded (``%2e%2e``, ``.%2E``) or between encoded or
back slashes: what :func:`herder.storage.uris.parse_uri` refuses once the URL is decoded."""
HOSTNAME_PATTERN = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""Gateway API's own ``Hostname`` pattern (sigs.k8s.io/gateway-api apis/v1 shared_types.go)."""
PATH_PREFIX_PATTERN = r"^/"
ENCODING_PATTERN = r"^[A-Za-z0-9_-]+$"


def _cron_pattern() -> str:
    """Five cron fields with their ranges (names for months and weekdays, steps, lists, L and #), or a macro."""
    def field(value: str, extra: str = "") -> str:
        item = rf"(\*|{value}(-{value})?)(/[1-9][0-9]?)?{extra}"
        return f"{item}(,{item})*"
    minute, hour = "[0-5]?[0-9]", "(2[0-3]|[01]?[0-9])"
    dom = "(3[01]|[12][0-9]|0?[1-9])"
    month = "(1[0-2]|0?[1-9]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))"
    dow = "([0-7]|(?i:sun|mon|tue|wed|thu|fri|sat))"
    fields = [field(minute), field(hour), f"(L|{field(dom)})", field(month), field(dow, "(#[1-5])?")]
    return "^(@(hourly|daily|weekly|monthly|yearly)|" + " +".join(fields) + ")$"


CRON_PATTERN = _cron_pattern()
QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)"
                    r"|(\.[0-9]+))))?$")

EXAMPLE_DIGEST = "sha256:" + "0" * 64

PATTERN_HINTS: dict[str, str] = {
    DECIMAL_PATTERN: 'expected a decimal number as a string, such as "0.05", "-1.5" or "200" (no exponent, no %)',
    FRACTION_PATTERN: 'expected a fraction from 0 to 1 as a string, such as "0.05" for 5%',
    DURATION_PATTERN: "expected a duration such as 30s, 5m, 1h30m (units ms, s, m, h)",
    DIGEST_PATTERN: f"expected sha256: and 64 lower-case hex digits, e.g. {EXAMPLE_DIGEST}",
    DNS_LABEL_PATTERN: "expected a lower-case name of letters, digits and '-', e.g. error-rate",
    DNS_SUBDOMAIN_PATTERN: "expected an object name: lower-case letters, digits, '-' and '.', starting and ending "
                           "with a letter or digit, e.g. iris-v2",
    IDENTIFIER_PATTERN: "expected a parameter name such as max_depth or classifier__C",
    URI_PATTERN: "expected a URI with scheme file, s3, http or https, e.g. s3://bucket/data/iris.csv or "
                 "file:///var/lib/herder/store/iris.csv",
    CRON_PATTERN: "expected a cron schedule of five fields: minute (0-59), hour (0-23), day of month (1-31), "
                  "month (1-12 or JAN-DEC), day of week (0-7 or SUN-SAT), e.g. \"0 3 * * 0\" (Sundays 03:00 UTC), "
                  "or one of @hourly, @daily, @weekly, @monthly, @yearly",
    HOSTNAME_PATTERN: "expected a hostname such as models.example.com or *.example.com (lower case, no scheme, "
                      "port or path)",
    PATH_PREFIX_PATTERN: "expected a path starting with /, e.g. /models/iris",
    ENCODING_PATTERN: "expected an encoding name such as utf-8 or latin-1",
}
"""What a value matching each spec pattern looks like. crdgen turns a spec field's ``pattern`` into a CEL rule
with this hint and the bad value (the API server would print the raw regex), and the models' errors use the
same text; status fields (written by the operator) keep the plain pattern."""

DIGEST_MESSAGE = (
    "self.matches('^[a-fA-F0-9]{64}$') ? 'a digest needs the sha256: prefix; write sha256:' + self.lowerAscii() : "
    "(self.matches('^(?i:sha256):[a-fA-F0-9]{64}$') ? 'a digest is written in lower case; write ' + "
    f"self.lowerAscii() : {cel_string(PATTERN_HINTS[DIGEST_PATTERN])})"
)
"""The digest's messageExpression: a bare hex digest is told to add ``sha256:``, an upper-case one to lower it."""

PATTERN_MESSAGES: dict[str, str] = {DIGEST_PATTERN: DIGEST_MESSAGE}
"""Patterns whose messageExpression depends on the value beyond "(got ...)"."""


def pattern_hint(pattern: str, value: object) -> str | None:
    """The models' message for ``value`` failing ``pattern`` (the twin of the CEL messageExpression), or None for a
    pattern without a hint."""
    hint = PATTERN_HINTS.get(pattern)
    if hint is None:
        return None
    if pattern == DIGEST_PATTERN and isinstance(value, str):
        if re.fullmatch(r"[a-fA-F0-9]{64}", value):
            return f"a digest needs the sha256: prefix; write sha256:{value.lower()}"
        if re.fullmatch(r"(?i:sha256):[a-fA-F0-9]{64}", value):
            return f"a digest is written in lower case; write {value.lower()}"
    return hint


def _no_traversal(value: str) -> str:
    if re.search(TRAVERSAL_PATTERN, value):
        raise ValueError(f"{TRAVERSAL_MESSAGE}; {TRAVERSAL_HINT}")
    return value


def _positive_duration(value: str) -> str:
    if re.fullmatch(ZERO_DURATION_PATTERN, value):
        raise ValueError(f"{ZERO_DURATION_MESSAGE}; {ZERO_DURATION_HINT}")
    return value


TRAVERSAL_MESSAGE = "'..' path segments are not allowed (also not percent-encoded as %2e%2e)"
TRAVERSAL_HINT = "name the file directly, e.g. s3://bucket/data/iris.csv"
ZERO_DURATION_MESSAGE = "must be longer than zero"
ZERO_DURATION_HINT = "e.g. 30s, 5m or 1h"

DecimalString = Annotated[str, StringConstraints(pattern=DECIMAL_PATTERN, max_length=32)]
"""A decimal number written as a string ("0.05", "-1.5", "200"): exact, no float rounding."""
Fraction = Annotated[str, StringConstraints(pattern=FRACTION_PATTERN, max_length=16)]
"""A decimal string between 0 and 1 inclusive ("0.05" means 5%)."""
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, max_length=32)]
"""A Go-style duration: "500ms", "30s", "5m", "1h30m"."""
PositiveDuration = Annotated[Duration, AfterValidator(_positive_duration), Field(json_schema_extra=rules(
    rule(f"!self.matches({cel_string(ZERO_DURATION_PATTERN)})", ZERO_DURATION_MESSAGE, hint=ZERO_DURATION_HINT)))]
"""A duration where zero cannot work (a deadline, a requeue interval, a measurement window)."""
Digest = Annotated[str, StringConstraints(pattern=DIGEST_PATTERN, max_length=71)]
"""A content digest, "sha256:" followed by 64 lower-case hex digits."""
Name = Annotated[str, StringConstraints(pattern=DNS_SUBDOMAIN_PATTERN, min_length=1, max_length=253)]
"""The name of a Kubernetes object (DNS-1123 subdomain)."""
LabelName = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
"""A short DNS-1123 label, used for names of list entries (metrics, transforms)."""
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""A dataset column / model feature name."""
ParamName = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN, min_length=1, max_length=64)]
"""A scikit-learn parameter name, e.g. "max_depth" or "classifier__C"."""
Uri = Annotated[str, StringConstraints(pattern=URI_PATTERN, max_length=2048), AfterValidator(_no_traversal),
                Field(json_schema_extra=rules(rule(f"!self.matches({cel_string(TRAVERSAL_PATTERN)})",
                                                   TRAVERSAL_MESSAGE, hint=TRAVERSAL_HINT)))]
"""A data or artifact location: file://, s3://, http:// or https:// (read through fsspec); no ``..`` segments."""
Hostname = Annotated[str, StringConstraints(pattern=HOSTNAME_PATTERN, min_length=1, max_length=253)]
"""A DNS hostname, optionally with a leading "*." wildcard label (Gateway API's Hostname)."""
CronSchedule = Annotated[str, StringConstraints(pattern=CRON_PATTERN, max_length=64)]
"""A cron schedule (five fields, UTC) or a macro such as @weekly."""
Time = Annotated[str, Field(max_length=64, json_schema_extra={"format": "date-time"})]
"""An RFC 3339 timestamp, e.g. "2026-01-02T03:04:05Z"."""
Message = Annotated[str, StringConstraints(max_length=32768)]
"""Free human-readable text."""
Reason = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)]
"""A CamelCase machine-readable reason."""
IntOrString = Annotated[int | Annotated[str, StringConstraints(max_length=1024)],
                        Field(json_schema_extra={"x-kubernetes-int-or-string": True})]
"""An integer or a string (strings are parsed by the consumer, e.g. "0.5" for a float parameter)."""


def _quantity(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError(QUANTITY_NEGATIVE)
        return value
    match = re.fullmatch(QUANTITY_PATTERN, value)
    if match is None:
        raise ValueError(QUANTITY_HINT)
    if value.startswith("-") and re.search(r"[1-9]", match.group(2)):
        raise ValueError(QUANTITY_NEGATIVE)
    return value


QUANTITY_HINT = "expected a quantity such as 500m, 2 or 1Gi"
QUANTITY_NEGATIVE = "a resource quantity must not be negative"
_QUANTITY_VALID = "(type(self) == int || isQuantity(self))"
QUANTITY_RULE: dict[str, Any] = {
    "rule": f"{_QUANTITY_VALID} && (type(self) == int ? self >= 0 : !quantity(self).isLessThan(quantity('0')))",
    "message": f"{QUANTITY_HINT}, not negative",
    "messageExpression": f"{_QUANTITY_VALID} ? {cel_string(QUANTITY_NEGATIVE)} : {cel_string(QUANTITY_HINT)}",
}
"""The API server's own quantity parser (``isQuantity``) instead of a copy of its regex; negative values refused.
(The API server shows a scalar's bad value itself, so scalar rules carry no "(got ...)".)"""

Quantity = Annotated[int | Annotated[str, StringConstraints(max_length=64)], AfterValidator(_quantity),
                     Field(json_schema_extra={"x-kubernetes-int-or-string": True, **rules(QUANTITY_RULE)})]
"""A Kubernetes resource quantity such as 500m, 2, 1Gi (never negative)."""


def cel_decimal_ok(expr: str) -> str:
    """CEL: ``expr`` is a well-formed :data:`DecimalString`. Rules that convert with ``double()`` check this first:
    a value that already failed its own pattern must not also fail the conversion with the CEL runtime's error."""
    return f"{expr}.matches({cel_string(DECIMAL_PATTERN)})"


def min_max_rule(low: str = "min", high: str = "max", hint: str | None = None) -> dict[str, Any]:
    """A CEL rule: the decimal bounds ``low`` <= ``high`` when both are set, naming both values."""
    a, b = f"self.{low}", f"self.{high}"
    return rule(f"!has({a}) || !has({b}) || !{cel_decimal_ok(a)} || !{cel_decimal_ok(b)} || double({a}) <= double({b})",
                f"{low} must not be greater than {high}", value=f"{cel_string(low + ' ')} + {a} + "
                f"{cel_string(' > ' + high + ' ')} + {b}", hint=hint)


def check_min_max(low: str | None, high: str | None, hint: str | None = None) -> None:
    """Raise when both decimal bounds are set and ``low > high`` (the Python twin of :func:`min_max_rule`)."""
    if low is not None and high is not None and to_decimal(low) > to_decimal(high):
        text = f"min must not be greater than max (got min {low} > max {high})"
        raise ValueError(f"{text}; {hint}" if hint else text)


def to_decimal(value: str) -> Decimal:
    """Parse a :data:`DecimalString` / :data:`Fraction` (already pattern-checked on the wire) into a Decimal."""
    try:
        return Decimal(value)
    except InvalidOperation as e:
        raise ValueError(f"not a decimal number: {value!r}") from e


def from_decimal(value: Decimal | float | int, places: int = 6) -> str:
    """Render a number as a :data:`DecimalString` (for status values written by the operator)."""
    d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    q = d.quantize(Decimal(1).scaleb(-places)).normalize()
    text = format(q, "f")
    return "0" if text in {"-0", "0"} else text


_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


def duration_ms(value: str) -> int:
    """Milliseconds in a :data:`Duration` string ("1m30s" -> 90000)."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"not a duration: {value!r} (expected e.g. 30s, 5m, 1h30m)")
    return sum(int(n) * _UNIT_MS[u] for n, u in _DURATION_PART.findall(value))


def duration_seconds(value: str) -> float:
    """Seconds in a :data:`Duration` string."""
    return duration_ms(value) / 1000


def digest_hex(digest: str) -> str:
    """The bare hex of a ``sha256:`` digest (what ``herder serve --sha256`` takes)."""
    if not re.fullmatch(DIGEST_PATTERN, digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return digest.removeprefix("sha256:")


def sha256_digest(hex_value: str) -> str:
    """A ``sha256:<hex>`` digest from bare hex."""
    digest = f"sha256:{hex_value.lower()}"
    if not re.fullmatch(DIGEST_PATTERN, digest):
        raise ValueError(f"not a sha256 hex digest: {hex_value!r}")
    return digest


# ---------------------------------------------------------------------------------------------- references
class LocalRef(WireModel):
    """A reference to another Herder object in the same namespace."""

    name: Name
    """Name of the referenced object (same namespace)."""


class ObjectMeta(BaseModel):
    """The parts of Kubernetes ``metadata`` Herder reads; everything else the API server sends is kept as is."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str | None = None
    namespace: str | None = None
    generate_name: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    deletion_timestamp: str | None = None


# ---------------------------------------------------------------------------------------------- resources
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
EXTENDED_RESOURCE_PATTERN = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?"
                             r"/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
"""An extended resource: a domain-qualified name such as nvidia.com/gpu."""
HUGEPAGES_PATTERN = r"^hugepages-[0-9]+(Ki|Mi|Gi|Ti|Pi|Ei|[kMGTPE])?$"
RESOURCE_NAME_HINT = ("use cpu, memory, ephemeral-storage, hugepages-<size> (e.g. hugepages-2Mi) or an extended "
                      "resource with a domain, such as nvidia.com/gpu")


def _resource_name_ok(key: str) -> str:
    known = ", ".join(cel_string(n) for n in RESOURCE_NAMES)
    return (f"({key} in [{known}] || {key}.matches({cel_string(HUGEPAGES_PATTERN)}) || "
            f"{key}.matches({cel_string(EXTENDED_RESOURCE_PATTERN)}))")


def resource_name_error(name: str) -> str | None:
    """The models' twin of the CEL resource-name rule."""
    if name in RESOURCE_NAMES or re.fullmatch(HUGEPAGES_PATTERN, name) or re.fullmatch(EXTENDED_RESOURCE_PATTERN, name):
        return None
    return f"unknown resource name (got {name}); {RESOURCE_NAME_HINT}"


LIMITS_HINT = "raise the limit or lower the request, e.g. requests {cpu: 500m}, limits {cpu: 1}"
_RESOURCE_NAMES_RULE = rule(
    f"self.all(k, {_resource_name_ok('k')})", "unknown resource name",
    value=f"self.filter(k, !{_resource_name_ok('k')})[0]", hint=RESOURCE_NAME_HINT)


def _cel_quantity(v: str) -> str:
    return f"(type({v}) == int ? quantity('0').add({v}) : quantity({v}))"


def _cel_quantity_ok(v: str) -> str:
    return f"(type({v}) == int || isQuantity({v}))"


def _request_above_limit(k: str) -> str:
    req, lim = f"self.requests[{k}]", f"self.limits[{k}]"
    return (f"({k} in self.limits && {_cel_quantity_ok(req)} && {_cel_quantity_ok(lim)} && "
            f"{_cel_quantity(req)}.isGreaterThan({_cel_quantity(lim)}))")


def parse_quantity(value: int | str) -> Decimal:
    """The value of a :data:`Quantity` (already pattern-checked) as a Decimal, for comparisons."""
    if isinstance(value, int):
        return Decimal(value)
    match = re.fullmatch(QUANTITY_PATTERN, value)
    if match is None:
        raise ValueError(f"not a quantity: {value!r}")
    number = Decimal((match.group(1) or "") + match.group(2))
    suffix = match.group(6) or ""
    binary = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
    decimal_ = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
    if suffix in binary:
        return number * (Decimal(1024) ** binary[suffix])
    if suffix in decimal_:
        return number.scaleb(decimal_[suffix])
    return number.scaleb(int(suffix[1:]))


_FIRST_ABOVE = f"self.requests.filter(k, {_request_above_limit('k')})[0]"


class Resources(WireModel):
    """Compute resources of the pods Herder creates (same meaning as a container's ``resources``)."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule(f"!has(self.requests) || !has(self.limits) || !self.requests.exists(k, {_request_above_limit('k')})",
             "requests must not exceed limits",
             value=f"{_FIRST_ABOVE} + ' requests ' + string(self.requests[{_FIRST_ABOVE}]) + ' > limits ' + "
                   f"string(self.limits[{_FIRST_ABOVE}])",
             hint=LIMITS_HINT,
             field_path=".requests"),
    ))

    requests: Annotated[dict[str, Quantity], Field(max_length=16, json_schema_extra=rules(_RESOURCE_NAMES_RULE))] \
        | None = None
    """Minimum resources to reserve, e.g. {cpu: 500m, memory: 512Mi}."""
    limits: Annotated[dict[str, Quantity], Field(max_length=16, json_schema_extra=rules(_RESOURCE_NAMES_RULE))] \
        | None = None
    """Maximum resources the container may use, e.g. {memory: 1Gi}."""

    @model_validator(mode="after")
    def _names_and_bounds(self) -> Resources:
        for part in (self.requests or {}, self.limits or {}):
            for name in part:
                if (error := resource_name_error(name)) is not None:
                    raise ValueError(error)
        above = [f"{k} requests {v} > limits {self.limits[k]}" for k, v in (self.requests or {}).items()
                 if self.limits and k in self.limits and parse_quantity(v) > parse_quantity(self.limits[k])]
        if above:  # the first, like the CEL message
            raise ValueError(f"requests must not exceed limits (got {above[0]}); {LIMITS_HINT}")
        return self


# ---------------------------------------------------------------------------------------------- conditions
ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(WireModel):
    """One aspect of the object's state (Kubernetes API conventions): PascalCase type, CamelCase reason, and the
    generation it was computed from. lastTransitionTime moves only when status flips."""

    type: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9]*$", max_length=316)]
    """Condition type in PascalCase: Ready, Progressing, Degraded, Succeeded, Failed, Rejected, ..."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Reason
    """CamelCase machine-readable reason for the last change, e.g. InvalidSpec, DatasetNotFound."""
    message: Message | None = None
    """Human-readable detail: names the object, field and value involved."""
    last_transition_time: Time
    """When status last changed (not when the condition was last checked)."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """metadata.generation of the spec this condition was computed from."""


Conditions = Annotated[list[Condition], Field(max_length=32, json_schema_extra={
    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})]


# ---------------------------------------------------------------------------------------------- metrics
MetricProvider = Literal["Builtin", "Prometheus"]
BuiltinMetric = Literal[
    "ErrorRate", "LatencyP50", "LatencyP90", "LatencyP95", "LatencyP99", "RequestRate",
    "Accuracy", "MeanAbsoluteError", "FeatureDriftPSI", "FeatureDriftJensenShannon", "PredictionDriftPSI",
]
BUILTIN_METRICS: tuple[str, ...] = BuiltinMetric.__args__  # type: ignore[attr-defined]
"""Metrics the builtin provider computes from the serving pods' ``/metrics`` (and the training baseline)."""

EvaluationMetric = Literal["accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc", "log_loss",
                           "rmse", "mae", "r2"]
EVALUATION_METRICS: tuple[str, ...] = EvaluationMetric.__args__  # type: ignore[attr-defined]
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "rmse", "mae"})
"""Offline evaluation metrics where a smaller value is better (the gate's relative gain flips sign for them)."""
CLASSIFICATION_METRICS: frozenset[str] = frozenset(
    {"accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"})
REGRESSION_METRICS: frozenset[str] = frozenset({"rmse", "mae", "r2"})


class Threshold(WireModel):
    """Bounds a measured value must stay within to pass; decimal strings, at least one bound."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("has(self.min) || has(self.max)", 'at least one of min or max must be set; e.g. {max: "0.05"} for an '
             'error rate or {min: "0.9"} for accuracy'),
        min_max_rule(hint='e.g. {min: "0.9", max: "1"}'),
    ))

    min: DecimalString | None = None
    """Lowest passing value (inclusive), e.g. "0.9" for accuracy."""
    max: DecimalString | None = None
    """Highest passing value (inclusive), e.g. "0.05" for an error rate or "0.25" for PSI."""

    @model_validator(mode="after")
    def _bounds(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("at least one of min or max must be set")
        check_min_max(self.min, self.max)
        return self

    def passes(self, value: Decimal) -> bool:
        """Whether ``value`` is within the bounds."""
        if self.min is not None and value < to_decimal(self.min):
            return False
        return not (self.max is not None and value > to_decimal(self.max))


NoDataPolicy = Literal["Inconclusive", "Fail"]


class MetricCheck(WireModel):
    """One live metric measured every interval and compared with a threshold. The same vocabulary is used by
    rollout analysis, post-promotion monitoring and retraining triggers."""

    model_config = ConfigDict(json_schema_extra=rules(
        rule("self.provider == 'Builtin' ? (has(self.metric) && !has(self.query)) : (has(self.query) && "
             "!has(self.metric))", "Builtin metrics need metric (and no query); Prometheus metrics need query "
             "(and no metric)",
             value="'provider ' + self.provider + (has(self.metric) ? ', metric ' + self.metric : ', no metric') + "
                   "(has(self.query) ? ', query set' : ', no query')",
             hint="e.g. {provider: Builtin, metric: ErrorRate} or {provider: Prometheus, query: 'sum(rate(...))'}"),
    ))

    name: LabelName
    """Unique name of this check; used on status, in Events and in the Model history."""
    provider: MetricProvider = "Builtin"
    """Where the value comes from: Builtin (the serving pods' /metrics) or Prometheus (a PromQL query)."""
    metric: BuiltinMetric | None = None
    """Builtin metric to measure (provider Builtin)."""
    query: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    """PromQL query returning one scalar (provider Prometheus). {{namespace}}, {{deployment}}, {{version}} and
    {{window}} are substituted."""
    threshold: Threshold
    """Passing range of the measured value."""
    window: PositiveDuration | None = None
    """Span of data each measurement covers; defaults to the analysis interval."""
    min_samples: Annotated[int, Field(ge=0, le=100_000_000)] | None = None
    """Fewest requests (or labelled predictions for quality metrics) in the window for a conclusive measurement;
    below it the measurement is inconclusive, never a pass."""
    failure_limit: Annotated[int, Field(ge=1, le=100)] = 1
    """Consecutive failed measurements that count as a breach."""
    no_data: NoDataPolicy = "Inconclusive"
    """What a measurement without enough data means: Inconclusive (wait) or Fail (count as a failure)."""

    @model_validator(mode="after")
    def _provider_fields(self) -> MetricCheck:
        builtin = self.provider == "Builtin"
        if builtin != (self.metric is not None) or builtin == (self.query is not None):
            raise ValueError("Builtin metrics need metric (and no query); "
                             "Prometheus metrics need query (and no metric)")
        return self


MetricChecks = Annotated[list[MetricCheck], Field(min_length=1, max_length=16, json_schema_extra={
    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]})]

Verdict = Literal["Pass", "Fail", "Inconclusive"]
DecimalMap = Annotated[dict[str, DecimalString], Field(max_length=256)]
"""Name -> value as a decimal string (metrics, per-feature drift)."""


class MetricValue(WireModel):
    """The latest measurement of one metric check, as written on status."""

    name: LabelName
    """Name of the metric check."""
    value: DecimalString | None = None
    """Measured value (absent when there was no data)."""
    verdict: Verdict
    """Pass, Fail or Inconclusive."""
    samples: Annotated[int, Field(ge=0)] | None = None
    """Requests or labelled predictions the measurement was based on."""
    consecutive_failures: Annotated[int, Field(ge=0)] | None = None
    """Failed measurements in a row so far."""
    measured_at: Time | None = None
    """When the measurement was taken."""
    version: Annotated[int, Field(ge=1)] | None = None
    """Model version measured."""
    features: DecimalMap | None = None
    """Per-feature values of drift metrics (the metric's value is the largest)."""
    message: Message | None = None
    """Explanation, e.g. which feature drifted most or why the measurement was inconclusive."""


MetricValues = Annotated[list[MetricValue], Field(max_length=64, json_schema_extra={
    "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]})]
