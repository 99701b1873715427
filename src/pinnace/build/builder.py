"""``pinnace build``: a Dockerfile's stages executed into an image, step by step, with a cache.

Each stage starts from its FROM (an image, a stage before it, or scratch) and keeps an
:class:`~pinnace.build.state.ImageState`.  Metadata instructions change the config as BuildKit's
dockerfile frontend does (the same history ``created_by`` texts, ``empty_layer`` set); RUN, COPY and
ADD add a layer (:mod:`.run`, :mod:`.copy`) unless the cache (:mod:`.cache`) has the step already:
a fully cached rebuild runs no container.  Only the stages the target needs are built.

Services never print: progress goes to a :class:`Progress` the front gives.
"""

from __future__ import annotations

import json
import os
import time
from types import MappingProxyType

from pinnace._util.record import record
from pinnace.build.dockerfile import DockerfileError, Instruction, arg_pairs, expand, expand_words, key_values
from pinnace.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from pinnace.build.cache import BuildCache
    from pinnace.build.context import IgnoreMatcher
    from pinnace.build.dockerfile import Dockerfile
    from pinnace.build.state import ImageState
    from pinnace.images.records import Image
    from pinnace.images.stores import Stores
    from pinnace.oci.reference import Reference

#: The proxy variables docker passes to RUN without declaring them (and keeps out of the image).
PROXY_ARGS = frozenset(
    n for p in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY") for n in (p, p.lower())
)
DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Where a built image's config keeps the cache keys of its layer steps (BuildKit keeps its inline
#: cache at the config's top level too): ``--cache-from`` that image, here or after a pull elsewhere,
#: then hits those steps.
INLINE_CACHE = "pinnace.build.cache.v0"


NOTHING: Mapping[str, str] = MappingProxyType({})


@record
class BuildOptions:
    context_dir: str
    dockerfile: str  # the Dockerfile's text
    dockerfile_name: str = "Dockerfile"
    tags: Sequence[Reference] = ()
    build_args: Mapping[str, str] = NOTHING
    labels: Mapping[str, str] = NOTHING
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    network: str = "default"
    secrets: Mapping[str, str] = NOTHING  # id -> host file
    cache_from: Sequence[str] = ()
    source_date_epoch: int | None = None


class Progress:
    """What the builder reports; the CLI prints it.  The default reports nothing."""

    def step(self, number: int, text: str) -> None: ...

    def cached(self, number: int) -> None: ...

    def missed(self, number: int, why: str) -> None: ...

    def output(self, number: int, data: bytes) -> None: ...

    def done(self, number: int, seconds: float) -> None: ...

    def note(self, text: str) -> None: ...


class Stage:
    """A FROM and the instructions after it; ``name`` is its ``AS`` name, lower-cased ("" if none)."""

    def __init__(self, index: int, name: str, base: Instruction, instructions: list[Instruction]) -> None:
        self.index = index
        self.name = name
        self.base = base
        self.instructions = instructions


@record
class _Result:
    state: ImageState
    key: str


class Builder:
    def __init__(
        self,
        stores: Stores,
        cache: BuildCache,
        runroot: str,
        *,
        pull: Callable[[str], Image],
        matcher: IgnoreMatcher,
        progress: Progress | None = None,
    ) -> None:
        self.stores = stores
        self.cache = cache
        self.runroot = runroot
        self.pull = pull
        self.matcher = matcher
        self.progress = progress or Progress()
        self._number = 0
        import threading

        self._lock = threading.Lock()
        self._unused_args: set[str] = set()

    # -- the whole build

    def build(self, dockerfile: Dockerfile, options: BuildOptions) -> Image:
        """Build ``options.target`` (the last stage by default); the image, tagged as asked."""
        from pinnace.meta.operations import operation

        self.options = options
        self.escape = dockerfile.escape
        self.name = options.dockerfile_name
        global_args, stages = self._stages(dockerfile)
        target = self._target(stages, options.target)
        deps = self._deps(stages, self._arg_values(global_args))
        needed = self._needed(target, deps)
        self._unused_args = set(options.build_args) - PROXY_ARGS
        results: dict[int, _Result] = {}
        self._all = stages
        self._results = results
        with operation(self.stores.root_dir):
            for ref in options.cache_from:
                self._seed_cache(ref)
            self._run_stages(stages, needed, deps, results, global_args)
            image = self._finish(results[target.index])
        for name in sorted(self._unused_args):
            self.progress.note(f"[Warning] One or more build-args [{name}] were not consumed")
        return image

    def _stages(self, dockerfile: Dockerfile) -> tuple[dict[str, str | None], list[Stage]]:
        """The ARGs before the first FROM, and the stages."""
        global_args: dict[str, str | None] = {}
        stages: list[Stage] = []
        for ins in dockerfile.instructions:
            if ins.keyword == "FROM":
                stages.append(Stage(len(stages), "", ins, []))
            elif not stages:
                if ins.keyword != "ARG":
                    raise self._error(ins, "no build stage in current context")
                for name, value in arg_pairs(ins, self.escape):
                    if value is not None:
                        value = self._expand(ins, value, self._arg_values(global_args))
                    global_args[name] = value
            else:
                stages[-1].instructions.append(ins)
        if not stages:
            raise DockerfileError(f"{self.name}: no build stage in current context")
        from pinnace.build.dockerfile import split_from

        for stage in stages:
            stage.name = split_from(stage.base)[1]
        return global_args, stages

    def _arg_values(self, declared: Mapping[str, str | None]) -> dict[str, str]:
        """The values FROM lines see: the platform ARGs, then the ARGs before the first FROM."""
        out = dict(platform_args())
        out.update(self.arg_values(declared))
        return out

    def arg_values(self, declared: Mapping[str, str | None]) -> dict[str, str]:
        """Declared ARGs with values: the build's, else the default, else a platform ARG's value."""
        out = {}
        platform = platform_args()
        for name, default in declared.items():
            value = self.options.build_args.get(name, default if default is not None else platform.get(name))
            if value is not None:
                out[name] = value
        return out

    def _target(self, stages: Sequence[Stage], target: str) -> Stage:
        if not target:
            return stages[-1]
        for stage in stages:
            if stage.name == target.lower():
                return stage
        raise InvalidArgument(f'target stage "{target}" could not be found')

    def _deps(self, stages: Sequence[Stage], args: Mapping[str, str]) -> dict[int, set[int]]:
        """Each stage's earlier stages it builds on (FROM a stage, COPY --from, RUN --mount from=)."""
        from pinnace.build.dockerfile import split_from

        by_name = {s.name: s.index for s in stages if s.name}
        deps: dict[int, set[int]] = {}
        for stage in stages:
            refs = [self._expand(stage.base, split_from(stage.base)[0], args)]
            for ins in stage.instructions:
                for flag, value in ins.flags:
                    if flag == "from" and ins.keyword in ("COPY", "ADD"):
                        refs.append(value)
                    elif flag == "mount":
                        refs += [p[5:] for p in value.split(",") if p.startswith("from=")]
            found = set()
            for ref in refs:
                name = ref.lower()
                if name in by_name and by_name[name] < stage.index:
                    found.add(by_name[name])
                elif name.isdigit() and int(name) < stage.index:
                    found.add(int(name))
            deps[stage.index] = found
        return deps

    def _needed(self, target: Stage, deps: Mapping[int, set[int]]) -> set[int]:
        """The target and every stage it needs, transitively; the others are never built."""
        needed: set[int] = set()
        todo = [target.index]
        while todo:
            index = todo.pop()
            if index not in needed:
                needed.add(index)
                todo += deps[index]
        return needed

    def _run_stages(
        self,
        stages: Sequence[Stage],
        needed: set[int],
        deps: Mapping[int, set[int]],
        results: dict[int, _Result],
        global_args: Mapping[str, str | None],
    ) -> None:
        """Build the needed stages, each as soon as the stages it needs are done: independent stages
        run side by side.  One lock keeps the store's connection to one thread at a time; a step lets
        go of it while its container runs or its files copy (:meth:`unlocked`)."""
        import threading

        order = [s for s in stages if s.index in needed]
        if len(order) == 1:
            with self._lock:
                results[order[0].index] = self._stage(order[0], stages, results, global_args)
            return
        done = {s.index: threading.Event() for s in order}
        errors: list[BaseException] = []

        def work(stage: Stage) -> None:
            try:
                for dep in deps[stage.index]:
                    done[dep].wait()
                with self._lock:
                    if not errors:
                        results[stage.index] = self._stage(stage, stages, results, global_args)
            except BaseException as e:  # noqa: BLE001 - handed to the calling thread
                errors.append(e)
            finally:
                done[stage.index].set()

        threads = [threading.Thread(target=work, args=(s,), name=f"stage-{s.index}") for s in order]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def unlocked(self) -> Any:
        """A block run without the builder's lock (a container running, files copying)."""
        builder = self

        class _Unlocked:
            def __enter__(self) -> None:
                builder._lock.release()

            def __exit__(self, *_: object) -> None:
                builder._lock.acquire()

        return _Unlocked()

    # -- one stage

    def _stage(
        self,
        stage: Stage,
        stages: Sequence[Stage],
        results: Mapping[int, _Result],
        global_args: Mapping[str, str | None],
    ) -> _Result:
        from pinnace.build.dockerfile import split_from

        image_ref = self._expand(stage.base, split_from(stage.base)[0], self._arg_values(global_args))
        self._consume(global_args)
        for flag, value in stage.base.flags:
            if flag == "platform" and not native(
                self._expand(stage.base, value, self._arg_values(global_args))
            ):
                raise self._error(
                    stage.base,
                    f'platform "{value}" is not supported: pinnace builds for the native platform only',
                )
        number = self._begin(f"[{self._label(stage)} 1/{len(stage.instructions) + 1}] FROM {image_ref}")
        state, key = self._base(stage, image_ref, stages, results)
        if "PATH" not in state.env():  # BuildKit gives an image without PATH the default one
            state.set_env("PATH", DEFAULT_PATH)
        self.progress.done(number, 0.0)
        args: dict[str, str | None] = {}
        run = _Run(self, stage, state, key, args, global_args)
        base_triggers = list(state.config.get("OnBuild") or [])
        if base_triggers:
            state.config["OnBuild"] = None
            from pinnace.build.dockerfile import parse

            for trigger in base_triggers:
                for ins in parse(str(trigger), self.name).instructions:
                    run.step(ins, f"[{self._label(stage)}] ONBUILD {ins.original}")
        for i, ins in enumerate(stage.instructions, 2):
            run.step(ins, f"[{self._label(stage)} {i}/{len(stage.instructions) + 1}] {ins.original}")
        return _Result(run.state, run.key)

    def _label(self, stage: Stage) -> str:
        return stage.name or f"stage-{stage.index}"

    def _base(
        self, stage: Stage, ref: str, stages: Sequence[Stage], results: Mapping[int, _Result]
    ) -> tuple[ImageState, str]:
        from pinnace.build.cache import step_key
        from pinnace.build.state import ImageState

        name = ref.lower()
        for other in stages[: stage.index]:
            if other.name and other.name == name:
                done = results[other.index]
                return done.state.clone(), done.key
        if name == "scratch":
            return ImageState.scratch(), step_key("", {"from": "scratch"})
        image = self._image(ref)
        return ImageState.of_image(self.stores, image), step_key("", {"from": image.id})

    def _image(self, ref: str) -> Image:
        """A base image: the local one, or pulled (always with ``--pull``)."""
        if self.options.pull:
            return self.pull(ref)
        try:
            return self.stores.records.resolve(ref)
        except NotFound:
            return self.pull(ref)

    def stage_state(self, name: str, before: int) -> ImageState | None:
        """The result of the stage named (or numbered) ``name`` built before stage ``before``."""
        for stage in self._all[:before]:
            if stage.name == name or str(stage.index) == name:
                return self._results[stage.index].state
        return None

    def _seed_cache(self, ref: str) -> None:
        """Rows for the layer steps ``ref``'s build recorded in its config (``--cache-from``); an
        image built without them seeds nothing, as docker's inline cache."""
        from pinnace.build.cache import Entry
        from pinnace.build.state import ImageState
        from pinnace.oci.config import chain_ids

        try:
            state = ImageState.of_image(self.stores, self._image(ref))
        except NotFound:
            self.progress.note(f"[Warning] --cache-from {ref}: no such image")
            return
        diff_ids = state.diff_ids
        chains = chain_ids(diff_ids)
        for step in state.doc.get(INLINE_CACHE) or []:
            key, index = str(step.get("key", "")), step.get("layer")
            if not key or self.cache.get(key) is not None:
                continue
            if index is None:
                entry = Entry(key, "", "", 0, "", "", str(step.get("created", "")))
            elif isinstance(index, int) and 0 <= index < len(state.layers):
                layer = state.layers[index]
                entry = Entry(
                    key, layer.media_type, str(layer.digest), layer.size, diff_ids[index], str(chains[index]),
                    str(step.get("created", "")),
                )  # fmt: skip
            else:
                continue
            self.cache.put(key, str(step.get("parent", "")), {"cache-from": ref}, entry)

    def _consume(self, declared: Mapping[str, str | None]) -> None:
        self._unused_args -= set(declared)

    # -- helpers the steps share

    def _begin(self, text: str) -> int:
        self._number += 1
        self.progress.step(self._number, text)
        return self._number

    def _expand(self, ins: Instruction, word: str, env: Mapping[str, str]) -> str:
        try:
            return expand(word, env, self.escape)
        except DockerfileError as e:
            raise self._error(ins, str(e)) from None

    def _words(self, ins: Instruction, text: str, env: Mapping[str, str]) -> list[str]:
        try:
            return expand_words(text, env, self.escape)
        except DockerfileError as e:
            raise self._error(ins, str(e)) from None

    def _error(self, ins: Instruction, message: str) -> DockerfileError:
        prefix = f"{self.name}:{ins.line}: "
        return DockerfileError(message if message.startswith(prefix) else prefix + message)

    def _created(self) -> str:
        from pinnace.images.stores import now_rfc3339
        from pinnace.images.views import rfc3339

        if self.options.source_date_epoch is not None:
            return rfc3339(float(self.options.source_date_epoch))
        return now_rfc3339()

    # -- the image

    def _finish(self, final: _Result) -> Image:
        from pinnace.images.create import store_image

        state = final.state
        if self.options.labels:
            labels = dict(state.config.get("Labels") or {})
            labels.update(self.options.labels)
            state.config["Labels"] = labels
        doc = dict(state.doc)
        history = doc.get("history") or []
        doc["created"] = (history[-1].get("created") if history else "") or self._created()
        doc.pop("container", None)
        doc.pop("container_config", None)
        doc.pop(INLINE_CACHE, None)
        if state.steps:
            doc[INLINE_CACHE] = state.steps
        number = self._begin("exporting to image")
        image = store_image(
            self.stores,
            dict(sorted(doc.items())),
            state.layers,
            manifest_type=state.manifest_type,
            tags=list(self.options.tags),
        )
        self.progress.output(number, f"writing image {image.id}\n".encode())
        for tag in self.options.tags:
            self.progress.output(number, f"naming to {tag}\n".encode())
        self.progress.done(number, 0.0)
        return image


class _Run:
    """The instructions of one stage, applied in order to its state."""

    def __init__(
        self,
        builder: Builder,
        stage: Stage,
        state: ImageState,
        key: str,
        args: dict[str, str | None],
        global_args: Mapping[str, str | None],
    ) -> None:
        self.b = builder
        self.stage = stage
        self.state = state
        self.key = key
        self.args = args
        self.global_args = global_args
        self.shell = list(state.config.get("Shell") or DEFAULT_SHELL)
        self.cmd_set = False
        # Metadata steps take the time of the layer under them (the base image's at first), so a fully
        # cached rebuild gives the same config, hence the same image ID, as docker's does.
        history = state.doc.get("history") or []
        self.last_created = str(history[-1].get("created", "") if history else state.doc.get("created", ""))

    # -- environment

    def arg_env(self) -> dict[str, str]:
        """The declared ARGs with values (the build's, else the defaults)."""
        return self.b.arg_values(self.args)

    def env(self) -> dict[str, str]:
        """What variables expand to: the ARGs, then the config's ENV over them (docker's order)."""
        return {**self.arg_env(), **self.state.env()}

    def run_env(self) -> list[str]:
        """The environment of a RUN: the config's, plus the ARGs (not kept in the image) and the
        proxy variables given as build args."""
        env = self.state.env()
        extra = {k: v for k, v in self.arg_env().items() if k not in env}
        extra.update({k: v for k, v in self.b.options.build_args.items() if k in PROXY_ARGS and k not in env})
        return [f"{k}={v}" for k, v in {**env, **extra}.items()]

    # -- steps

    def step(self, ins: Instruction, title: str) -> None:
        handler = getattr(self, "do_" + ins.keyword.lower(), None)
        if handler is None:
            raise self.b._error(ins, f"unknown instruction: {ins.keyword}")
        number = self.b._begin(title)
        started = time.monotonic()
        handler(ins, number)
        self.b.progress.done(number, time.monotonic() - started)

    def _meta(self, created_by: str, inputs: Mapping[str, Any]) -> None:
        """A step that changes only the config: a history entry with ``empty_layer``."""
        from pinnace.build.cache import step_key

        self.key = step_key(self.key, inputs)
        created = self.b._created() if self.b.options.source_date_epoch is not None else ""
        self.state.add_history(
            created or self.last_created or self.b._created(), created_by, empty_layer=True
        )

    def do_env(self, ins: Instruction, number: int) -> None:
        pairs = []
        for name, raw in key_values(ins, self.b.escape):
            value = self.b._expand(ins, raw, self.env())
            self.state.set_env(name, value)
            pairs.append(f"{name}={value}")
        self._meta("ENV " + " ".join(pairs), {"env": pairs})

    def do_label(self, ins: Instruction, number: int) -> None:
        labels = dict(self.state.config.get("Labels") or {})
        pairs = []
        for raw_name, raw in key_values(ins, self.b.escape):
            name = self.b._expand(ins, raw_name, self.env())
            labels[name] = self.b._expand(ins, raw, self.env())
            pairs.append(f"{name}={labels[name]}")
        self.state.config["Labels"] = labels
        self._meta("LABEL " + " ".join(pairs), {"label": pairs})

    def do_arg(self, ins: Instruction, number: int) -> None:
        shown = []
        for name, default in arg_pairs(ins, self.b.escape):
            if default is not None:
                default = self.b._expand(ins, default, self.env())
            elif name in self.global_args:
                default = self.global_args[name]
            self.args[name] = default
            self.b._unused_args.discard(name)
            value = self.b.options.build_args.get(name, default)
            shown.append(f"{name}={value}" if value is not None else name)
        self._meta("ARG " + " ".join(shown), {"arg": shown})

    def _command(self, ins: Instruction) -> list[str]:
        if ins.json:
            return list(ins.args)
        return [*self.shell, ins.args[0] if ins.args else ""]

    def do_cmd(self, ins: Instruction, number: int) -> None:
        cmd = self._command(ins)
        self.state.config["Cmd"] = cmd
        self.cmd_set = True
        self._meta(f"CMD {_go_quote(cmd)}", {"cmd": cmd})

    def do_entrypoint(self, ins: Instruction, number: int) -> None:
        entrypoint = self._command(ins)
        self.state.config["Entrypoint"] = entrypoint
        if not self.cmd_set:
            self.state.config["Cmd"] = None  # docker: ENTRYPOINT resets a CMD the base image set
        self._meta(f"ENTRYPOINT {_go_quote(entrypoint)}", {"entrypoint": entrypoint})

    def do_workdir(self, ins: Instruction, number: int) -> None:
        path = self.b._expand(ins, ins.args[0] if ins.args else "", self.env())
        if not path.startswith("/"):
            path = os.path.join(self.state.config.get("WorkingDir") or "/", path)
        path = os.path.normpath(path)
        self.state.config["WorkingDir"] = path
        self._meta(f"WORKDIR {path}", {"workdir": path})

    def do_user(self, ins: Instruction, number: int) -> None:
        user = self.b._expand(ins, ins.args[0] if ins.args else "", self.env())
        self.state.config["User"] = user
        self._meta(f"USER {user}", {"user": user})

    def do_expose(self, ins: Instruction, number: int) -> None:
        ports = dict(self.state.config.get("ExposedPorts") or {})
        added = []
        for word in self.b._words(ins, " ".join(ins.args), self.env()):
            for port in _ports(ins, word, self.b):
                ports[port] = {}
                added.append(port)
        self.state.config["ExposedPorts"] = ports
        self._meta(f"EXPOSE map[{' '.join(f'{p}:{{}}' for p in sorted(added))}]", {"expose": added})

    def do_volume(self, ins: Instruction, number: int) -> None:
        paths = list(ins.args) if ins.json else self.b._words(ins, " ".join(ins.args), self.env())
        paths = [self.b._expand(ins, p, self.env()) if ins.json else p for p in paths]
        if not paths or any(not p.strip() for p in paths):
            raise self.b._error(ins, "VOLUME specified can not be an empty string")
        volumes = dict(self.state.config.get("Volumes") or {})
        volumes.update({p: {} for p in paths})
        self.state.config["Volumes"] = volumes
        self._meta(f"VOLUME [{' '.join(paths)}]", {"volume": paths})

    def do_stopsignal(self, ins: Instruction, number: int) -> None:
        signal = self.b._expand(ins, ins.args[0] if ins.args else "", self.env())
        self.state.config["StopSignal"] = signal
        self._meta(f"STOPSIGNAL {signal}", {"stopsignal": signal})

    def do_shell(self, ins: Instruction, number: int) -> None:
        if not ins.json:
            raise self.b._error(ins, "SHELL requires the arguments to be in JSON form")
        self.shell = list(ins.args)
        self.state.config["Shell"] = self.shell
        self._meta(f"SHELL [{' '.join(self.shell)}]", {"shell": self.shell})

    def do_maintainer(self, ins: Instruction, number: int) -> None:
        author = self.b._expand(ins, ins.args[0] if ins.args else "", self.env())
        self.state.doc["author"] = author
        self._meta(f"MAINTAINER {author}", {"maintainer": author})

    def do_onbuild(self, ins: Instruction, number: int) -> None:
        inner = ins.onbuild
        if inner is None:
            raise self.b._error(ins, "ONBUILD requires at least one argument")
        expression = inner.original + "".join(f"\n{h.content}{h.name}" for h in inner.heredocs)
        triggers = [*(self.state.config.get("OnBuild") or []), expression]
        self.state.config["OnBuild"] = triggers
        self._meta(f"ONBUILD {expression}", {"onbuild": expression})

    def do_healthcheck(self, ins: Instruction, number: int) -> None:
        from pinnace.build.healthcheck import parse_healthcheck

        try:
            health = parse_healthcheck(ins)  # CMD-SHELL runs in the container's default shell, not SHELL's
        except InvalidArgument as e:
            raise self.b._error(ins, str(e)) from None
        self.state.config["Healthcheck"] = health
        self._meta(f"HEALTHCHECK {_go_quote(health.get('Test') or [])}", {"healthcheck": health})

    # -- layer steps

    def _layer_step(
        self, ins: Instruction, number: int, inputs: dict[str, Any], created_by: str, make: Callable[[], Any]
    ) -> None:
        """Look the step up in the cache; run ``make`` on a miss; add its layer (if any) and history."""
        from pinnace.build.cache import Entry, step_key
        from pinnace.oci import mediatype
        from pinnace.oci.descriptor import Descriptor

        parent = self.key
        if self.b.options.source_date_epoch is not None:  # the layer's mtimes are clamped to it
            inputs = {**inputs, "epoch": self.b.options.source_date_epoch}
        key = step_key(parent, inputs)
        entry = None if self.b.options.no_cache else self.b.cache.get(key)
        if entry is not None and not self._usable(entry):
            entry = None
        if entry is not None:
            self.b.progress.cached(number)
        else:
            if not self.b.options.no_cache:
                self.b.progress.missed(number, self.b.cache.why_missed(parent, inputs))
            made = make()
            media = ""
            if made is not None:
                docker = self.state.manifest_type == mediatype.DOCKER_MANIFEST
                media = mediatype.DOCKER_LAYER if docker else mediatype.OCI_LAYER
            entry = Entry(
                key, media, made.digest if made else "", made.size if made else 0,
                made.diff_id if made else "", made.chain_id if made else "", self.b._created(),
            )  # fmt: skip
            self.b.cache.put(key, parent, inputs, entry)
        self.key = key
        if entry.digest:
            from pinnace.oci.digest import Digest

            self.state.add_layer(
                Descriptor(entry.media_type, Digest(entry.digest), entry.size), entry.diff_id
            )
        created = self.b._created() if self.b.options.source_date_epoch is not None else entry.created
        self.last_created = created
        self.state.add_history(created, created_by, empty_layer=not entry.digest)
        index = len(self.state.layers) - 1 if entry.digest else None
        self.state.steps.append({"key": key, "parent": parent, "layer": index, "created": created})

    def _usable(self, entry: Any) -> bool:
        """A cached layer whose blob or snapshot is gone (pruned outside the cache) is a miss."""
        from pinnace.images.unpack import has_snapshot
        from pinnace.oci.digest import Digest

        if not entry.digest:
            return True
        return bool(self.b.stores.content.exists(Digest(entry.digest))) and has_snapshot(
            self.b.stores.snapshots, entry.chain_id
        )

    def do_run(self, ins: Instruction, number: int) -> None:
        import contextlib

        from pinnace.build.run import RunSpec, run_step

        args = self._command(ins)
        if ins.heredocs:
            args = self._heredoc_command(ins, args)
        network = self.b.options.network
        with contextlib.ExitStack() as stack:
            if any(flag == "mount" for flag, _ in ins.flags):
                from pinnace.build.mounts import run_mount
            mounts: list[dict[str, Any]] = []
            keyed: list[Any] = []
            for flag, value in ins.flags:
                if flag == "network":
                    network = value
                elif flag == "mount":
                    mount, key = run_mount(self.b, self, ins, value, stack)
                    if mount:
                        mounts.append(mount)
                    if key is not None:
                        keyed.append(key)
                elif flag != "security":
                    raise self.b._error(ins, f"unknown flag: {flag}")
            env = self.run_env()
            user = str(self.state.config.get("User") or "")
            cwd = str(self.state.config.get("WorkingDir") or "/")
            inputs = {
                "run": args,
                "env": sorted(env),
                "user": user,
                "cwd": cwd,
                "network": network,
                "mounts": keyed,
            }
            spec = RunSpec(args=args, env=env, cwd=cwd, user=user, network=network, mounts=mounts)

            def make() -> Any:
                return run_step(
                    self.b.stores, self.b.runroot, self.state.chain, self.state.diff_ids, spec,
                    lambda data: self.b.progress.output(number, data),
                    clamp_mtime=self.b.options.source_date_epoch, unlocked=self.b.unlocked,
                )  # fmt: skip

            self._layer_step(ins, number, inputs, f"RUN {' '.join(args)} # buildkit", make)

    def _heredoc_command(self, ins: Instruction, args: list[str]) -> list[str]:
        """``RUN <<EOF`` alone: the body is the script, run by the shell; with a command, the bodies
        become files the command reads (``cat <<EOF``-style, as the shell would)."""
        first = ins.heredocs[0]
        body = self.b._expand(ins, first.content, self.env()) if first.expand else first.content
        text = (ins.args[0] if ins.args else "").strip()
        if text in (f"<<{first.name}", f"<<-{first.name}", f'<<"{first.name}"', f"<<'{first.name}'"):
            if body.startswith("#!"):
                return [*self.shell[:1], "-c", body]
            return [*self.shell, body]
        script = text
        for doc in ins.heredocs:
            content = self.b._expand(ins, doc.content, self.env()) if doc.expand else doc.content
            script += f"\n{content}{doc.name}"
        return [*self.shell, script]

    def do_copy(self, ins: Instruction, number: int) -> None:
        self._copy(ins, number, add=False)

    def do_add(self, ins: Instruction, number: int) -> None:
        self._copy(ins, number, add=True)

    def _copy(self, ins: Instruction, number: int, *, add: bool) -> None:
        from pinnace.build.sources import gather

        with gather(self.b, self, ins, add=add) as plan:

            def make() -> Any:
                from pinnace.build.copy import copy_step

                return copy_step(
                    self.b.stores, self.b.runroot, self.state.chain, self.state.diff_ids, plan.sources,
                    plan.dest, workdir=str(self.state.config.get("WorkingDir") or "/"), chown=plan.chown,
                    chmod=plan.chmod, unpack_archives=add, clamp_mtime=self.b.options.source_date_epoch,
                    unlocked=self.b.unlocked,
                )  # fmt: skip

            self._layer_step(ins, number, plan.inputs, plan.created_by, make)


def _ports(ins: Instruction, word: str, builder: Builder) -> list[str]:
    """``80``, ``80/udp``, ``8000-8002/tcp`` -> ["80/tcp"], ...; docker's errors for the rest."""
    port, _, proto = word.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise builder._error(ins, f"invalid proto: {proto}")
    low, sep, high = port.partition("-")
    try:
        start, end = int(low), int(high) if sep else int(low)
    except ValueError:
        raise builder._error(ins, f"invalid containerPort: {port}") from None
    if not (0 < start <= 65535 and 0 < end <= 65535) or end < start:
        raise builder._error(ins, f"invalid range: {port}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def platform_args() -> dict[str, str]:
    """BuildKit's automatic platform ARGs (BUILDPLATFORM, TARGETARCH, ...): this machine, the only
    platform pinnace builds for."""
    arch = _arch()
    out = {}
    for prefix in ("BUILD", "TARGET"):
        out.update(
            {
                f"{prefix}PLATFORM": f"linux/{arch}",
                f"{prefix}OS": "linux",
                f"{prefix}ARCH": arch,
                f"{prefix}VARIANT": "",
            }
        )
    return out


def native(platform: str) -> bool:
    """Whether ``os[/arch[/variant]]`` is this machine's (``$BUILDPLATFORM`` and ``$TARGETPLATFORM`` are)."""
    if platform in ("$BUILDPLATFORM", "$TARGETPLATFORM", ""):
        return True
    parts = platform.lower().split("/")
    return parts[0] == "linux" and (len(parts) < 2 or parts[1] == _arch())


def _arch() -> str:
    from pinnace.oci.descriptor import Platform

    return Platform.host().architecture


def _go_quote(items: Sequence[str]) -> str:
    """Go's ``%q`` of a string slice: ``["a" "b c"]`` (BuildKit's history texts)."""
    return "[" + " ".join(json.dumps(i) for i in items) + "]"
