"""What a kube-controller-manager command line says about CSR signing. Pure code.

The graders judge the flags the controller manager *runs* with, read from its command line, the
way the controller manager's own flag parser (pflag) reads them: ``--flag=value`` or
``--flag value``, the last occurrence winning. Durations are Go durations (``720h``,
``8760h0m0s``, ``43200m``), which no Python library reads, hence the small parser here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

SIGNING_CERT = "--cluster-signing-cert-file"
SIGNING_KEY = "--cluster-signing-key-file"
SIGNING_DURATION = "--cluster-signing-duration"
CONTROLLERS = "--controllers"
#: The controller manager's default --cluster-signing-duration (v1.37:
#: pkg/controller/certificates/signer/config/v1alpha1/defaults.go, 365 * 24h).
DEFAULT_DURATION = dt.timedelta(hours=8760)

#: The three CSR controllers, by the name ``--controllers`` takes in v1.37 and its short alias
#: (cmd/kube-controller-manager/app/certificates.go). All three are on by default, so ``*``
#: enables them.
CSR_CONTROLLERS = {
    "certificatesigningrequest-signing-controller": "csrsigning",
    "certificatesigningrequest-approving-controller": "csrapproving",
    "certificatesigningrequest-cleaner-controller": "csrcleaner",
}
#: The CSR signing controller, by its v1.37 name.
SIGNER = "certificatesigningrequest-signing-controller"
_CANONICAL = {**{alias: name for name, alias in CSR_CONTROLLERS.items()},
              **{name: name for name in CSR_CONTROLLERS}}

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> dt.timedelta | None:
    """A Go duration ("720h", "8760h0m0s", "1h30m"), or None when Go would refuse it."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body == "0":
        return dt.timedelta(0)
    if not body or _GO_DURATION.sub("", body):
        return None
    seconds = sum(float(n) * _GO_UNITS[unit] for n, unit in _GO_DURATION.findall(body))
    return sign * dt.timedelta(seconds=seconds)


def show_duration(value: dt.timedelta) -> str:
    """720h, 8760h (365 days), 1h30m: as a learner would write it in the flag."""
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if minutes else ""
    text += f"{seconds}s" if seconds or not text else ""
    if hours >= 48 and not rest and hours % 24 == 0:
        text += f" ({hours // 24} days)"
    return text


def flag_values(command: list[str], flag: str) -> list[str]:
    """Every value ``command`` gives ``flag`` (``--flag=v`` or ``--flag v``), in order."""
    values = []
    for i, arg in enumerate(command):
        if arg.startswith(flag + "="):
            values.append(arg[len(flag) + 1:])
        elif arg == flag and i + 1 < len(command):
            values.append(command[i + 1])
    return values


def flag_value(command: list[str], flag: str) -> str | None:
    """The value of ``flag`` that is in force (the last one given), or None when absent."""
    values = flag_values(command, flag)
    return values[-1] if values else None


@dataclass(frozen=True)
class SigningConfig:
    """The CSR signer's configuration that a controller manager command line sets."""

    #: The command line it was read from (the program first).
    command: tuple[str, ...]

    @property
    def cert_file(self) -> str | None:
        return flag_value(list(self.command), SIGNING_CERT)

    @property
    def key_file(self) -> str | None:
        return flag_value(list(self.command), SIGNING_KEY)

    @property
    def duration_text(self) -> str | None:
        """The --cluster-signing-duration value as written, None when the flag is absent."""
        return flag_value(list(self.command), SIGNING_DURATION)

    @property
    def duration(self) -> dt.timedelta | None:
        """The duration in force (the default when absent); None when the value is unreadable."""
        text = self.duration_text
        return DEFAULT_DURATION if text is None else parse_duration(text)

    @property
    def controllers(self) -> list[str]:
        """The --controllers list (default ``*``), every occurrence of the flag in order.

        --controllers is a pflag StringSlice (cmd/kube-controller-manager/app/options/generic.go):
        a second occurrence appends to the first rather than replacing it, so
        ``--controllers=*,-csrsigning --controllers=*,bootstrapsigner`` still disables csrsigning.
        """
        values = flag_values(list(self.command), CONTROLLERS) or ["*"]
        return [c.strip() for value in values for c in value.split(",") if c.strip()]

    def enabled_csr_controllers(self) -> list[str]:
        """The CSR controllers this command runs, by their v1.37 names.

        As the controller manager decides (IsControllerEnabled): an explicit ``name`` or
        ``-name`` wins, else ``*`` enables what is on by default, which all three are.
        """
        explicit: dict[str, bool] = {}
        for item in self.controllers:  # the first mention of a controller decides
            explicit.setdefault(canonical_controller(item.lstrip("-")), not item.startswith("-"))
        return [name for name in CSR_CONTROLLERS if explicit.get(name, "*" in self.controllers)]

    def describe_duration(self) -> str:
        """ "1000h (--cluster-signing-duration=1000h)" or "the default 8760h (365 days; no ... flag)"."""
        text = self.duration_text
        if text is None:
            return f"the default {_noted(DEFAULT_DURATION, f'no {SIGNING_DURATION} flag')}"
        value = self.duration
        if value is None:
            return f"an unreadable duration ({SIGNING_DURATION}={text})"
        return _noted(value, f"{SIGNING_DURATION}={text}")


def _noted(value: dt.timedelta, note: str) -> str:
    """ "720h (30 days; NOTE)": show_duration with the note inside its parentheses."""
    shown = show_duration(value)
    return f"{shown[:-1]}; {note})" if shown.endswith(")") else f"{shown} ({note})"

def canonical_controller(name: str) -> str:
    """The v1.37 name of a CSR controller given by name or alias; other names unchanged."""
    return _CANONICAL.get(name.strip(), name.strip())


def short_names(names: list[str]) -> str:
    """ "csrsigning, csrapproving and csrcleaner" for messages."""
    shorts = [CSR_CONTROLLERS.get(n, n) for n in names]
    if len(shorts) < 2:
        return "".join(shorts) or "none"
    return ", ".join(shorts[:-1]) + " and " + shorts[-1]
