"""What the run-overhead and worker-overhead benchmarks share: the release build of airlock, a
benchmark policy, and the bare engine run with the flags Airlock passes (RunArguments)."""
import os, subprocess, sys, time, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Built as shipped (scripts/build-release: release, static Swift libraries), into .build-static;
# $AIRLOCK names another build to measure instead (e.g. one of an older commit), not rebuilt.
BUILD = [os.path.join(ROOT, "scripts", "build-release")]
# `airlock`, and `airlock-worker`, which `airlock serve` execs.
PRODUCTS = ["airlock", "airlock-worker"]
AIRLOCK = os.environ.get("AIRLOCK") or os.path.join(ROOT, ".build-static", "release", "airlock")
PROFILE = os.path.join(ROOT, "policies", "seccomp", "hardened.json")


def build(name, products=("airlock",)):
    if os.environ.get("AIRLOCK"):
        return
    for product in products:
        command = BUILD + [product]
        if subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL).returncode != 0:
            sys.exit(f"{name}: the build failed: " + " ".join(command))


def engine_path(name, engine):
    path = subprocess.run(["sh", "-c", f"command -v {engine}"], capture_output=True, text=True).stdout.strip()
    if not path:
        sys.exit(f"{name}: {engine} not found")
    return path


def write_policy(work):
    """Tools `true` (/bin/true) and `head` in airlock/test:1, context `bench`, tenant `bench`."""
    with open(os.path.join(work, "tools.yaml"), "w") as grammar:
        grammar.write('description: benchmark tools\nstyle: gnu\nabbreviations: none\nrunnable: true\noptions: ["-c <bytes>"]\n')
    policy = os.path.join(work, "policy.yaml")
    with open(policy, "w") as f:
        f.write(f"""version: 1
tools:
  true:
    grammar: tools.yaml
    image: airlock/test:1
    entrypoint: [/bin/true]
    seccomp: {PROFILE}
    runtime: runc
  head:
    grammar: tools.yaml
    image: airlock/test:1
    entrypoint: [/bin/head]
    seccomp: {PROFILE}
    runtime: runc
    timeout: 600s
contexts:
  bench:
    allow:
      - {{id: bench, tool: [true, head], reason: benchmark}}
tenants:
  bench: {{contexts: [bench]}}
""")
    return policy


def bare(engine, entrypoint, command, image="airlock/test:1", environment=()):
    """The same container Airlock would start, minus Airlock (the limits are the benchmark policy's
    and the default policy's alike; `environment` as the policy's tool sets it, sorted by name)."""
    name = "bench-" + uuid.uuid4().hex
    mib = 512 << 20
    # The defaults RunArguments pins (see docs/architecture.md), and its PATH when the policy has none.
    pinned = ["--init=false", "--ipc", "none", "--cgroupns", "private", "--tmpfs", "/dev/mqueue:ro,nosuid,nodev,noexec,size=4k"]
    if os.path.basename(engine).startswith("podman"):
        pinned += ["--http-proxy=false", "--read-only-tmpfs=false", "--unsetenv-all", "--env-host=false", "--systemd=false",
                   "--pid", "private", "--uts", "private"]
    environment = dict(environment)
    environment.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return [engine, "run", "--rm", "--name", name, "--network", "none", "--read-only", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--security-opt", f"seccomp={PROFILE}", "--user", "65534:65534",
            "--memory", str(mib), "--memory-swap", str(mib), "--pids-limit", "128", "--cpus", "1",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=128:128",
            "--tmpfs", f"/tmp:rw,nosuid,nodev,noexec,size={64 << 20},mode=1777", "--pull", "never",
            "--workdir", "/workspace"] + pinned + ["--log-driver", "none", "--runtime", "runc",
            ] + [flag for name, value in sorted(environment.items()) for flag in ("--env", f"{name}={value}")] + [
            "--entrypoint", entrypoint, image] + command


def timed(name, argv, stdout=subprocess.DEVNULL):
    start = time.perf_counter()
    status = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if status.returncode != 0:
        sys.exit(f"{name}: {' '.join(argv[:3])}... failed ({status.returncode}): {status.stderr.decode()[-500:]}")
    return elapsed
