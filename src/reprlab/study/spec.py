"""The study file: a data set and base run config, axes to cross, seeds, evaluations, profiles.

A study is YAML validated by pydantic (unknown keys are errors). ``data``, ``model`` and
``train`` are the base sections of a ``reprlab.train.RunConfig``. Each axis varies one
config path over values (``{path: model.latent_dim, values: [64, 128]}``, or the shorthand
``model.latent_dim: [64, 128]``) or sets several paths per named variant
(``{variants: {linear: {model.activation: linear}}}``). The main grid is ``axes``; ``grids``
adds further grids (e.g. a latent-size sweep next to a loss comparison). Named ``profiles``
(``quick``, ``full``) override seeds, config values (``set``), axis values and evaluations,
as Hydra's config groups do. ``reference`` holds a source's published numbers with their
protocol, each row tied to one of our cells and each column to one of our metrics, so the
report can set them beside ours (`reprlab.study.reference`).
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from reprlab.errors import ConfigError, UnknownNameError
from reprlab.registry import did_you_mean

Direction = Literal["higher", "lower"]
MAIN_GRID = "main"
#: study and profile names become folder names (``outputs/STUDY/PROFILE``): a slug, which
#: holds no path separator and cannot be ``.`` or ``..``
SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Axis(_Strict):
    """One axis: a config ``path`` over ``values``, or named ``variants`` of config overrides."""

    path: str | None = None
    values: list[Any] | None = None
    variants: dict[str, dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Axis:
        if self.variants is not None:
            if self.path is not None or self.values is not None:
                raise ValueError("give either 'variants' or 'path' with 'values', not both")
            if not self.variants:
                raise ValueError("'variants' is empty; list at least one")
        else:
            if self.path is None or self.values is None:
                raise ValueError("an axis needs 'path' and 'values', or 'variants'")
            if not self.values:
                raise ValueError("'values' is empty; list at least one")
        labels = self.labels()
        if len(set(labels)) != len(labels):
            raise ValueError(f"axis values must have distinct labels, got {labels}")
        return self

    def labels(self) -> list[str]:
        if self.variants is not None:
            return list(self.variants)
        return [label_of(v) for v in self.values or []]

    def points(self) -> list[tuple[str, dict[str, Any]]]:
        """``(label, overrides)`` for each point of the axis, overrides keyed by dotted path."""
        if self.variants is not None:
            return [(k, dict(v)) for k, v in self.variants.items()]
        return [(label_of(v), {self.path: v}) for v in self.values or []]

    def restricted(self, keep: list[Any]) -> Axis:
        """This axis with only ``keep``: labels of variants, or new values of a path axis."""
        if self.variants is not None:
            unknown = [str(k) for k in keep if str(k) not in self.variants]
            if unknown:
                raise ValueError(f"unknown variants {unknown}; valid: {', '.join(self.variants)}")
            return Axis(variants={str(k): self.variants[str(k)] for k in keep})
        return Axis(path=self.path, values=list(keep))


def label_of(value: Any) -> str:
    """The label of an axis value in tables and cell names."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    if isinstance(value, dict | list):
        raise ValueError(f"value {value!r} needs a name: use 'variants' for structured values")
    return str(value)


def _axes_shorthand(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ({"path": k, "values": v} if isinstance(v, list) else v) for k, v in value.items()
        }
    return value


class Grid(_Strict):
    """A grid of its own: axes crossed on top of the base config with ``set`` applied."""

    description: str = ""
    axes: dict[str, Axis]
    set: dict[str, Any] = Field(default_factory=dict)

    _shorthand = field_validator("axes", mode="before")(_axes_shorthand)


class Evaluation(_Strict):
    """What to measure on each trained run: metric names (``reprlab.evaluate.METRICS``;
    ``None`` means the evaluator's defaults) and figure names (``reprlab.viz``)."""

    metrics: list[str] | None = None
    figures: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


class ReportSettings(_Strict):
    """How results are summarised: headline metrics (full names or group prefixes),
    directions for metrics the built-in rules do not know, significance level."""

    metrics: list[str] = Field(default_factory=list)
    directions: dict[str, Direction] = Field(default_factory=dict)
    alpha: float = Field(0.05, gt=0, lt=1)
    figures: list[str] = Field(default_factory=list)
    correction: Literal["holm", "none"] = "holm"
    interval: Literal["t", "bootstrap"] = "t"


class Profile(_Strict):
    """Overrides for a named scale of the study (``quick`` for CI, ``full`` for the paper's)."""

    description: str = ""
    seeds: list[int] | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, list[Any]] = Field(default_factory=dict)
    grids: list[str] | None = None
    evaluate: Evaluation | None = None


class ReferenceRow(_Strict):
    """One row of a published table: the source's ``label`` for it, the ``cell`` it compares
    with (axis name -> label, in the table's grid), and one value per column (None: blank)."""

    label: str
    cell: dict[str, str] = Field(default_factory=dict)
    values: list[float | None]


class ReferenceTable(_Strict):
    """Published numbers (``source``: where they are printed) measured under ``protocol``
    (data set, N, model, split, ...), with the ``differences`` of our protocol from it.
    ``columns`` are our metric names (flattened, as in the results tables); ``headers`` the
    source's names for them (default: the metric names)."""

    title: str
    source: str
    protocol: dict[str, str]
    differences: list[str] = Field(default_factory=list)
    grid: str = MAIN_GRID
    columns: list[str] = Field(min_length=1)
    headers: list[str] | None = None
    rows: list[ReferenceRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _widths(self) -> ReferenceTable:
        if self.headers is not None and len(self.headers) != len(self.columns):
            raise ValueError(
                f"{len(self.headers)} headers for {len(self.columns)} columns; give one each"
            )
        for row in self.rows:
            if len(row.values) != len(self.columns):
                raise ValueError(
                    f"row {row.label!r} has {len(row.values)} values for "
                    f"{len(self.columns)} columns; give one per column (null for a blank)"
                )
        return self


class ValidationSplit(_Strict):
    """The validation split every run holds out of train: a class-stratified ``fraction``
    drawn with ``seed`` (``reprlab.data.load_dataset(val_fraction=, seed=)``), set on each
    reprlab run by ``reprlab.study.tune.plan``. Everything a study chooses (tuned values,
    probe settings) is chosen on it; test is read once per run."""

    fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = 0

    def apply(self, base: dict[str, Any]) -> None:
        """Set ``data.val_fraction`` and ``data.seed`` unless the base config sets them."""
        data = base.setdefault("data", {})
        data.setdefault("val_fraction", self.fraction)
        data.setdefault("seed", self.seed)


class SearchParam(_Strict):
    """One tuned config key: ``log-uniform`` or ``uniform`` floats in [low, high], ``int``
    in [low, high] (``log`` for a log scale), or a ``choice`` among ``values``; ``cells``
    (glob patterns of cell keys, e.g. ``*loss=cauchy*``) limits it to some cells."""

    kind: Literal["log-uniform", "uniform", "int", "choice"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    values: list[Any] | None = None
    cells: list[str] = Field(default_factory=lambda: ["*"])

    @model_validator(mode="after")
    def _bounds(self) -> SearchParam:
        if self.kind == "choice":
            if not self.values:
                raise ValueError("a 'choice' needs a non-empty 'values' list")
            return self
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"{self.kind!r} needs low < high, got {self.low}, {self.high}")
        if self.kind == "log-uniform" and self.low <= 0:
            raise ValueError(f"'log-uniform' needs low > 0, got {self.low}")
        if self.kind == "int" and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            raise ValueError(f"'int' needs integer bounds, got {self.low}, {self.high}")
        return self


class Objective(_Strict):
    """What tuning optimises: a metric read on the validation split, and its direction. A
    name starting ``val_`` is a column of the training log (``val_loss``); any other is an
    evaluation metric (``probe-logistic/accuracy``) computed with ``split: val``."""

    metric: str
    direction: Direction


class TuneSettings(_Strict):
    """``reprlab run STUDY --tune``: per cell, ``trials`` Optuna trials (seeded TPE, median
    pruning on the validation metric every ``report_every`` epochs) over ``space``; then the
    study's seeds train at each cell's best values. ``chosen`` holds values a past tuning
    found (per cell key), used by runs without ``--tune``; ``command`` re-derives them."""

    space: dict[str, SearchParam] = Field(min_length=1)
    objective: Objective
    trials: int = Field(20, ge=1)
    seed: int = 0
    startup_trials: int = Field(5, ge=0)
    prune: bool = True
    report_every: int = Field(1, ge=1)
    chosen: dict[str, dict[str, Any]] = Field(default_factory=dict)
    command: str = ""


class StudySpec(_Strict):
    """A study file. See the module docstring for the meaning of each section."""

    name: str = Field(pattern=SLUG)
    question: str
    description: str = ""
    source: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, Any] = Field(default_factory=dict)
    seeds: list[int] = Field(min_length=1)
    axes: dict[str, Axis] = Field(default_factory=dict)
    grids: dict[str, Grid] = Field(default_factory=dict)
    evaluate: Evaluation = Field(default_factory=Evaluation)
    report: ReportSettings = Field(default_factory=ReportSettings)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    default_profile: str = "quick"
    reference: list[ReferenceTable] = Field(default_factory=list)
    validation: ValidationSplit = Field(default_factory=lambda: ValidationSplit())
    tune: TuneSettings | None = None
    #: where the study came from, and the line of each key in its file (for error messages)
    _where: str = PrivateAttr("study")
    _lines: dict = PrivateAttr(default_factory=dict)

    _shorthand = field_validator("axes", mode="before")(_axes_shorthand)

    @field_validator("profiles")
    @classmethod
    def _slug_profiles(cls, profiles: dict[str, Profile]) -> dict[str, Profile]:
        return {check_slug(name, "profile name"): p for name, p in profiles.items()}

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        return seeds

    @model_validator(mode="after")
    def _check(self) -> StudySpec:
        if MAIN_GRID in self.grids:
            raise ValueError(f"grid name {MAIN_GRID!r} is reserved for 'axes'")
        if self.profiles and self.default_profile not in self.profiles:
            raise ValueError(
                f"default_profile {self.default_profile!r} is not a profile; "
                f"valid: {', '.join(self.profiles)}"
            )
        grid_names = [MAIN_GRID, *self.grids]
        all_axes = set(self.axes).union(*(g.axes for g in self.grids.values()))
        for pname, profile in self.profiles.items():
            for axis in profile.axes:
                if axis not in all_axes:
                    raise ValueError(
                        f"profile {pname!r} restricts unknown axis {axis!r}; "
                        f"valid: {', '.join(sorted(all_axes))}"
                    )
            for grid in profile.grids or []:
                if grid not in grid_names:
                    raise ValueError(
                        f"profile {pname!r} names unknown grid {grid!r}; "
                        f"valid: {', '.join(grid_names)}"
                    )
        for table in self.reference:
            self._check_reference(table, grid_names)
        return self

    def _check_reference(self, table: ReferenceTable, grid_names: list[str]) -> None:
        """Every reference row names a cell of its grid: known axes, known labels."""
        if table.grid not in grid_names:
            raise ValueError(
                f"reference {table.title!r} names unknown grid {table.grid!r}; "
                f"valid: {', '.join(grid_names)}"
            )
        axes = self.axes if table.grid == MAIN_GRID else self.grids[table.grid].axes
        for row in table.rows:
            for axis, label in row.cell.items():
                if axis not in axes:
                    raise ValueError(
                        f"reference {table.title!r} row {row.label!r}: unknown axis {axis!r}; "
                        f"valid: {', '.join(axes)}"
                    )
                if str(label) not in axes[axis].labels():
                    raise ValueError(
                        f"reference {table.title!r} row {row.label!r}: axis {axis!r} has no "
                        f"value {label!r}; valid: {', '.join(axes[axis].labels())}"
                    )

    def resolve(self, profile: str | None = None) -> ResolvedStudy:
        """Apply a profile (``None``: the default one, if the study has profiles)."""
        if profile is None and self.profiles:
            profile = self.default_profile
        if profile is not None and profile not in self.profiles:
            raise UnknownNameError(
                f"study {self.name!r} has no profile {profile!r}; "
                f"valid: {', '.join(self.profiles) or '(none)'}"
            )
        prof = self.profiles[profile] if profile is not None else Profile()
        base = {
            "data": copy.deepcopy(self.data),
            "model": copy.deepcopy(self.model),
            "train": copy.deepcopy(self.train),
        }
        apply_overrides(base, prof.set)
        grids: dict[str, Grid] = {}
        if self.axes or not self.grids:
            grids[MAIN_GRID] = Grid(description="", axes=self.axes)
        grids.update(self.grids)
        if prof.grids is not None:
            grids = {name: grids[name] for name in prof.grids if name in grids}
        restricted: dict[str, Grid] = {}
        for name, grid in grids.items():
            axes = {}
            for axis_name, axis in grid.axes.items():
                keep = prof.axes.get(axis_name)
                try:
                    axes[axis_name] = axis if keep is None else axis.restricted(keep)
                except ValueError as error:
                    raise ConfigError(
                        f"study {self.name!r} profile {profile!r} axis {axis_name!r}: {error}"
                    ) from None
            restricted[name] = Grid(description=grid.description, axes=axes, set=grid.set)
        return ResolvedStudy(
            spec=self,
            profile=profile,
            base=base,
            seeds=list(prof.seeds if prof.seeds is not None else self.seeds),
            grids=restricted,
            evaluate=prof.evaluate if prof.evaluate is not None else self.evaluate,
        )


class ResolvedStudy(BaseModel):
    """A study with one profile applied: what the expansion and the runner read."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    spec: StudySpec
    profile: str | None
    base: dict[str, Any]
    seeds: list[int]
    grids: dict[str, Grid]
    evaluate: Evaluation
    #: dotted config keys set outside the study file -> where (e.g. the command line)
    origins: dict[str, str] = Field(default_factory=dict)


def check_slug(name: str, what: str) -> str:
    """``name`` if it is a slug (letters, digits, ``_.-``, not starting with ``.`` or ``-``)."""
    import re

    if not isinstance(name, str) or not re.fullmatch(SLUG, name):
        raise ValueError(
            f"{what} {name!r} must start with a letter or digit and hold only letters, digits, "
            "'_', '.' and '-' (it names a folder)"
        )
    return name


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted-path keys (``model.loss: cauchy``) and deep-merge nested dicts, in place.

    A section (a mapping) is never replaced by a scalar, and a scalar never gets keys: either
    is a ``ConfigError`` (``--set train=5`` would otherwise drop every training setting)."""
    for key, value in overrides.items():
        parts = key.split(".")
        node = config
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(
                    f"cannot set {key!r}: {where!r} is a value ({child!r}), not a section; "
                    f"set {where!r} itself"
                )
            node = child
        last = parts[-1]
        if isinstance(node.get(last), dict):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"cannot set {key!r} to {value!r}: {key!r} is a section; set one of its "
                    f"keys instead, e.g. {key}.{next(iter(node[last]), 'KEY')}=VALUE"
                )
            apply_overrides(node[last], value)
        else:
            node[last] = copy.deepcopy(value)
    return config


def bundled_dir() -> Path:
    """The folder of bundled study files (package data)."""
    return Path(str(resources.files("reprlab.study") / "studies"))


def bundled_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir().glob("*.yaml"))


def find_study(name_or_path: str | Path) -> Path:
    """A study file path from a bundled name (``robust-vae``) or a path to a YAML file."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = bundled_dir() / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    if path.suffix in {".yaml", ".yml"} or path.parent != Path("."):
        raise ConfigError(
            f"study file {str(path)!r} not found; give an existing path or "
            f"a bundled name: {', '.join(bundled_names())}"
        )
    raise UnknownNameError(
        f"unknown study {str(name_or_path)!r}; bundled: "
        f"{', '.join(bundled_names())}, or give a path to a YAML file"
    )


def _format_validation(error: ValidationError, where: str, lines: dict | None = None) -> str:
    """One line: where (the file and the key's line when known), the key, the problem, and
    for an unknown key the valid ones and the closest of them."""
    # a misspelt key also makes its field missing: the unknown key is the one to report
    first = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        parent_fields = _fields_at(first["loc"][:-1])
        valid = f"; valid keys: {', '.join(parent_fields)}" if parent_fields else ""
        msg = f"unknown key{valid}{did_you_mean(str(first['loc'][-1]), parent_fields)}"
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    line = key_line(lines or {}, first["loc"])
    at = f", line {line}" if line else ""
    return f"{where}{at}: {loc}: {msg}{more}"


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The 1-based line of every mapping key of a YAML document, by its path of keys."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, str(key.value))
                out[here] = key.start_mark.line + 1
                walk(value, here)

    walk(root, ())
    return out


def key_line(lines: dict[tuple[str, ...], int], loc: tuple) -> int | None:
    """The line of ``loc`` or of its nearest ancestor that the file spells out."""
    path = tuple(str(p) for p in loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def _fields_at(loc: tuple, root: Any = None) -> list[str]:
    """Field names of the pydantic model reached by ``loc`` from ``root`` (``StudySpec`` by
    default; best effort)."""
    model: Any = root or StudySpec
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(part))
            if field is None:
                return []
            model = field.annotation
        else:
            args = getattr(model, "__args__", ())
            model = args[-1] if args else None
            if model is None:
                return []
    while not (isinstance(model, type) and issubclass(model, BaseModel)):
        args = getattr(model, "__args__", ())
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            model = models[0]
        elif args:
            model = args[-1]
        else:
            return []
    return list(model.model_fields)


def parse_study(data: Any, where: str = "study", lines: dict | None = None) -> StudySpec:
    """Validate a study from plain data; a problem raises ``ConfigError`` naming the key (and
    its line, given ``lines`` from ``key_lines``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of study keys, got {type(data).__name__}")
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_validation(error, where, lines)) from None
    spec._where, spec._lines = where, dict(lines or {})
    return spec


def load_study(name_or_path: str | Path) -> StudySpec:
    """Read and validate a study file (bundled name or path) with ``yaml.safe_load``."""
    path = find_study(name_or_path)
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(
            f"study {str(path)!r} is not valid YAML: {str(error).splitlines()[0]}; fix the file"
        ) from None
    return parse_study(data, where=f"study {str(path)!r}", lines=key_lines(text))
