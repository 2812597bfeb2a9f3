"""The plan of one `edgekit sweep`, made once where the command's options are read (the
CLI's edge) and frozen: the lists as tuples, the choices (``--quant``, ``--runtime``) and
``--minimalistic`` words read when it is made. :meth:`SweepSpec.validate` checks everything
that can be checked without TensorFlow (each axis against the model, every config against
the zoo's knob ranges, numbers, the profile, the executor and Ray's address, the places the
sweep writes) and returns the checked plan, its configs in it, as a new object: nothing
below the CLI changes a plan. A bad value is one line, before any work."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from edgekit.core.errors import UsageError

TIMED_RUNTIMES = ("litert", "onnxruntime")


@dataclass(frozen=True)
class SweepSpec:
    model: str = "mobilenet"
    # None: the model's default axis (see validate); an axis the model lacks stays None
    alphas: tuple[float, ...] | None = None
    resolutions: tuple[int, ...] | None = None    # checked plan: None is each variant's own
    variants: tuple[str, ...] | None = None
    minimalistic: tuple[bool, ...] | None = None  # 'true'/'false' words or bools
    quants: tuple[str, ...] = ("none", "int8")
    profile: str | None = None
    runtimes: tuple[str, ...] = ()         # measured latency on these
    device: str | None = None
    threads: int = 1
    runs: int = 50
    xnnpack: bool = True
    validation: Path | None = None
    max_latency_ms: float | str | None = None   # a float once checked
    max_ram_bytes: int | None = None
    max_flash_bytes: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    ray_timeout: float | str | None = None  # seconds; None: sweep_ray.CONNECT_BOUND_S
    workers: int | None = None
    out_dir: Path = Path("sweep-out")
    # the checked plan's configs, set by validate() alone: a plan made or replaced from
    # another (dataclasses.replace) is unchecked, whatever it was made from
    configs: tuple[dict, ...] | None = field(default=None, init=False, repr=False,
                                             compare=False)

    def __post_init__(self) -> None:
        from edgekit.core import choices as C
        from edgekit.services.sweep_configs import read_switches

        def put(name, value):
            object.__setattr__(self, name, value)

        for name in ("alphas", "resolutions", "variants"):
            if getattr(self, name) is not None:
                put(name, tuple(getattr(self, name)))
        if self.minimalistic is not None:
            put("minimalistic", tuple(read_switches(self.minimalistic)))
        put("quants", tuple(C.many(C.Quant, self.quants, "--quant")))
        put("runtimes", tuple(C.many(C.Runtime, self.runtimes, "--runtime"))
            if self.runtimes else ())
        put("out_dir", Path(self.out_dir))

    @property
    def checked(self) -> bool:
        return self.configs is not None

    def validate(self) -> SweepSpec:
        """The checked plan (this one when it is checked already): everything that can be
        checked without TensorFlow, the configs expanded."""
        if self.checked:
            return self
        from edgekit.core import choices as C
        from edgekit.core.device_profiles import get_profile
        from edgekit.core.numbers import read_number
        from edgekit.services.sweep_build import validation_data
        from edgekit.services.sweep_configs import check_axes, expand_configs
        from edgekit.zoo import registry

        entry = registry.get(self.model)
        axes = check_axes(entry, self.variants, self.alphas, self.resolutions,
                          self.minimalistic)
        configs = expand_configs(self.model, axes, self.quants)  # each knob in range, one line
        if "keras" in self.runtimes:
            raise UsageError("--runtime keras: a sweep times the exported files "
                             f"({', '.join(TIMED_RUNTIMES)})")
        C.in_range(self.threads, 1, C.MAX_THREADS, "--threads")
        C.in_range(self.runs, 1, C.MAX_RUNS, "--runs")
        if self.profile:
            get_profile(self.profile)
        if self.device and not self.runtimes:
            raise UsageError("--device: name the runtime to time there with --runtime "
                             "(litert, onnxruntime)")
        max_latency = self.max_latency_ms
        if max_latency is not None:
            max_latency = read_number(max_latency, "--max-latency", 0, C.MAX_SECONDS * 1e3,
                                      "ms", lo_open=True)
        if max_latency is not None and not (self.runtimes or self.profile):
            raise UsageError("--max-latency needs a latency: time the configs (--runtime) or "
                             "estimate them on a device profile (--profile)")
        if self.validation is not None:
            validation_data(self.validation, classes=entry.defaults().get("classes"))
        address, timeout = self._check_executor()
        self._check_places()
        plan = replace(self, variants=axes["variant"], minimalistic=axes["minimalistic"],
                       alphas=axes["alpha"], resolutions=axes["resolution"],
                       max_latency_ms=max_latency, ray_address=address, ray_timeout=timeout)
        object.__setattr__(plan, "configs", tuple(configs))    # before anyone holds it
        return plan

    def _check_executor(self) -> tuple[str | None, float | None]:
        """--executor, --ray-address (read as Ray would, before any work), --workers,
        --ray-timeout: (the address, the timeout in seconds) as the plan keeps them."""
        from edgekit.core import choices as C

        if self.executor not in ("local", "ray"):
            raise UsageError(f"--executor {self.executor}: must be local or ray")
        if self.executor == "local" and (self.ray_address or self.workers):
            raise UsageError("--ray-address and --workers go with --executor ray")
        if self.workers is not None:
            C.in_range(self.workers, 1, 1024, "--workers")
        if self.workers is not None and self.ray_address:
            raise UsageError("--workers sets the CPUs of a local Ray; a cluster's nodes have "
                             "their own (ray start --num-cpus N), drop --workers or "
                             "--ray-address")
        address, timeout = self.ray_address, self.ray_timeout
        if address is not None:
            from edgekit.services.sweep_ray import check_address

            address = check_address(address)
        if timeout is not None:
            from edgekit.core.numbers import read_number

            if not address:
                raise UsageError("--ray-timeout bounds connecting to --ray-address; a local "
                                 "Ray is started, not connected to")
            timeout = read_number(timeout, "--ray-timeout", 1, 3600, "s")
        if self.executor == "ray":
            import importlib.util

            if importlib.util.find_spec("ray") is None:
                raise UsageError("--executor ray needs Ray: pip install 'edgekit[ray]'")
        return address, timeout

    def _check_places(self) -> None:
        """Where the sweep writes, before the first build, creating nothing: the output
        folder, the store in it (a folder there is refused now, not after every build),
        and the export cache (a file, a dangling link, a read-only HOME)."""
        from edgekit.core.files import check_output_folder, check_writable
        from edgekit.export.cache import check_cache
        from edgekit.services.sweep_store import STORE

        check_output_folder(self.out_dir)
        check_writable(self.out_dir / STORE)
        check_cache()

    def build_settings(self) -> dict:
        """What a build depends on besides the config (and so goes into its store key)."""
        val = None
        if self.validation is not None:
            from edgekit.core.files import sha256_file

            val = {"path": str(self.validation), "sha256": sha256_file(self.validation)}
        return {"profile": self.profile, "runtimes": sorted(self.runtimes) or ["litert"],
                "validation": val}

    def timing_settings(self, runtime: str) -> dict:
        return {"runtime": runtime, "where": self.device or "host", "threads": self.threads,
                "runs": self.runs, "xnnpack": self.xnnpack}
