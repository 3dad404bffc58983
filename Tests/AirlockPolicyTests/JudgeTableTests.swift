import AirlockPolicy
import Testing

/// One row of the judge table: a command, where it is judged, and what must be decided.
struct JudgeCase: Sendable, CustomTestStringConvertible {
    var context: String
    var argv: [String]
    var allowed: Bool
    var rule: String
    var tenant: String?

    var testDescription: String {
        "\(allowed ? "allow" : "deny ") \(context)\(tenant.map { "/\($0)" } ?? ""): \(argv.joined(separator: " ")) [\(rule)]"
    }
}

/// `allow("readonly", "git log --oneline", "git-inspect")`; arguments split on spaces.
private func allow(_ context: String, _ command: String, _ rule: String) -> JudgeCase {
    JudgeCase(context: context, argv: command.split(separator: " ").map(String.init), allowed: true, rule: rule)
}

private func deny(_ context: String, _ command: String, _ rule: String) -> JudgeCase {
    JudgeCase(context: context, argv: command.split(separator: " ").map(String.init), allowed: false, rule: rule)
}

/// For arguments that contain spaces.
private func deny(_ context: String, argv: [String], _ rule: String, tenant: String? = nil) -> JudgeCase {
    JudgeCase(context: context, argv: argv, allowed: false, rule: rule, tenant: tenant)
}

private func allow(_ context: String, argv: [String], _ rule: String, tenant: String? = nil) -> JudgeCase {
    JudgeCase(context: context, argv: argv, allowed: true, rule: rule, tenant: tenant)
}

enum JudgeTable {
    static let git: [JudgeCase] = [
        // Inspecting a repository.
        allow("readonly", "git status", "git-inspect"),
        allow("readonly", "git status -s", "git-inspect"),
        allow("readonly", "git status -uno", "git-inspect"),
        allow("readonly", "git status -sb", "git-inspect"),
        allow("readonly", "git status --porcelain=v2", "git-inspect"),
        allow("readonly", "git status --untracked-files=all", "git-inspect"),
        allow("readonly", "git log", "git-inspect"),
        allow("readonly", "git log --oneline -5", "git-inspect"),
        allow("readonly", "git log -n 5", "git-inspect"),
        allow("readonly", "git log --max-count=3", "git-inspect"),
        allow("readonly", "git log --graph --decorate --all", "git-inspect"),
        allow("readonly", "git log -p HEAD~3..HEAD", "git-inspect"),
        allow("readonly", "git log -- --force", "git-inspect"),
        allow("readonly", "git log -- --output=/etc/x", "git-inspect"),
        allow("readonly", "git log --format=%H", "git-inspect"),
        allow("readonly", "git log --since=2.weeks --author=alice", "git-inspect"),
        allow("readonly", "git log -Sneedle", "git-inspect"),
        allow("readonly", "git log -S needle", "git-inspect"),
        allow("readonly", "git log --follow -- file.txt", "git-inspect"),
        allow("readonly", "git log --onel", "git-inspect"),
        allow("readonly", "git --no-pager log", "git-inspect"),
        allow("readonly", "git -P log", "git-inspect"),
        allow("readonly", "git show HEAD", "git-inspect"),
        allow("readonly", "git show --stat HEAD", "git-inspect"),
        allow("readonly", "git show HEAD:README.md", "git-inspect"),
        allow("readonly", "git diff", "git-inspect"),
        allow("readonly", "git diff --cached", "git-inspect"),
        allow("readonly", "git diff HEAD~1 --stat", "git-inspect"),
        allow("readonly", "git diff --name-only", "git-inspect"),
        allow("readonly", "git diff -- --output", "git-inspect"),
        allow("readonly", "git diff --color=never", "git-inspect"),
        allow("readonly", "git diff --no-ext-diff", "git-inspect"),
        allow("readonly", "git blame README.md", "git-inspect"),
        allow("readonly", "git blame -L 10,20 main.c", "git-inspect"),
        allow("readonly", "git blame -w -M main.c", "git-inspect"),
        allow("readonly", "git grep foo", "git-inspect"),
        allow("readonly", "git grep -n -i foo -- *.c", "git-inspect"),
        allow("readonly", "git grep -e foo --and -e bar", "git-inspect"),
        allow("readonly", "git grep -3 foo", "git-inspect"),
        allow("readonly", "git ls-files", "git-inspect"),
        allow("readonly", "git ls-files -o --exclude-standard", "git-inspect"),
        allow("readonly", "git ls-files -X .gitignore", "git-inspect"),
        allow("readonly", "git rev-parse HEAD", "git-inspect"),
        allow("readonly", "git rev-parse --abbrev-ref HEAD", "git-inspect"),
        allow("readonly", "git rev-parse --show-toplevel", "git-inspect"),
        allow("readonly", "git rev-parse --verify HEAD", "git-inspect"),
        allow("readonly", "git remote", "git-remote-list"),
        allow("readonly", "git remote -v", "git-remote-list"),
        allow("readonly", "git remote get-url origin", "git-remote-get-url"),
        allow("readonly", "git remote get-url --push origin", "git-remote-get-url"),
        allow("readonly", "git branch", "git-branch-list"),
        allow("readonly", "git branch -a", "git-branch-list"),
        allow("readonly", "git branch -vv", "git-branch-list"),
        allow("readonly", "git branch -r --contains HEAD", "git-branch-list"),
        allow("readonly", "git branch --show-current", "git-branch-list"),
        allow("readonly", "git branch --list feat/*", "git-branch-list-pattern"),
        allow("readonly", "git branch -l feat/*", "git-branch-list-pattern"),
        allow("readonly", "git tag", "git-tag-list"),
        allow("readonly", "git tag -l", "git-tag-list"),
        allow("readonly", "git tag -n5", "git-tag-list"),
        allow("readonly", "git tag --sort=-creatordate", "git-tag-list"),
        allow("readonly", "git tag -l v1.*", "git-tag-list-pattern"),
        allow("readonly", "git -C sub log", "git-inspect"),
        allow("readonly", "git -C /workspace/repo status", "git-inspect"),
        allow("readonly", "git --git-dir=/workspace/repo/.git log", "git-inspect"),
        allow("readonly", "git --git-dir /workspace/repo/.git --work-tree /workspace/repo status", "git-inspect"),
        // Configuration, programs and pagers.
        deny("readonly", "git -c core.pager=less log", "git-no-config-override"),
        deny("readonly", "git -ccore.pager=less log", "git-no-config-override"),
        deny("readonly", "git --config-env=core.pager=PAGER log", "git-no-config-override"),
        deny("readonly", "git --config-env core.pager=PAGER log", "git-no-config-override"),
        deny("readonly", "git -C sub -c alias.x=!sh status", "git-no-config-override"),
        deny("readonly", "git --exec-path=/tmp log", "git-no-exec-path"),
        deny("readonly", "git --exec-path log", "git-no-exec-path"),
        deny("readonly", "git -p log", "git-no-pager"),
        deny("readonly", "git --paginate log", "git-no-pager"),
        deny("readonly", "git grep -Oless foo", "git-no-pager"),
        deny("readonly", "git grep --open-files-in-pager=less foo", "git-no-pager"),
        deny("readonly", "git grep --open foo", "git-no-pager"),
        deny("readonly", "git grep -O foo", "git-no-pager"),
        deny("readonly", "git log -p --ext-diff", "git-no-external-diff"),
        deny("readonly", "git diff --ext-diff", "git-no-external-diff"),
        deny("readonly", "git diff --ext", "git-no-external-diff"),
        deny("readonly", "git diff --no-ext-diff --ext-diff", "git-no-external-diff"),
        deny("readonly", "git log --show-signature", "git-no-signature-programs"),
        deny("readonly", "git log --show-sig", "git-no-signature-programs"),
        // Files written or read outside the workspace.
        deny("readonly", "git log --output=/tmp/x", "git-no-output-file"),
        deny("readonly", "git diff --output /workspace/x", "git-no-output-file"),
        deny("readonly", "git show --output=x HEAD", "git-no-output-file"),
        deny("readonly", "git diff --out=x", "airlock.ambiguous-option"),
        deny("readonly", "git -C /etc log", "git-repository-in-workspace"),
        deny("readonly", "git -C .. log", "git-repository-in-workspace"),
        deny("readonly", "git -C ../other log", "git-repository-in-workspace"),
        deny("readonly", "git -C /workspace/../etc log", "git-repository-in-workspace"),
        deny("readonly", "git -C sub/../../x log", "git-repository-in-workspace"),
        deny("readonly", "git --git-dir=/root/.git log", "git-repository-in-workspace"),
        deny("readonly", "git --work-tree=/ status", "git-repository-in-workspace"),
        deny("readonly", "git -C ~ log", "git-repository-in-workspace"),
        deny("readonly", "git blame --contents /etc/passwd main.c", "git-files-in-workspace"),
        deny("readonly", "git ls-files -X /etc/shadow", "git-files-in-workspace"),
        deny("readonly", "git ls-files --exclude-from=../x", "git-files-in-workspace"),
        deny("readonly", "git grep -f /etc/passwd", "git-files-in-workspace"),
        deny("readonly", "git diff -O/etc/order", "git-files-in-workspace"),
        deny("readonly", "git diff --no-index /etc/passwd /etc/shadow", "git-no-index-reads"),
        deny("readonly", "git grep --no-index foo", "git-no-index-reads"),
        // Writes are not inspection.
        deny("readonly", "git push", "airlock.default-deny"),
        deny("readonly", "git push origin main", "airlock.default-deny"),
        deny("readonly", "git commit -m x", "airlock.default-deny"),
        deny("readonly", "git checkout main", "airlock.default-deny"),
        deny("readonly", "git stash", "airlock.default-deny"),
        deny("readonly", "git reset --hard", "airlock.default-deny"),
        deny("readonly", "git clean -fdx", "airlock.default-deny"),
        deny("readonly", "git config user.name x", "airlock.default-deny"),
        deny("readonly", "git branch -d x", "airlock.default-deny"),
        deny("readonly", "git branch -D x", "airlock.default-deny"),
        deny("readonly", "git branch -m a b", "airlock.default-deny"),
        deny("readonly", "git branch new-branch", "airlock.default-deny"),
        deny("readonly", "git branch --set-upstream-to=origin/main", "airlock.default-deny"),
        deny("readonly", "git branch -f x HEAD", "airlock.default-deny"),
        deny("readonly", "git branch --list -d x", "airlock.default-deny"),
        deny("readonly", "git tag v1", "airlock.default-deny"),
        deny("readonly", "git tag -d v1", "airlock.default-deny"),
        deny("readonly", "git tag -a v1 -m x", "airlock.default-deny"),
        deny("readonly", "git tag -v v1", "airlock.default-deny"),
        deny("readonly", "git remote add o https://example.com/r.git", "airlock.default-deny"),
        deny("readonly", "git remote remove o", "airlock.default-deny"),
        deny("readonly", "git remote rm o", "airlock.default-deny"),
        deny("readonly", "git remote set-url o https://example.com/r.git", "airlock.default-deny"),
        deny("readonly", "git remote show origin", "airlock.default-deny"),
        deny("readonly", "git remote origin", "airlock.unknown-subcommand"),
        // Fail closed.
        deny("readonly", "git frobnicate", "airlock.unknown-subcommand"),
        deny("readonly", "git lg", "airlock.unknown-subcommand"),
        deny("readonly", "git log --bogus", "airlock.unknown-option"),
        deny("readonly", "git status -Z", "airlock.unknown-option"),
        deny("readonly", "git --no-pag log", "airlock.unknown-option"),
        deny("readonly", "git push --forc", "airlock.ambiguous-option"),
        deny("readonly", "git log -n", "airlock.missing-value"),
        deny("readonly", "git -C", "airlock.missing-value"),
        deny("readonly", "git log --oneline=yes", "airlock.unexpected-value"),
        deny("readonly", "git", "airlock.missing-subcommand"),
        deny("readonly", "git --no-pager", "airlock.missing-subcommand"),
        deny("readonly", argv: ["git", "log", "a\u{0}b"], "airlock.invalid-argument"),
        deny("readonly", argv: ["git", "log"] + Array(repeating: "x", count: 128), "airlock.argument-limit"),
        deny("readonly", argv: ["git", "log", String(repeating: "a", count: 4097)], "airlock.argument-limit"),
        allow("readonly", argv: ["git", "log"] + Array(repeating: "x", count: 127), "git-inspect"),
        allow("readonly", argv: ["git", "log", String(repeating: "a", count: 4096)], "git-inspect"),
        deny("readonly", "svn log", "airlock.unknown-tool"),
        deny("nonesuch", "git log", "airlock.unknown-context"),
        // Tenants.
        allow("readonly", argv: ["git", "log"], "git-inspect", tenant: "observer"),
        deny("developer", argv: ["git", "log"], "airlock.tenant-context", tenant: "observer"),
        deny("readonly", argv: ["gh", "pr", "list"], "airlock.tenant-tool", tenant: "observer"),
        deny("readonly", argv: ["git", "log"], "airlock.unknown-tenant", tenant: "mallory"),
        allow("developer", argv: ["git", "push", "origin", "main"], "git-sync", tenant: "default"),

        // developer: local work and pushes that keep shared history.
        allow("developer", "git log --oneline", "git-inspect"),
        allow("developer", "git add -A", "git-local-work"),
        allow("developer", "git add .", "git-local-work"),
        allow("developer", "git commit -m message", "git-local-work"),
        allow("developer", "git commit -am message", "git-local-work"),
        allow("developer", "git commit -F msg.txt", "git-local-work"),
        allow("developer", "git checkout -b feature", "git-local-work"),
        allow("developer", "git checkout main", "git-local-work"),
        allow("developer", "git switch -c topic", "git-local-work"),
        allow("developer", "git restore --staged file.c", "git-local-work"),
        allow("developer", "git stash", "git-local-work"),
        allow("developer", "git stash push -m wip", "git-local-work"),
        allow("developer", "git stash pop", "git-local-work"),
        allow("developer", "git stash list", "git-local-work"),
        allow("developer", "git merge --no-ff feature", "git-local-work"),
        allow("developer", "git rebase main", "git-local-work"),
        allow("developer", "git fetch origin", "git-sync"),
        allow("developer", "git fetch --prune origin", "git-sync"),
        allow("developer", "git pull --rebase", "git-sync"),
        allow("developer", "git push origin main", "git-sync"),
        allow("developer", "git push -u origin feature", "git-sync"),
        allow("developer", "git push --set-upstream origin feature", "git-sync"),
        allow("developer", "git push origin HEAD:refs/heads/feature", "git-sync"),
        allow("developer", "git push --tags origin", "git-sync"),
        allow("developer", "git push --no-force origin main", "git-sync"),
        allow("developer", "git push --force --no-force origin main", "git-sync"),
        allow("developer", "git push --no-force-with-lease origin main", "git-sync"),
        deny("developer", "git push origin -- +main", "git-no-force-refspec"),
        // Force push, in every spelling.
        deny("developer", "git push -f", "git-no-force-push"),
        deny("developer", "git push --force", "git-no-force-push"),
        deny("developer", "git push --forc", "airlock.ambiguous-option"),
        deny("developer", "git push --fo", "airlock.ambiguous-option"),
        deny("developer", "git push --force-with-lease", "git-no-force-push"),
        deny("developer", "git push --force-with-lease=main", "git-no-force-push"),
        deny("developer", "git push --force-with-lease=main:abc123 origin main", "git-no-force-push"),
        deny("developer", "git push --force-w", "git-no-force-push"),
        deny("developer", "git push --force-if-includes --force-with-lease", "git-no-force-push"),
        deny("developer", "git push -fu origin main", "git-no-force-push"),
        deny("developer", "git push -uf origin main", "git-no-force-push"),
        deny("developer", "git push origin main --force", "git-no-force-push"),
        deny("developer", "git push origin main -f", "git-no-force-push"),
        deny("developer", "git push --no-force --force origin main", "git-no-force-push"),
        deny("developer", "git push -qfu origin main", "git-no-force-push"),
        deny("developer", "git push origin +main", "git-no-force-refspec"),
        deny("developer", "git push origin +HEAD:main", "git-no-force-refspec"),
        deny("developer", "git push origin main +feature", "git-no-force-refspec"),
        deny("developer", "git push --mirror", "git-no-mirror-push"),
        deny("developer", "git push --mirr origin", "git-no-mirror-push"),
        // Deleting remote refs.
        deny("developer", "git push --delete origin topic", "git-no-remote-delete"),
        deny("developer", "git push -d origin topic", "git-no-remote-delete"),
        deny("developer", "git push --del origin topic", "git-no-remote-delete"),
        deny("developer", "git push --prune origin", "git-no-remote-delete"),
        deny("developer", "git push origin :main", "git-no-delete-refspec"),
        deny("developer", "git push origin :refs/heads/topic", "git-no-delete-refspec"),
        // Options that run programs.
        deny("developer", "git push --receive-pack=/bin/sh origin", "git-no-program-options"),
        deny("developer", "git push --exec=/bin/sh origin", "git-no-program-options"),
        deny("developer", "git push --rece=/bin/sh origin", "git-no-program-options"),
        deny("developer", "git push --rec=/bin/sh origin", "airlock.ambiguous-option"),
        deny("developer", "git fetch --upload-pack=/bin/sh origin", "git-no-program-options"),
        deny("developer", "git pull --upload-pack /bin/sh", "git-no-program-options"),
        deny("developer", argv: ["git", "rebase", "--exec", "make test", "main"], "git-no-program-options"),
        deny("developer", "git rebase -x make main", "git-no-program-options"),
        deny("developer", "git rebase -xmake main", "git-no-program-options"),
        deny("developer", "git rebase -i main", "git-no-editor"),
        deny("developer", "git rebase --interactive main", "git-no-editor"),
        deny("developer", "git rebase --edit-todo", "git-no-editor"),
        deny("developer", "git commit -S -m x", "git-no-signature-programs"),
        deny("developer", "git merge --verify-signatures topic", "git-no-signature-programs"),
        deny("developer", "git push --signed origin main", "git-no-signature-programs"),
        // readonly's denials hold in developer too.
        deny("developer", "git -c core.sshCommand=sh push origin main", "git-no-config-override"),
        deny("developer", "git -C /etc commit -m x", "git-repository-in-workspace"),
        deny("developer", "git commit -F /etc/passwd", "git-files-in-workspace"),
        deny("developer", "git reset --hard", "airlock.default-deny"),
        deny("developer", "git clean -f", "airlock.default-deny"),
        deny("developer", "git config --global user.name x", "airlock.default-deny"),
        deny("developer", "git remote add o https://example.com/r.git", "airlock.default-deny"),
        deny("developer", "git branch -D topic", "airlock.default-deny"),
        deny("developer", "git tag v1", "airlock.default-deny"),
    ]

    static let kubectl: [JudgeCase] = [
        allow("readonly", "kubectl get pods", "kubectl-inspect"),
        allow("readonly", "kubectl get pods -n default", "kubectl-inspect"),
        allow("readonly", "kubectl get pods --namespace=kube-system", "kubectl-inspect"),
        allow("readonly", "kubectl get po -A", "kubectl-inspect"),
        allow("readonly", "kubectl get deployments -o yaml", "kubectl-inspect"),
        allow("readonly", "kubectl get pods -o jsonpath={.items[*].metadata.name}", "kubectl-inspect"),
        allow("readonly", "kubectl get pods,services", "kubectl-inspect"),
        allow("readonly", "kubectl get configmaps", "kubectl-inspect"),
        allow("readonly", "kubectl get sealedsecrets", "kubectl-inspect"),
        allow("readonly", "kubectl get pod secrets-reader", "kubectl-inspect"),
        allow("readonly", "kubectl -n prod get pods", "kubectl-inspect"),
        allow("readonly", "kubectl get pods -n=prod", "kubectl-inspect"),
        allow("readonly", "kubectl get pods -w", "kubectl-inspect"),
        allow("readonly", "kubectl describe pod web-1", "kubectl-inspect"),
        allow("readonly", "kubectl describe deployment web", "kubectl-inspect"),
        allow("readonly", "kubectl logs web-1", "kubectl-inspect"),
        allow("readonly", "kubectl logs -f web-1 -c app --tail=100", "kubectl-inspect"),
        allow("readonly", "kubectl logs web-1 --previous --since=1h", "kubectl-inspect"),
        allow("readonly", "kubectl top pod", "kubectl-inspect"),
        allow("readonly", "kubectl top pods", "kubectl-inspect"),
        allow("readonly", "kubectl top node", "kubectl-inspect"),
        allow("readonly", "kubectl top -n prod pod", "kubectl-inspect"),
        allow("readonly", "kubectl explain pods", "kubectl-inspect"),
        allow("readonly", "kubectl api-resources", "kubectl-inspect"),
        allow("readonly", "kubectl version --client", "kubectl-inspect"),
        allow("developer", "kubectl get pods", "kubectl-inspect"),
        // Secrets, in any spelling.
        deny("readonly", "kubectl get secrets", "kubectl-no-secrets"),
        deny("readonly", "kubectl get secret", "kubectl-no-secrets"),
        deny("readonly", "kubectl get Secret", "kubectl-no-secrets"),
        deny("readonly", "kubectl get SECRETS", "kubectl-no-secrets"),
        deny("readonly", "kubectl get secret/db-password", "kubectl-no-secrets"),
        deny("readonly", "kubectl get secrets/db-password", "kubectl-no-secrets"),
        deny("readonly", "kubectl get pods,secrets", "kubectl-no-secrets"),
        deny("readonly", "kubectl get pods,Secret", "kubectl-no-secrets"),
        deny("readonly", "kubectl get deploy,secret/x", "kubectl-no-secrets"),
        deny("readonly", "kubectl get secrets.v1", "kubectl-no-secrets"),
        deny("readonly", "kubectl get secret.v1.", "kubectl-no-secrets"),
        deny("readonly", argv: ["kubectl", "get", "pods, secrets"], "kubectl-no-secrets"),
        deny("readonly", "kubectl describe secret x", "kubectl-no-secrets"),
        deny("readonly", "kubectl describe secrets", "kubectl-no-secrets"),
        deny("readonly", "kubectl get -n kube-system secrets -o yaml", "kubectl-no-secrets"),
        deny("readonly", "kubectl -n x get secrets", "kubectl-no-secrets"),
        deny("readonly", "kubectl get secrets --all-namespaces", "kubectl-no-secrets"),
        deny("readonly", "kubectl get -o yaml secrets", "kubectl-no-secrets"),
        deny("readonly", "kubectl get -- secrets", "kubectl-no-secrets"),
        deny("developer", "kubectl get secrets", "kubectl-no-secrets"),
        // Raw API access, manifests, other credentials and endpoints.
        deny("readonly", "kubectl get --raw /api/v1/namespaces/default/secrets", "kubectl-no-raw-api"),
        deny("readonly", "kubectl get --raw=/api", "kubectl-no-raw-api"),
        deny("readonly", "kubectl get -f secret.yaml", "kubectl-no-manifest-files"),
        deny("readonly", "kubectl get --filename=x.yaml", "kubectl-no-manifest-files"),
        deny("readonly", "kubectl get -k dir", "kubectl-no-manifest-files"),
        deny("readonly", "kubectl --kubeconfig=/tmp/k get pods", "kubectl-no-credential-override"),
        deny("readonly", "kubectl get pods --kubeconfig /tmp/k", "kubectl-no-credential-override"),
        deny("readonly", "kubectl get pods --token=abc", "kubectl-no-credential-override"),
        deny("readonly", "kubectl get pods -s https://evil.example", "kubectl-no-credential-override"),
        deny("readonly", "kubectl get pods --server=https://evil.example", "kubectl-no-credential-override"),
        deny("readonly", "kubectl get pods --as=admin", "kubectl-no-credential-override"),
        deny("readonly", "kubectl get pods --as-group=system:masters", "kubectl-no-credential-override"),
        deny("readonly", "kubectl get pods --context=prod", "kubectl-no-credential-override"),
        deny("readonly", "kubectl get pods --insecure-skip-tls-verify", "kubectl-no-credential-override"),
        deny("readonly", "kubectl get pods --profile=cpu --profile-output=/tmp/x", "kubectl-no-file-writes"),
        // Changes and programs.
        deny("readonly", "kubectl delete pod x", "airlock.default-deny"),
        deny("readonly", "kubectl exec web -- sh", "airlock.default-deny"),
        deny("readonly", "kubectl edit deployment web", "airlock.default-deny"),
        deny("readonly", "kubectl scale deployment web --replicas=0", "airlock.default-deny"),
        deny("readonly", "kubectl port-forward web 8080:80", "airlock.default-deny"),
        deny("readonly", "kubectl proxy", "airlock.default-deny"),
        deny("readonly", "kubectl cp web:/etc/passwd /tmp/x", "airlock.default-deny"),
        deny("developer", "kubectl delete pod x", "airlock.default-deny"),
        deny("readonly", "kubectl foo", "airlock.unknown-subcommand"),
        deny("readonly", "kubectl get pods --namesp=x", "airlock.unknown-option"),
        deny("readonly", "kubectl get pods -n", "airlock.missing-value"),
        deny("readonly", "kubectl top", "airlock.missing-subcommand"),
        deny("readonly", "kubectl top secrets", "airlock.unknown-subcommand"),
    ]

    static let gh: [JudgeCase] = [
        allow("readonly", "gh pr list", "gh-inspect"),
        allow("readonly", "gh pr list --state open --limit 10", "gh-inspect"),
        allow("readonly", "gh pr view 12", "gh-inspect"),
        allow("readonly", "gh pr view 12 --json title,body", "gh-inspect"),
        allow("readonly", "gh issue list -L 5", "gh-inspect"),
        allow("readonly", "gh issue view 3 --comments", "gh-inspect"),
        allow("readonly", "gh repo view", "gh-inspect"),
        allow("readonly", "gh repo view owner/repo", "gh-inspect"),
        allow("readonly", "gh pr list -R owner/repo", "gh-inspect"),
        allow("readonly", "gh pr list --repo=owner/repo", "gh-inspect"),
        allow("developer", "gh pr view 1", "gh-inspect"),
        deny("readonly", "gh pr view 12 --web", "gh-no-browser"),
        deny("readonly", "gh pr list -w", "gh-no-browser"),
        deny("readonly", "gh repo view --web", "gh-no-browser"),
        deny("readonly", "gh issue view 3 -w", "gh-no-browser"),
        deny("readonly", "gh pr list -R github.example.com/o/r", "gh-no-other-host"),
        deny("readonly", "gh pr list --repo=evil.example/o/r", "gh-no-other-host"),
        deny("readonly", "gh api repos/o/r", "airlock.default-deny"),
        deny("readonly", "gh pr create --fill", "airlock.default-deny"),
        deny("readonly", "gh pr merge 1", "airlock.default-deny"),
        deny("readonly", "gh pr checkout 1", "airlock.default-deny"),
        deny("readonly", "gh repo delete o/r", "airlock.default-deny"),
        deny("readonly", "gh auth token", "airlock.default-deny"),
        deny("developer", "gh pr merge 1", "airlock.default-deny"),
        deny("readonly", "gh foo", "airlock.unknown-subcommand"),
        deny("readonly", "gh pr list --bogus", "airlock.unknown-option"),
        deny("readonly", "gh pr", "airlock.missing-subcommand"),
    ]

    static let terraform: [JudgeCase] = [
        allow("readonly", "terraform plan", "terraform-inspect"),
        allow("readonly", "terraform plan -out=/tmp/plan", "terraform-inspect"),
        allow("readonly", "terraform plan -out /tmp/plan", "terraform-inspect"),
        allow("readonly", "terraform plan --out=/tmp/plan", "terraform-inspect"),
        allow("readonly", "terraform plan -var-file=prod.tfvars", "terraform-inspect"),
        allow("readonly", "terraform plan -var x=1", "terraform-inspect"),
        allow("readonly", "terraform plan -refresh=false -lock=false", "terraform-inspect"),
        allow("readonly", "terraform validate", "terraform-inspect"),
        allow("readonly", "terraform validate -json", "terraform-inspect"),
        allow("readonly", "terraform show", "terraform-inspect"),
        allow("readonly", "terraform show -json /tmp/plan", "terraform-inspect"),
        allow("readonly", "terraform version", "terraform-inspect"),
        allow("readonly", "terraform fmt -check", "terraform-fmt-check"),
        allow("readonly", "terraform fmt -check -recursive", "terraform-fmt-check"),
        allow("readonly", "terraform fmt --check -diff", "terraform-fmt-check"),
        allow("readonly", "terraform fmt -check -write=false", "terraform-fmt-check"),
        allow("readonly", "terraform -chdir=infra plan", "terraform-inspect"),
        allow("readonly", "terraform -chdir=/workspace/infra validate", "terraform-inspect"),
        // Go's flag stops at the first positional: "-out=/etc/x" is an argument terraform rejects.
        allow("readonly", "terraform plan extra -out=/etc/x", "terraform-inspect"),
        allow("developer", "terraform plan", "terraform-inspect"),
        deny("readonly", "terraform plan -out=plan", "terraform-writes-in-tmp"),
        deny("readonly", "terraform plan -out=/etc/x", "terraform-writes-in-tmp"),
        deny("readonly", "terraform plan -out /workspace/plan", "terraform-writes-in-tmp"),
        deny("readonly", "terraform fmt", "airlock.default-deny"),
        deny("readonly", "terraform fmt -check=false", "airlock.default-deny"),
        deny("readonly", "terraform fmt -check -check=false", "airlock.default-deny"),
        deny("readonly", "terraform fmt -check -write", "terraform-fmt-no-write"),
        deny("readonly", "terraform fmt -check -write=true", "terraform-fmt-no-write"),
        deny("readonly", "terraform apply", "airlock.default-deny"),
        deny("readonly", "terraform apply -auto-approve", "airlock.default-deny"),
        deny("readonly", "terraform destroy", "airlock.default-deny"),
        deny("readonly", "terraform init", "airlock.default-deny"),
        deny("readonly", "terraform state rm aws_instance.x", "airlock.default-deny"),
        deny("developer", "terraform apply", "airlock.default-deny"),
        deny("readonly", "terraform -chdir=/etc plan", "terraform-chdir-in-workspace"),
        deny("readonly", "terraform -chdir=.. plan", "terraform-chdir-in-workspace"),
        deny("readonly", "terraform plan -var-file=/etc/secrets.tfvars", "terraform-files-in-workspace"),
        // terraform drops -no-color from anywhere before parsing: it is not -out's value.
        deny("readonly", "terraform plan -out -no-color /etc/x", "terraform-writes-in-tmp"),
        allow("readonly", "terraform plan -no-color -out=/tmp/x", "terraform-inspect"),
        deny("readonly", "terraform plan -bogus", "airlock.unknown-option"),
        deny("readonly", "terraform plan -out", "airlock.missing-value"),
        deny("readonly", "terraform fmt -check=maybe", "airlock.unexpected-value"),
    ]

    static let aws: [JudgeCase] = [
        allow("readonly", "aws sts get-caller-identity", "aws-inspect"),
        allow("readonly", "aws s3 ls", "aws-inspect"),
        allow("readonly", "aws s3 ls s3://bucket --recursive", "aws-inspect"),
        allow("readonly", "aws s3 ls s3://bucket/prefix/ --human-readable --summarize", "aws-inspect"),
        allow("readonly", "aws ec2 describe-instances", "aws-inspect"),
        allow("readonly", "aws ec2 describe-instances --region us-east-1 --output json", "aws-inspect"),
        allow("readonly", "aws ec2 describe-instances --filters Name=tag:env,Values=prod", "aws-inspect"),
        allow("readonly", "aws ec2 describe-vpcs --query Vpcs[].VpcId", "aws-inspect"),
        allow("readonly", "aws --region eu-west-1 ec2 describe-regions", "aws-inspect"),
        allow("readonly", "aws ec2 describe-security-groups --group-ids sg-1", "aws-inspect"),
        allow("developer", "aws sts get-caller-identity", "aws-inspect"),
        deny("readonly", "aws --endpoint-url http://evil.example s3 ls", "aws-no-endpoint-override"),
        deny("readonly", "aws s3 ls --endpoint-url=http://evil.example", "aws-no-endpoint-override"),
        deny("readonly", "aws s3 ls --endpoint http://evil.example", "aws-no-endpoint-override"),
        deny("readonly", "aws --endp http://evil.example s3 ls", "aws-no-endpoint-override"),
        deny("readonly", "aws s3 ls --profile admin", "aws-no-endpoint-override"),
        deny("readonly", "aws s3 ls --no-verify-ssl", "aws-no-endpoint-override"),
        deny("readonly", "aws s3 ls --ca-bundle /tmp/ca.pem", "aws-no-endpoint-override"),
        deny("readonly", "aws ec2 describe-instances --cli-input-json file:///etc/passwd", "aws-no-local-files"),
        deny("readonly", "aws ec2 describe-instances --filters file://f.json", "aws-no-local-file-lists"),
        deny("readonly", "aws ec2 describe-instances --filters FILE:///x", "aws-no-local-file-lists"),
        deny("readonly", "aws ec2 describe-instances --filters=fileb://x", "aws-no-local-files"),
        deny("readonly", "aws s3 cp x s3://bucket/x", "airlock.default-deny"),
        deny("readonly", "aws s3 rm s3://bucket/x", "airlock.default-deny"),
        deny("readonly", "aws iam create-user --user-name x", "airlock.default-deny"),
        deny("readonly", "aws iam list-users", "airlock.default-deny"),
        deny("readonly", "aws ec2 run-instances --image-id ami-1", "airlock.default-deny"),
        deny("readonly", "aws ec2 terminate-instances --instance-ids i-1", "airlock.default-deny"),
        deny("readonly", "aws sts assume-role --role-arn arn:aws:iam::1:role/x --role-session-name s", "airlock.default-deny"),
        deny("developer", "aws s3 rm s3://bucket/x", "airlock.default-deny"),
        // argparse never takes an option-like word as a value: aws would read --endpoint-url.
        deny("readonly", "aws s3 ls --page-size --endpoint-url http://evil.example", "airlock.missing-value"),
        deny("readonly", "aws ec2 describe-instances --filters --endpoint-url http://evil.example", "aws-no-endpoint-override"),
        deny("readonly", "aws s3 ls --bogus", "airlock.unknown-option"),
        deny("readonly", "aws frob", "airlock.unknown-subcommand"),
        deny("readonly", "aws ec2", "airlock.missing-subcommand"),
    ]

    static let all = git + kubectl + gh + terraform + aws
}

@Suite("The judge on the default policy")
struct JudgeTableTests {
    @Test("the table covers at least 200 cases over the five tools and both contexts")
    func coverage() {
        #expect(JudgeTable.all.count >= 200)
        for tool in ["git", "kubectl", "gh", "terraform", "aws"] {
            for context in ["readonly", "developer"] {
                #expect(JudgeTable.all.contains { $0.argv.first == tool && $0.context == context }, "\(tool) in \(context)")
            }
        }
    }

    @Test("decision and deciding rule", arguments: JudgeTable.all)
    func decide(_ row: JudgeCase) {
        let request = JudgeRequest(tool: row.argv[0], argv: Array(row.argv.dropFirst()), tenant: row.tenant, securityContext: row.context)
        let decision = TestSupport.judge.decide(request)
        #expect(decision.allowed == row.allowed, "\(decision.ruleID): \(decision.reason)")
        #expect(decision.ruleID == row.rule, "\(decision.reason)")
        #expect(decision.policyDigest == TestSupport.defaultPolicy.digest)
        #expect(!decision.reason.isEmpty)
        #expect(decision.securityContext == row.context)
        // --explain walks every rule of the tool; the decision path uses the per-command index.
        #expect(TestSupport.judge.explain(request).decision == decision)
    }

    @Test("every deny rule of the default policy is exercised by the table")
    func everyDenyRuleIsTested() {
        let tested = Set(JudgeTable.all.map(\.rule))
        for context in TestSupport.defaultPolicy.contexts.values {
            for rule in context.denyRules + context.allowRules {
                #expect(tested.contains(rule.id), "rule \(rule.id) has no case in the table")
            }
        }
    }

    @Test("an argument that arrives as invalid UTF-8 is denied")
    func invalidUTF8() {
        let request = JudgeRequest(tool: "git", rawArgv: [Array("log".utf8), [0xC3, 0x28]], securityContext: "readonly")
        let decision = TestSupport.judge.decide(request)
        #expect(!decision.allowed)
        #expect(decision.ruleID == "airlock.invalid-argument")
        #expect(decision.reason == "argument 2 is not valid UTF-8")
    }

    @Test("the requested subcommand is reported as understood, also when denied")
    func requestedSubcommand() {
        func subcommand(_ tool: String, _ argv: [String]) -> String {
            TestSupport.judge.decide(JudgeRequest(tool: tool, argv: argv, securityContext: "readonly")).requestedSubcommand
        }
        #expect(subcommand("git", ["--no-pager", "remote", "-v", "add", "x", "y"]) == "remote add")
        #expect(subcommand("git", ["frobnicate", "--x"]) == "frobnicate")
        #expect(subcommand("git", ["push", "--bogus"]) == "push")
        #expect(subcommand("kubectl", ["top", "pods"]) == "top pod")
        #expect(subcommand("aws", ["ec2", "describe-instances"]) == "ec2 describe-instances")
    }
}
