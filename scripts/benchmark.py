"""How long a user waits: `envstack validate` and `envstack synth` per stack, next to the import floor.

The import floor is the time a fresh interpreter takes to import the SDK modules `synth` actually imports (found
by running it once and reading sys.modules): no synth can be faster. Each figure is the median (and the fastest) of
--runs fresh processes, as a user runs the command. It prints figures and never fails on them: speed targets are
read by people (README, issue 14), not asserted by tests.

With --pytest it also runs the test suite once as `make unit` runs it (`make bench` does) and prints its wall time,
its CPU time and the load average before and after: on a machine others are using, the wall time says little,
while the CPU time divided by the workers is about what an idle machine would take.

    make bench                                  # prod, 3 runs, and the test suite (BENCH_STACKS="dev prod")
    .venv/bin/python scripts/benchmark.py dev prod --runs 5
"""

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDKS = ("pulumi", "pulumi_aws", "pulumi_eks", "pulumi_kubernetes", "pulumi_random", "pulumi_policy")
ENVSTACK = [sys.executable, "-m", "envstack.cli"]


def wall(argv: Sequence[str]) -> float:
    """Seconds one fresh process takes (its output discarded; its exit code does not matter here)."""
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def sdk_modules(stack: str) -> list[str]:
    """The SDK modules one `envstack synth STACK` imports."""
    code = ("import sys\nfrom envstack import cli\ncli.main(['synth', sys.argv[1], '--quiet'])\n"
            f"print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in {SDKS!r})))")
    result = subprocess.run([sys.executable, "-c", code, stack], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    return result.stdout.split()


def figures(argv: Sequence[str], runs: int) -> tuple[float, float]:
    times = [wall(argv) for _ in range(runs)]
    return statistics.median(times), min(times)


def bytecode_state() -> str:
    site = Path(sysconfig.get_paths()["purelib"])
    compiled = any((site / "pulumi_aws" / "__pycache__").glob("*.pyc"))
    no_write = os.environ.get("PYTHONDONTWRITEBYTECODE") or "unset"
    return (f"SDK bytecode in .venv: {'yes' if compiled else 'NO (run make setup)'}; "
            f"PYTHONDONTWRITEBYTECODE={no_write}")


def pytest_figures() -> str:
    """One run of the suite as `make unit` runs it: wall, CPU (every process), workers, load before and after."""
    load_before = os.getloadavg()[0]
    before = os.times()
    start = time.perf_counter()
    result = subprocess.run(["make", "-s", "unit"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            check=False)
    elapsed = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    workers = os.cpu_count() or 1
    status = "passed" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
    return (f"pytest ({status}): {elapsed:.1f} s wall, {cpu:.1f} s CPU over {workers} workers "
            f"(~{cpu / workers:.1f} s on an idle machine); load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", default=["prod"], help="stacks to time (default: prod)")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per figure (default 3)")
    parser.add_argument("--pytest", action="store_true", help="also time the test suite as `make unit` runs it")
    args = parser.parse_args(argv)
    print(bytecode_state())
    print(f"{args.runs} runs each; median (fastest) in seconds\n")
    interpreter = figures([sys.executable, "-c", "pass"], args.runs)
    print(f"{'stack':<10} {'validate':>15} {'synth':>15} {'import floor':>15} {'validate/synth':>15} "
          f"{'synth - floor':>14}")
    for stack in args.stacks:
        modules = sdk_modules(stack)
        floor = figures([sys.executable, "-c", "import " + ", ".join(modules)], args.runs)
        validate = figures([*ENVSTACK, "validate", stack], args.runs)
        synth = figures([*ENVSTACK, "synth", stack, "--quiet"], args.runs)
        print(f"{stack:<10} {validate[0]:>7.2f} ({validate[1]:.2f}) {synth[0]:>7.2f} ({synth[1]:.2f}) "
              f"{floor[0]:>7.2f} ({floor[1]:.2f}) {validate[0] / synth[0]:>15.2f} {synth[0] - floor[0]:>14.2f}")
        packages = ", ".join(sorted({m.split(".")[0] for m in modules}))
        print(f"{'':<10} import floor: {len(modules)} SDK modules ({packages})")
    print(f"\nbare interpreter start: {interpreter[0]:.2f} ({interpreter[1]:.2f})")
    if args.pytest:
        print(pytest_figures())
    return 0


if __name__ == "__main__":
    sys.exit(main())
