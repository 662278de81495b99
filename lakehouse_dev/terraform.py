"""Terraform for `terraform/`, with providers built from the Go module proxy.

The Terraform registry is not reachable from the machines this is built on, so each provider is
built from source (`lakehouse_dev/go/terraform-provider-*/`) into a filesystem mirror in the
services cache, and Terraform runs with a CLI configuration that installs from that mirror only.
Terraform itself is the machine's (`terraform`, or OpenTofu's `tofu`: both read the same HCL).
"""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lakehouse.settings import CHECKOUT_ROOT
from lakehouse_dev.services.go_build import WrappedProgram
from lakehouse_dev.services.process import CACHE_DIR, ServiceUnavailable

TERRAFORM_DIR = CHECKOUT_ROOT / "terraform"
MIRROR_DIR = CACHE_DIR / "terraform" / "mirror"
PLATFORM = "linux_amd64"


@dataclass(frozen=True)
class Provider:
    """A provider as Terraform addresses it (``namespace/type``), and the program that is it."""

    namespace: str
    type: str
    program: WrappedProgram

    @property
    def address(self) -> str:
        return f"registry.terraform.io/{self.namespace}/{self.type}"

    def install(self) -> Path:
        """The provider built and placed in the mirror, in Terraform's unpacked layout."""
        version = self.program.version.removeprefix("v")
        target = MIRROR_DIR / self.address / version / PLATFORM / f"terraform-provider-{self.type}_v{version}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.program.build(), target)
        return target


KAFKA = Provider(
    "mongey",
    "kafka",
    WrappedProgram(
        wrapper="terraform-provider-kafka",
        module="github.com/Mongey/terraform-provider-kafka",
        package="github.com/Mongey/terraform-provider-kafka",
        binary_name="terraform-provider-kafka",
    ),
)
HCLOUD = Provider(
    "hetznercloud",
    "hcloud",
    WrappedProgram(
        wrapper="terraform-provider-hcloud",
        module="github.com/hetznercloud/terraform-provider-hcloud",
        package="github.com/hetznercloud/terraform-provider-hcloud",
        binary_name="terraform-provider-hcloud",
    ),
)
PROVIDERS = (KAFKA, HCLOUD)


def cli_config(providers: tuple[Provider, ...] = PROVIDERS) -> Path:
    """A Terraform CLI configuration that installs ``providers`` from the mirror and nothing from
    anywhere else."""
    for provider in providers:
        provider.install()
    includes = ", ".join(f'"{provider.address}"' for provider in providers)
    config = MIRROR_DIR.parent / "terraformrc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{MIRROR_DIR}"\n    include = [{includes}]\n  }}\n'
        "}\n"
    )
    return config


def terraform_executable() -> Path:
    found = shutil.which("terraform") or shutil.which("tofu")
    if found is None:
        raise ServiceUnavailable("neither terraform nor tofu is installed")
    return Path(found)


def terraform(
    *arguments: str, cwd: Path, input_text: str | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run Terraform in ``cwd`` with the mirror's providers, ``input_text`` on its standard input;
    the completed process, whatever its code."""
    environment = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config()), "TF_IN_AUTOMATION": "1"}
    environment["CHECKPOINT_DISABLE"] = "1"  # no call home for a newer version
    return subprocess.run(
        [str(terraform_executable()), *arguments],
        cwd=cwd,
        env=environment,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
