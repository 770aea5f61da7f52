"""An access repository spread over several platform emulators, for the reliability suite.

The engine reaches every emulator through its real SDK over HTTP. The helpers here read the
emulators' state and request logs directly (never through the engine), so that the tests can
check what really happened on each platform: who holds what, and which writes succeeded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from accessctl.core.model import principal_key
from accessctl.emulators.github import GitHubEmulator
from accessctl.emulators.gitlab import GitLabEmulator
from accessctl.emulators.graph import GraphEmulator
from accessctl.emulators.http import Emulator, Faults, LoggedRequest
from accessctl.emulators.okta import OktaEmulator

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
"""Requests run from T0 to T0 + 4h; apply runs at T0 + 1h, the sweep at T0 + 5h."""

OKTA_TOKEN = "faults-okta-token"
GRAPH_TOKEN = "faults-graph-token"
# The okta SDK refuses a plain-http org URL unless this is set in the process environment.
OKTA_HTTPS_CHECK_OFF = "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"
PLATFORMS = ("okta", "gitlab", "github", "entra")


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


@dataclass(frozen=True)
class Slot:
    """One managed target: an entitlement and where it grants."""

    platform: str
    entitlement: str
    ref: str
    """The emulator's handle on the target: Okta group id, GitLab group path, GitHub team slug,
    Entra group id."""


Pair = tuple[str, str]
"""(entitlement, principal_key)."""


@dataclass
class World:
    root: Path
    emulators: dict[str, Emulator]
    slots: list[Slot]
    people: list[str]
    requested: dict[str, list[str]] = field(default_factory=dict)
    """Entitlement -> the people (VCS logins) with a request for it."""
    unmanaged: dict[str, list[str]] = field(default_factory=dict)
    """Entitlement -> platform identities seeded as members that no request names."""

    # -- identities -----------------------------------------------------------------------------
    @staticmethod
    def identity(platform: str, person: str) -> str:
        if platform == "okta":
            return f"{person}@acme.example"
        if platform == "entra":
            return f"{person}@corp.example"
        return person  # GitLab username, GitHub login

    def slot(self, entitlement: str) -> Slot:
        return next(s for s in self.slots if s.entitlement == entitlement)

    def wanted(self) -> set[Pair]:
        """Every (entitlement, principal) some request names."""
        return {(s.entitlement, principal_key(self.identity(s.platform, p)))
                for s in self.slots for p in self.requested[s.entitlement]}

    def unmanaged_pairs(self) -> set[Pair]:
        return {(e, principal_key(i)) for e, ids in self.unmanaged.items() for i in ids}

    # -- the platforms' own state ---------------------------------------------------------------
    def holders(self, slot: Slot) -> list[str]:
        """Who holds the target, straight from the emulator, as a list (so duplicates show)."""
        if slot.platform == "okta":
            okta = self._okta
            with okta.lock:
                return [okta.users[uid].login for uid in okta.groups[slot.ref].members]
        if slot.platform == "gitlab":
            return list(self._gitlab.members(slot.ref, kind="groups"))
        if slot.platform == "github":
            github = self._github
            return [*github.team_members("acme", slot.ref), *github.team_pending("acme", slot.ref)]
        graph = self._graph
        with graph.lock:
            return [graph.users[uid].user_principal_name for uid in graph.groups[slot.ref].members]

    def held(self) -> Counter[Pair]:
        """(entitlement, principal) -> how many times the platform lists it (1 when sane)."""
        return Counter((s.entitlement, principal_key(who))
                       for s in self.slots for who in self.holders(s))

    # -- the platforms' request logs ------------------------------------------------------------
    def writes(self, method: str) -> Counter[Pair]:
        """Successful (2xx) membership writes per pair, read from the emulators' request logs:
        PUT/POST adds, DELETE removes. A failed or dropped request never reached the state."""
        by_ref = {(s.platform, s.ref): s.entitlement for s in self.slots}
        counts: Counter[Pair] = Counter()
        for platform, emulator in self.emulators.items():
            with emulator.lock:
                entries = list(emulator.log)
            for entry in entries:
                if not 200 <= entry.status < 300:
                    continue
                found = self.membership_write(platform, entry)
                if found is None or found[0] != method:
                    continue
                _, ref, who = found
                entitlement = by_ref.get((platform, ref))
                if entitlement is not None:
                    counts[(entitlement, principal_key(who))] += 1
        return counts

    def membership_write(self, platform: str, entry: LoggedRequest
                          ) -> tuple[str, str, str] | None:
        """(kind "add"/"remove", target ref, principal) when the request changes a membership."""
        parts = [unquote(p) for p in entry.path.strip("/").split("/")]
        if platform == "okta":
            # /api/v1/groups/{gid}/users/{uid}
            if len(parts) == 6 and parts[2] == "groups" and parts[4] == "users":
                kind = {"PUT": "add", "DELETE": "remove"}.get(entry.method)
                okta = self._okta
                with okta.lock:
                    login = okta.users[parts[5]].login
                return (kind, parts[3], login) if kind else None
            return None
        if platform == "gitlab":
            # POST /api/v4/groups/{id}/members, PUT|DELETE /api/v4/groups/{id}/members/{uid}
            if len(parts) < 5 or parts[2] != "groups" or parts[4] != "members":
                return None
            gitlab = self._gitlab
            if entry.method == "POST" and len(parts) == 5:
                user_id = int(_body(entry)["user_id"])
                kind = "add"
            elif entry.method in ("PUT", "DELETE") and len(parts) == 6:
                user_id, kind = int(parts[5]), "update" if entry.method == "PUT" else "remove"
            else:
                return None
            with gitlab.lock:
                username = gitlab.users[user_id].username
                group = _gitlab_group_path(gitlab, parts[3])
            return kind, group, username
        if platform == "github":
            # {api}/orgs/{org}/teams/{slug}/memberships/{login}
            if "memberships" in parts and "teams" in parts:
                at = parts.index("teams")
                if len(parts) == at + 4 and parts[at + 2] == "memberships":
                    kind = {"PUT": "add", "DELETE": "remove"}.get(entry.method)
                    return (kind, parts[at + 1], parts[at + 3]) if kind else None
            return None
        # Graph: POST /v1.0/groups/{gid}/members/$ref, DELETE /v1.0/groups/{gid}/members/{uid}/$ref
        if len(parts) >= 4 and parts[1] == "groups" and parts[3] == "members" \
                and parts[-1] == "$ref":
            graph = self._graph
            if entry.method == "POST" and len(parts) == 5:
                member = str(_body(entry)["@odata.id"]).rsplit("/", 1)[-1]
                kind = "add"
            elif entry.method == "DELETE" and len(parts) == 6:
                member, kind = parts[4], "remove"
            else:
                return None
            with graph.lock:
                upn = graph.users[member].user_principal_name
            return kind, parts[2], upn
        return None

    # -- faults -----------------------------------------------------------------------------------
    def set_faults(self, rate: float, seed: int, latency: float = 0.0) -> None:
        for n, emulator in enumerate(self.emulators.values()):
            emulator.set_faults(Faults(rate=rate, kinds=("500", "503", "429", "drop"),
                                       retry_after=0, seed=seed + n, latency=latency))

    def faults_off(self) -> None:
        for emulator in self.emulators.values():
            emulator.set_faults(Faults())

    def injected(self) -> Counter[str]:
        """How many requests each emulator answered with an injected fault (0 = dropped)."""
        counts: Counter[str] = Counter()
        for name, emulator in self.emulators.items():
            with emulator.lock:
                counts[name] = sum(1 for e in emulator.log if e.status in (0, 429, 500, 503))
        return counts

    def requests_made(self) -> int:
        return sum(len(e.log) for e in self.emulators.values())

    # -- the engine's side ------------------------------------------------------------------------
    def environ(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if "okta" in self.emulators:
            env["OKTA_API_TOKEN"] = OKTA_TOKEN
        if "gitlab" in self.emulators:
            env["GITLAB_TOKEN"] = self._gitlab.token
        if "github" in self.emulators:
            env["GITHUB_TOKEN"] = self._github.token
        if "entra" in self.emulators:
            env["ENTRA_TOKEN"] = GRAPH_TOKEN
        return env

    @property
    def audit_file(self) -> Path:
        return self.root.parent / "audit.jsonl"

    @property
    def _okta(self) -> OktaEmulator:
        emulator = self.emulators["okta"]
        assert isinstance(emulator, OktaEmulator)
        return emulator

    @property
    def _gitlab(self) -> GitLabEmulator:
        emulator = self.emulators["gitlab"]
        assert isinstance(emulator, GitLabEmulator)
        return emulator

    @property
    def _github(self) -> GitHubEmulator:
        emulator = self.emulators["github"]
        assert isinstance(emulator, GitHubEmulator)
        return emulator

    @property
    def _graph(self) -> GraphEmulator:
        emulator = self.emulators["entra"]
        assert isinstance(emulator, GraphEmulator)
        return emulator


def _body(entry: LoggedRequest) -> dict[str, Any]:
    text = entry.body.decode()
    if "json" in entry.headers.get("content-type", "") or text.startswith("{"):
        data = json.loads(text)
        assert isinstance(data, dict)
        return data
    return {k: v[0] for k, v in parse_qs(text).items()}


def _gitlab_group_path(gitlab: GitLabEmulator, ref: str) -> str:
    if ref.isdigit():
        return str(gitlab.groups[int(ref)].full_path)
    return ref


def read_audit(path: Path) -> list[dict[str, Any]]:
    """Every line of the audit file as JSON; a torn line fails the json parse loudly."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def audit_outcomes(events: Iterable[dict[str, Any]], action: str) -> dict[Pair, list[str]]:
    """(entitlement, principal) -> the outcomes of its `action` events, in file order (the
    `started` line written before each platform write is not an outcome: see `unfinished`)."""
    result: dict[Pair, list[str]] = {}
    for event in events:
        if event.get("outcome") == "started":
            continue
        if event.get("action") == action and event.get("principal"):
            pair = (str(event["entitlement"]), principal_key(str(event["principal"])))
            result.setdefault(pair, []).append(str(event["outcome"]))
    return result


def unfinished(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """`started` lines no later outcome line of the same change follows."""
    open_lines: dict[tuple[str, ...], dict[str, Any]] = {}
    for event in events:
        if event.get("action") not in ("grant", "revoke"):
            continue
        key = (str(event["action"]), str(event["provider"]), str(event["target"]),
               principal_key(str(event["principal"])))
        if event.get("outcome") == "started":
            open_lines[key] = event
        else:
            open_lines.pop(key, None)
    return list(open_lines.values())


# -- building the world ---------------------------------------------------------------------------
def _write_repo(root: Path, world: World, settings: dict[str, dict[str, str]],
                idle: list[str], expires: datetime) -> None:
    (root / "policies" / "entitlements").mkdir(parents=True)
    providers = ["providers:"]
    for name, values in settings.items():
        providers.append(f"  {name}:")
        providers.extend(f"    {k}: {json.dumps(v)}" for k, v in values.items())
    (root / "policies" / "providers.yaml").write_text("\n".join(providers) + "\n")
    everyone = sorted({*world.people, *idle})
    platforms = sorted({s.platform for s in world.slots})
    lines = ["people:"]
    for person in everyone:
        ids = ", ".join(f"{p}: {json.dumps(World.identity(p, person))}" for p in platforms)
        lines.append(f"  {person}: {{{ids}}}")
    lines += ["teams:", f"  \"@acme/everyone\": [{', '.join(world.people)}]",
              "  \"@acme/security\": [sec]", "admins: [\"@acme/security\"]"]
    (root / "policies" / "identities.yaml").write_text("\n".join(lines) + "\n")
    for slot in world.slots:
        instance = f"{slot.platform}-main"
        target = {
            "okta": f"  kind: group\n  group: {json.dumps(slot.ref)}\n",
            "gitlab": f"  kind: group\n  group: {json.dumps(slot.ref)}\n"
                      "  access_level: developer\n",
            "github": f"  kind: team\n  org: acme\n  team: {json.dumps(slot.ref)}\n",
            "entra": f"  kind: group\n  group: {json.dumps(slot.ref)}\n",
        }[slot.platform]
        (root / "policies" / "entitlements" / f"{slot.entitlement}.yaml").write_text(
            f"name: {slot.entitlement}\nprovider: {instance}\ntarget:\n{target}"
            "eligible: [\"@acme/everyone\"]\napprovers: [\"@acme/security\"]\n"
            "approvals: 1\nmax_duration: 8h\n")
        folder = root / "access-requests" / slot.entitlement
        folder.mkdir(parents=True)
        for person in world.requested[slot.entitlement]:
            (folder / f"{person}-jit.yaml").write_text(
                f"requester: {person}\nentitlement: {slot.entitlement}\n"
                f"reason: reliability drill\nexpires_at: {stamp(expires)}\n")


@contextmanager
def build(workspace: Path, platforms: Iterable[str] = PLATFORMS, *, targets_per_platform: int = 2,
          people: int = 125, unmanaged: int = 20) -> Iterator[World]:
    """Start one emulator per platform, seed people, targets and unmanaged members, and write
    the repository: every person asks for every target (people x targets requests)."""
    chosen = list(platforms)
    logins = [f"p{n:03d}" for n in range(people)]
    # Unmanaged members: half strangers to identities.yaml, half known people who asked for nothing.
    strangers = [f"x{n:02d}" for n in range(unmanaged - unmanaged // 2)]
    idle = [f"idle{n:02d}" for n in range(unmanaged // 2)]
    with ExitStack() as stack:
        emulators: dict[str, Emulator] = {}
        settings: dict[str, dict[str, str]] = {}
        slots: list[Slot] = []
        accounts = [*logins, *strangers, *idle]
        for platform in chosen:
            emulator, instance = _start(platform, accounts)
            stack.callback(emulator.stop)
            emulators[platform] = emulator
            settings[f"{platform}-main"] = instance
            for n in range(targets_per_platform):
                ref = _add_target(emulator, platform, f"jit-{n}")
                slots.append(Slot(platform, f"{platform}-jit-{n}", ref))
        world = World(workspace / "repo", emulators, slots, logins)
        world.requested = {s.entitlement: list(logins) for s in slots}
        holders = [*strangers, *idle]
        for n, who in enumerate(holders):
            slot = slots[n % len(slots)]
            identity = World.identity(slot.platform, who)
            _add_member(emulators[slot.platform], slot, identity)
            world.unmanaged.setdefault(slot.entitlement, []).append(identity)
        _write_repo(world.root, world, settings, idle, hours(4))
        yield world


def _start(platform: str, accounts: list[str]) -> tuple[Emulator, dict[str, str]]:
    if platform == "okta":
        okta = OktaEmulator(token=OKTA_TOKEN)
        okta.set_rate_limit(10**9)  # the budget is not under test here; faults are
        okta.start()
        for who in accounts:
            okta.add_user(World.identity("okta", who))
        return okta, {"platform": "okta", "org_url": okta.base_url, "token_env": "OKTA_API_TOKEN"}
    if platform == "gitlab":
        gitlab = GitLabEmulator()
        gitlab.clock = lambda: T0
        gitlab.start()
        gitlab.add_group("acme")
        for who in accounts:
            gitlab.add_user(who)
        return gitlab, {"platform": "gitlab", "url": gitlab.base_url, "token_env": "GITLAB_TOKEN"}
    if platform == "github":
        github = GitHubEmulator()
        github.clock = lambda: T0
        github.start()
        github.add_org("acme")
        for who in accounts:
            github.add_user(who)
            github.add_org_member("acme", who)
        # write_interval 0: GitHub's pause between writes would only slow the suite down.
        return github, {"platform": "github", "base_url": github.api, "token_env": "GITHUB_TOKEN",
                        "write_interval": 0}  # type: ignore[dict-item]
    if platform == "entra":
        graph = GraphEmulator(token=GRAPH_TOKEN)
        graph.set_clock(T0)
        graph.start()
        for who in accounts:
            graph.add_user(World.identity("entra", who))
        return graph, {"platform": "entra", "graph_url": f"{graph.base_url}/v1.0",
                       "auth": "static_token", "static_token_env": "ENTRA_TOKEN"}
    raise ValueError(f"no emulator for {platform}")


def _add_target(emulator: Emulator, platform: str, name: str) -> str:
    if isinstance(emulator, OktaEmulator):
        return emulator.add_group(name)
    if isinstance(emulator, GitLabEmulator):
        emulator.add_group(f"acme/{name}")
        return f"acme/{name}"
    if isinstance(emulator, GitHubEmulator):
        emulator.add_team("acme", name)
        return name
    assert isinstance(emulator, GraphEmulator), platform
    return emulator.add_group(name)


def _add_member(emulator: Emulator, slot: Slot, identity: str) -> None:
    if isinstance(emulator, OktaEmulator):
        emulator.add_member(slot.ref, emulator.user_id(identity))
    elif isinstance(emulator, GitLabEmulator):
        emulator.add_member(slot.ref, identity, 30, kind="groups")
    elif isinstance(emulator, GitHubEmulator):
        emulator.set_team_member("acme", slot.ref, identity)
    else:
        assert isinstance(emulator, GraphEmulator)
        user = emulator.find_user(identity)
        assert user is not None
        emulator.add_member(slot.ref, user.id)
