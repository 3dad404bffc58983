"""Compares Airlock's tool grammars with the real tools; run by scripts/grammar-check inside the
image that ships the tools (airlock/tools:1), where the tools and ruamel.yaml (awscli's) are.

For each tool in the image (gh, kubectl, git, aws) and each command the grammar models:
- mismatch: a command path or alias of the grammar that the real tool does not resolve to that
  command, or an option of the grammar that the real tool does not accept there;
- gap: an option, alias or subcommand the real tool has there and the grammar lacks (a false
  denial, unless reviewed).
Every finding must be listed in the reviewed file (known-gaps.yaml) with a reason, and every listed
entry must still be found; anything else is reported and the exit status is 1.

    python3 grammar-check.py GRAMMAR_DIR KNOWN_GAPS [--tool TOOL]... [--list]
--list prints every finding as YAML (an unreviewed one with the reason TODO), to review and paste.
"""
import fnmatch
import os
import re
import subprocess
import sys
import tempfile

from ruamel.yaml import YAML

yaml = YAML(typ="safe")
yaml.width = 200

# A spelling in an option spec: -f, --force, --[no-]force, -check (go style).
SPELLING = re.compile(r"^-{1,2}(\[no-\])?[A-Za-z0-9][A-Za-z0-9._-]*")
# A flag in help text: "  -f, --force", "      --force=false:", "    --[no-]force".
HELP_FLAG = re.compile(r"(?<![\w-])(-[A-Za-z0-9?]|--(?:\[no-\])?[A-Za-z0-9][A-Za-z0-9._-]*)")


def spellings(spec):
    """The spellings of one option spec, `--[no-]x` as both `--x` and `--no-x`."""
    spec = re.sub(r"^[A-Za-z0-9_-]+: ", "", spec.strip())
    out = []
    for part in spec.split(", "):
        m = SPELLING.match(part.strip())
        if not m:
            break
        word = m.group(0)
        if "[no-]" in word:
            out += [word.replace("[no-]", ""), word.replace("[no-]", "no-")]
        else:
            out.append(word)
        if part.strip() != word:  # a value follows the last spelling
            break
    return out


def commands(grammar):
    """(path, aliases, own options, inherited options) of every command, the root as ()."""
    sets = grammar.get("option_sets") or {}

    def options(node):
        specs = list(node.get("options") or [])
        for name in node.get("include") or []:
            specs += sets[name]
        return {s for spec in specs for s in spellings(spec)}

    inherited = options(grammar) if grammar.get("global_options") == "anywhere" else set()

    def walk(node, path):
        # (a command's own options; the root's, which a command inherits and the root check covers)
        yield path, list(node.get("aliases") or []), options(node), inherited if path else set()
        for name, child in (node.get("subcommands") or {}).items():
            yield from walk(child or {}, path + (name,))

    return list(walk(grammar, ()))


def run(argv, cwd=None):
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, NO_COLOR="1", GH_PROMPT_DISABLED="1"))
    return done.returncode, done.stdout + done.stderr


def help_flags(text, start=None, stop=None):
    """The flags named at the start of the lines of help text (between two headings if given)."""
    found, inside = set(), start is None
    for line in text.splitlines():
        if start is not None and re.match(start, line):
            inside = True
            continue
        if stop is not None and re.match(stop, line):
            inside = False
            continue
        if not inside:
            continue
        m = re.match(r"^\s+((?:-[A-Za-z0-9?](?:, |\s))?\s*--?[A-Za-z0-9[][^\s=:]*)", line)
        if m:
            for flag in HELP_FLAG.findall(m.group(1)):
                if "[no-]" in flag:
                    found |= {flag.replace("[no-]", ""), flag.replace("[no-]", "no-")}
                else:
                    found.add(flag)
    return found


class Findings:
    def __init__(self):
        self.items = {}  # key -> kind

    def add(self, tool, kind, what):
        self.items[f"{tool}: {what}"] = kind


# ---- gh --------------------------------------------------------------------------------------
GH_ALIAS_PROBES = ["ls", "new", "rm", "co", "add", "delete", "show", "get", "st"]


def gh_help(path):
    code, text = run(["gh", *path, "--help"])
    usage = re.search(r"^USAGE\n\s+gh ([^\n]*)", text, re.M)
    resolved = None
    if code == 0 and usage:
        resolved = tuple(w for w in usage.group(1).split() if re.match(r"^[a-z][a-z0-9-]*$", w))
    flags = help_flags(text, r"^(FLAGS|INHERITED FLAGS)$", r"^[A-Z][A-Z ]+$")
    subs = set()
    sub_section = False
    for line in text.splitlines():
        if re.match(r"^[A-Z ]*COMMANDS$", line):
            sub_section = True
            continue
        if sub_section and re.match(r"^[A-Z]", line):
            sub_section = False
        m = re.match(r"^\s+([a-z][a-z0-9-]*):", line) if sub_section else None
        if m:
            subs.add(m.group(1))
    return resolved, flags, subs


def check_gh(grammar, f):
    for path, aliases, opts, inherited in commands(grammar):
        resolved, flags, subs = gh_help(path)
        if path and (resolved is None or resolved[: len(path)] != path):
            f.add("gh", "mismatch", f"{' '.join(path)}: not a command of gh")
            continue
        node = node_at(grammar, path)
        modelled = set((node.get("subcommands") or {}).keys())
        known_aliases = {a for c in (node.get("subcommands") or {}).values() for a in (c or {}).get("aliases") or []}
        for sub in sorted(subs - modelled):
            f.add("gh", "gap", f"{' '.join(path + (sub,))}: subcommand")
        for opt in sorted(opts - flags):
            f.add("gh", "mismatch", f"{' '.join(path) or '(root)'} {opt}: option not in gh")
        if not node.get("subcommands"):
            for opt in sorted(flags - opts - inherited):
                f.add("gh", "gap", f"{' '.join(path)} {opt}: option")
        for alias in aliases:
            got, _, _ = gh_help(path[:-1] + (alias,))
            if got is None or got[: len(path)] != path:
                f.add("gh", "mismatch", f"{' '.join(path)}: alias {alias} is not this command in gh")
        if path and modelled:
            for probe in GH_ALIAS_PROBES:
                if probe in modelled or probe in known_aliases or probe in subs:
                    continue
                got, _, _ = gh_help(path + (probe,))
                if got is not None and got[: len(path) + 1] != path + (probe,):
                    f.add("gh", "gap", f"{' '.join(got[: len(path) + 1])}: alias {probe}")


def node_at(grammar, path):
    node = grammar
    for name in path:
        node = (node.get("subcommands") or {})[name] or {}
    return node


# ---- kubectl ---------------------------------------------------------------------------------
def check_kubectl(grammar, f):
    _, text = run(["kubectl", "options"])
    global_flags = help_flags(text)
    root_opts = commands(grammar)[0][2]
    for opt in sorted(root_opts - global_flags - {"-h", "--help"}):
        f.add("kubectl", "mismatch", f"(root) {opt}: not a global option of kubectl")
    for opt in sorted(global_flags - root_opts):
        f.add("kubectl", "gap", f"(root) {opt}: global option")
    _, text = run(["kubectl", "--help"])
    commands_listed = set(re.findall(r"^  ([a-z][a-z0-9-]*)  +\S", text, re.M))
    for sub in sorted(commands_listed - set((grammar.get("subcommands") or {}).keys())):
        f.add("kubectl", "gap", f"{sub}: subcommand")
    for path, aliases, opts, inherited in commands(grammar)[1:]:
        code, text = run(["kubectl", *path, "--help"])
        usage = re.search(r"^Usage:\n\s+kubectl ([^\n]*)", text, re.M)
        if code != 0 or not usage or not usage.group(1).startswith(" ".join(path)):
            f.add("kubectl", "mismatch", f"{' '.join(path)}: not a command of kubectl")
            continue
        flags = help_flags(text, r"^Options:$", r"^\S")
        real_aliases = set()
        m = re.search(r"^Aliases:\n([^\n]*)", text, re.M)
        if m:
            real_aliases = {a.strip() for a in m.group(1).split(",")} - {path[-1]}
        for alias in sorted(set(aliases) - real_aliases):
            f.add("kubectl", "mismatch", f"{' '.join(path)}: alias {alias} is not this command in kubectl")
        for alias in sorted(real_aliases - set(aliases)):
            f.add("kubectl", "gap", f"{' '.join(path)}: alias {alias}")
        for opt in sorted(opts - flags):
            f.add("kubectl", "mismatch", f"{' '.join(path)} {opt}: option not in kubectl")
        node = node_at(grammar, path)
        if not node.get("subcommands"):
            for opt in sorted(flags - opts - inherited):
                f.add("kubectl", "gap", f"{' '.join(path)} {opt}: option")
        else:
            subs = set()
            section = False
            for line in text.splitlines():
                if line.startswith("Available Commands:"):
                    section = True
                    continue
                if section and not line.startswith(" "):
                    section = False
                mm = re.match(r"^\s+([a-z][a-z0-9-]*)\s", line) if section else None
                if mm:
                    subs.add(mm.group(1))
            for sub in sorted(subs - set(node["subcommands"].keys())):
                f.add("kubectl", "gap", f"{' '.join(path)} {sub}: subcommand")


UNKNOWN_OPTION = re.compile(r"unknown (option|switch)|unrecognized argument")


# git's bash completion lists the options of the diff and revision machinery that `git log -h`,
# `git show -h` and `git diff -h` leave out: run a command's completion function for "--".
GIT_COMPLETION = """
source /usr/share/bash-completion/completions/git 2>/dev/null
__gitcomp() { printf '%s\n' "$1"; }
__gitcomp_builtin() { :; }
__git_complete_revlist() { :; }
__git_complete_revlist_file() { :; }
__git_complete_file() { :; }
cur=--; words=(git "$1" --); cword=2
declare -F "_git_$1" >/dev/null && "_git_$1"
"""


def git_completion_flags(command):
    _, text = run(["bash", "-c", GIT_COMPLETION, "git-completion", command])
    return {word.rstrip("=") for word in text.split() if re.match(r"^--[a-z0-9][a-z0-9-]*=?$", word)}


# ---- git -------------------------------------------------------------------------------------
def check_git(grammar, f):
    _, text = run(["git", "--help"])
    usage = text.split("\n\n")[0]
    global_flags = set(HELP_FLAG.findall(usage))
    cmds = commands(grammar)
    root_opts = cmds[0][2]
    for opt in sorted(root_opts - global_flags):
        # Not all of git's global options are in its usage line: ask git itself, with a value
        # detached and attached in case the option takes one.
        outputs = [run(["git", opt, "x", "version"])[1], run(["git", opt + "=main", "version"])[1]]
        if all(UNKNOWN_OPTION.search(out) for out in outputs):
            f.add("git", "mismatch", f"(root) {opt}: not an option of git")
    for opt in sorted(global_flags - root_opts):
        f.add("git", "gap", f"(root) {opt}: global option")
    # git's own commands, less its internal helpers (named with "--").
    _, text = run(["git", "--list-cmds=main"])
    for sub in sorted(set(text.split()) - set((grammar.get("subcommands") or {}).keys())):
        if "--" not in sub:
            f.add("git", "gap", f"{sub}: subcommand")
    with tempfile.TemporaryDirectory() as repo:
        run(["git", "init", "-q", repo])
        run(["git", "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "x"], cwd=repo)
        for path, aliases, opts, inherited in cmds[1:]:
            code, text = run(["git", *path, "-h"], cwd=repo)
            if code != 129 or "usage:" not in text:
                f.add("git", "mismatch", f"{' '.join(path)}: not a command of git")
                continue
            listed = help_flags(text.split("usage:", 1)[1].split("\n\n", 1)[-1])
            if len(path) == 1:
                listed |= git_completion_flags(path[0])
            for opt in sorted(opts - listed):
                # Options of the diff and revision machinery are not in `-h`: ask git itself, with
                # a value attached in case the option takes one.
                unknown = True
                for spelling in (opt, opt + "=1" if opt.startswith("--") else opt + "1"):
                    code, out = run(["git", *path, spelling, "--", "nonexistent-path"], cwd=repo)
                    unknown = unknown and bool(UNKNOWN_OPTION.search(out))
                if unknown:
                    f.add("git", "mismatch", f"{' '.join(path)} {opt}: option not in git")
            node = node_at(grammar, path)
            if not node.get("subcommands"):
                for opt in sorted(listed - opts - inherited):
                    f.add("git", "gap", f"{' '.join(path)} {opt}: option")


# ---- aws -------------------------------------------------------------------------------------
def check_aws(grammar, f):
    from awscli.clidriver import create_clidriver

    driver = create_clidriver()
    table = driver._get_command_table()
    global_flags = {"--" + name for name in driver._get_argument_table()} | {"--version"}
    cmds = commands(grammar)
    root_opts = cmds[0][2]
    for opt in sorted(root_opts - global_flags - {"--help"}):
        f.add("aws", "mismatch", f"(root) {opt}: not a global option of aws")
    for opt in sorted(global_flags - root_opts):
        f.add("aws", "gap", f"(root) {opt}: global option")
    for path, aliases, opts, inherited in cmds[1:]:
        node = node_at(grammar, path)
        command, sub = None, table
        for name in path:
            command = sub.get(name) if sub is not None else None
            if command is None:
                break
            sub = (command._get_command_table() if hasattr(command, "_get_command_table")
                   else getattr(command, "subcommand_table", None))
        if command is None:
            f.add("aws", "mismatch", f"{' '.join(path)}: not a command of aws")
            continue
        if node.get("subcommands"):
            continue  # services: their operations are modelled one by one, by design not all
        args = command.arg_table
        # Positional arguments (s3 ls's paths) and internal ones (cli_input) have no spelling.
        flags = {"--" + name for name, arg in args.items()
                 if "_" not in name and not getattr(arg, "positional_arg", False)}
        for opt in sorted(opts - flags):
            f.add("aws", "mismatch", f"{' '.join(path)} {opt}: option not in aws")
        for opt in sorted(flags - opts - inherited):
            f.add("aws", "gap", f"{' '.join(path)} {opt}: option")


CHECKS = {"gh": check_gh, "kubectl": check_kubectl, "git": check_git, "aws": check_aws}


def main():
    grammar_dir, gaps_file = sys.argv[1], sys.argv[2]
    rest = sys.argv[3:]
    listing = "--list" in rest
    tools = [rest[i + 1] for i, arg in enumerate(rest) if arg == "--tool"] or list(CHECKS)
    unknown = [tool for tool in tools if tool not in CHECKS]
    if unknown:
        print(f"grammar-check: no check for {', '.join(unknown)} (one of: {', '.join(CHECKS)})")
        return 64
    with open(gaps_file) as stream:
        reviewed = yaml.load(stream) or {}
    findings = Findings()
    for tool in tools:
        check = CHECKS[tool]
        with open(os.path.join(grammar_dir, f"{tool}.yaml")) as stream:
            check(yaml.load(stream), findings)
    # Reviewed entries: "TOOL: FINDING" -> section; a FINDING may hold * (fnmatch) for a class.
    known = {}
    for kind in ("gaps", "mismatches"):
        for tool, entries in (reviewed.get(kind) or {}).items():
            if tool not in tools:
                continue
            for what, reason in (entries or {}).items():
                if not str(reason or "").strip() or str(reason).strip() == "TODO":
                    print(f"{gaps_file}: {kind}: {tool}: {what}: no reason given")
                    known[f"{tool}: {what}"] = None
                else:
                    known[f"{tool}: {what}"] = kind

    def reviewed_as(key):
        return [pattern for pattern, kind in known.items() if fnmatch.fnmatchcase(key, pattern)]

    if listing:
        out = {"gaps": {}, "mismatches": {}}
        for key, kind in sorted(findings.items.items()):
            tool, what = key.split(": ", 1)
            section = "gaps" if kind == "gap" else "mismatches"
            reason = ((reviewed.get(section) or {}).get(tool) or {}).get(what) or "TODO"
            out[section].setdefault(tool, {})[what] = reason
        yaml.default_flow_style = False
        yaml.dump(out, sys.stdout)
        return 0
    failed = 0
    used = set()
    for key, kind in sorted(findings.items.items()):
        want = "gaps" if kind == "gap" else "mismatches"
        patterns = [p for p in reviewed_as(key) if known[p] == want]
        used.update(reviewed_as(key))
        if not patterns:
            print(f"unreviewed {kind}: {key}")
            failed += 1
    for pattern in sorted(set(known) - used):
        print(f"stale entry (matches no finding; remove it from {os.path.basename(gaps_file)}): {pattern}")
        failed += 1
    counts = {k: sum(1 for v in findings.items.values() if v == k) for k in ("gap", "mismatch")}
    print(f"grammar-check: {len(findings.items)} findings ({counts['gap']} gaps, {counts['mismatch']} mismatches), "
          f"{failed} unreviewed or stale")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
