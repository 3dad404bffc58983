/* Tries one syscall that a hardened container must refuse, and says whether it was refused.
 * Exit 0: refused (EPERM, EACCES or ENOSYS). Exit 1: the kernel accepted or examined the call.
 * Built statically by the engine tests and mounted into the test container. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

static int refused(const char *name, long result) {
    int error = errno;
    if (result < 0 && (error == EPERM || error == EACCES || error == ENOSYS)) {
        printf("%s: refused (%s)\n", name, strerror(error));
        return 0;
    }
    printf("%s: NOT refused (result %ld, %s)\n", name, result, result < 0 ? strerror(error) : "ok");
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: syscall-probe NAME\n"); return 2; }
    const char *name = argv[1];
    errno = 0;
    if (!strcmp(name, "ptrace")) return refused(name, ptrace(PTRACE_TRACEME, 0, 0, 0));
    if (!strcmp(name, "unshare")) return refused(name, unshare(CLONE_NEWUSER | CLONE_NEWNS));
    if (!strcmp(name, "mount")) return refused(name, mount("none", "/tmp", "tmpfs", 0, ""));
    if (!strcmp(name, "keyctl")) return refused(name, syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    if (!strcmp(name, "bpf")) return refused(name, syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, 0, 0));
    if (!strcmp(name, "clone-newns")) return refused(name, syscall(SYS_clone, CLONE_NEWNS | 17 /* SIGCHLD */, 0, 0, 0, 0));
    fprintf(stderr, "unknown probe %s\n", name);
    return 2;
}
