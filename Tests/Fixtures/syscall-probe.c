/* Tries what a hardened container must refuse, and says whether it was refused.
 *
 *   syscall-probe NAME     one check; exit 0: refused, 1: the kernel accepted or examined it
 *   syscall-probe all      every check, one line each; exit status: how many were not refused
 *   syscall-probe ns       the inode of each namespace this process is in (to compare with the host's)
 *
 * A check is refused when the call fails with EPERM, EACCES or ENOSYS (the seccomp profile's
 * errno, a missing capability, or a syscall the kernel does not offer); sockets may also fail with
 * EAFNOSUPPORT, and the network checks expect no route at all (ENETUNREACH, or EHOSTUNREACH under
 * gVisor, whose own network stack is off). Extra arguments are ignored, so a policy may pass the
 * judged argv after the check's name.
 * Built statically by the engine tests and scripts/escape-matrix, and mounted into the container. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int refused_with(const char *name, long result, int also) {
    int error = errno;
    if (result < 0 && (error == EPERM || error == EACCES || error == ENOSYS || (also && error == also))) {
        printf("%s: refused (%s)\n", name, strerror(error));
        return 0;
    }
    printf("%s: NOT refused (result %ld, %s)\n", name, result, result < 0 ? strerror(error) : "ok");
    return 1;
}

static int refused(const char *name, long result) { return refused_with(name, result, 0); }

static long connect_to(int family, const char *address, int type) {
    int fd = socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return fd;
    long result;
    if (family == AF_INET) {
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53)};
        inet_pton(AF_INET, address, &to.sin_addr);
        result = connect(fd, (struct sockaddr *)&to, sizeof to);
    } else {
        struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_port = htons(53)};
        inet_pton(AF_INET6, address, &to.sin6_addr);
        result = connect(fd, (struct sockaddr *)&to, sizeof to);
    }
    int error = errno;
    close(fd);
    errno = error;
    return result;
}

/* No route out: connecting anywhere but loopback fails at once. */
static int unreachable(const char *name, long result) {
    int error = errno;
    if (result < 0 && (error == ENETUNREACH || error == EHOSTUNREACH || error == EADDRNOTAVAIL || error == EAFNOSUPPORT || error == EPERM ||
                       error == EACCES)) {
        printf("%s: refused (%s)\n", name, strerror(error));
        return 0;
    }
    printf("%s: NOT refused (result %ld, %s)\n", name, result, result < 0 ? strerror(error) : "ok");
    return 1;
}

static int check(const char *name) {
    errno = 0;
    /* Namespaces. */
    if (!strcmp(name, "unshare")) return refused(name, unshare(CLONE_NEWUSER | CLONE_NEWNS));
    if (!strcmp(name, "unshare-net")) return refused(name, unshare(CLONE_NEWNET));
    if (!strcmp(name, "clone-newns")) return refused(name, syscall(SYS_clone, CLONE_NEWNS | 17 /* SIGCHLD */, 0, 0, 0, 0));
    if (!strcmp(name, "clone-newuser")) return refused(name, syscall(SYS_clone, CLONE_NEWUSER | 17, 0, 0, 0, 0));
    if (!strcmp(name, "setns")) {
        /* gVisor has no namespace files: nothing to join is refused too. */
        int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        return fd < 0 ? refused_with(name, fd, ENOENT) : refused(name, setns(fd, 0));
    }
    /* Mounts and the root. */
    if (!strcmp(name, "mount")) return refused(name, mount("none", "/tmp", "tmpfs", 0, ""));
    if (!strcmp(name, "umount")) return refused_with(name, umount2("/proc", MNT_DETACH), EINVAL);
    if (!strcmp(name, "pivot_root")) return refused_with(name, syscall(SYS_pivot_root, "/tmp", "/tmp"), EINVAL);
    if (!strcmp(name, "chroot")) return refused(name, chroot("/tmp"));
    /* Other processes and the kernel's secrets. */
    if (!strcmp(name, "ptrace")) return refused(name, ptrace(PTRACE_TRACEME, 0, 0, 0));
    if (!strcmp(name, "keyctl")) return refused(name, syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    if (!strcmp(name, "add_key")) return refused(name, syscall(SYS_add_key, "user", "airlock", "x", 1, -3 /* session */));
    if (!strcmp(name, "bpf")) return refused(name, syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, 0, 0));
    if (!strcmp(name, "perf_event_open")) return refused_with(name, syscall(SYS_perf_event_open, 0, 0, -1, -1, 0), EINVAL);
    if (!strcmp(name, "userfaultfd")) return refused(name, syscall(SYS_userfaultfd, 0));
    if (!strcmp(name, "io_uring_setup")) return refused_with(name, syscall(SYS_io_uring_setup, 1, 0), EFAULT);
    if (!strcmp(name, "open_by_handle_at")) return refused_with(name, syscall(SYS_open_by_handle_at, -1, 0, 0), EBADF);
    if (!strcmp(name, "syslog")) return refused(name, syscall(SYS_syslog, 3 /* READ_ALL */, 0, 0));
    /* The machine: modules, kexec, clock, reboot, swap, accounting, host name, devices. */
    if (!strcmp(name, "init_module")) return refused(name, syscall(SYS_init_module, 0, 0, ""));
    if (!strcmp(name, "finit_module")) return refused_with(name, syscall(SYS_finit_module, -1, "", 0), EBADF);
    if (!strcmp(name, "delete_module")) return refused_with(name, syscall(SYS_delete_module, "airlock", 0), ENOENT);
    if (!strcmp(name, "kexec_load")) return refused(name, syscall(SYS_kexec_load, 0, 0, 0, 0));
    if (!strcmp(name, "clock_settime")) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        return refused(name, clock_settime(CLOCK_REALTIME, &now));
    }
    if (!strcmp(name, "settimeofday")) {
        struct timeval now;
        gettimeofday(&now, 0);
        return refused(name, settimeofday(&now, 0));
    }
    /* Bad magic numbers: the capability check comes first (EPERM); with it, EINVAL, and nothing happens. */
    if (!strcmp(name, "reboot")) return refused(name, syscall(SYS_reboot, 0, 0, 0, 0));
    if (!strcmp(name, "swapon")) return refused_with(name, syscall(SYS_swapon, "/tmp/none", 0), ENOENT);
    if (!strcmp(name, "acct")) return refused(name, syscall(SYS_acct, "/tmp/acct"));
    if (!strcmp(name, "sethostname")) return refused(name, sethostname("airlock", 7));
    if (!strcmp(name, "mknod")) return refused(name, mknod("/tmp/null", S_IFCHR | 0666, makedev(1, 3)));
    if (!strcmp(name, "setuid")) return refused(name, setuid(0));
    /* The network: no raw or packet sockets, no changes to interfaces, no route out. */
    if (!strcmp(name, "raw-socket")) return refused_with(name, socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), EAFNOSUPPORT);
    if (!strcmp(name, "packet-socket")) return refused_with(name, socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), EAFNOSUPPORT);
    if (!strcmp(name, "interface-down")) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq request;
        memset(&request, 0, sizeof request);
        strcpy(request.ifr_name, "lo");
        request.ifr_flags = 0;
        /* ENOTTY: gVisor does not implement the request at all. */
        return refused_with(name, fd < 0 ? fd : ioctl(fd, SIOCSIFFLAGS, &request), ENOTTY);
    }
    if (!strcmp(name, "route-out-udp")) return unreachable(name, connect_to(AF_INET, "192.0.2.1", SOCK_DGRAM));
    if (!strcmp(name, "route-out-tcp")) return unreachable(name, connect_to(AF_INET, "192.0.2.1", SOCK_STREAM));
    if (!strcmp(name, "route-out-ipv6")) return unreachable(name, connect_to(AF_INET6, "2001:db8::1", SOCK_DGRAM));
    printf("%s: unknown check\n", name);
    return 1;
}

static const char *all[] = {
    "unshare", "unshare-net", "clone-newns", "clone-newuser", "setns", "mount", "umount", "pivot_root", "chroot", "ptrace",
    "keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "open_by_handle_at", "syslog",
    "init_module", "finit_module", "delete_module", "kexec_load", "clock_settime", "settimeofday", "reboot", "swapon",
    "acct", "sethostname", "mknod", "setuid", "raw-socket", "packet-socket", "interface-down", "route-out-udp",
    "route-out-tcp", "route-out-ipv6",
};

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: syscall-probe NAME|all|ns\n"); return 2; }
    if (!strcmp(argv[1], "ns")) {
        const char *kinds[] = {"cgroup", "ipc", "mnt", "net", "pid", "uts", "user"};
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            char path[64];
            struct stat info;
            snprintf(path, sizeof path, "/proc/self/ns/%s", kinds[i]);
            if (stat(path, &info) == 0) printf("ns %s %lu\n", kinds[i], (unsigned long)info.st_ino);
            else printf("ns %s unknown\n", kinds[i]);
        }
        return 0;
    }
    if (!strcmp(argv[1], "all")) {
        int failures = 0;
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
            fflush(stdout);
            failures += check(all[i]);
        }
        return failures;
    }
    return check(argv[1]);
}
