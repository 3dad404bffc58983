/* airlock-probe: reports, from inside a container, what the sandbox really is.
 *
 * Airlock's canary runs it with a tool's exact container settings (its entrypoint replaced) and
 * compares each line with what the policy asked for. It prints one `key=value` per line, in a
 * fixed order, and only what the settings determine (no hostname, no pids, no times), so that the
 * same settings on the same engine print the same bytes. Built statically: it runs in any image.
 *
 * Read from the kernel, not from what the engine says it did: capability sets and no_new_privs
 * from prctl and /proc/self/status, the seccomp mode, which places can be written (by trying),
 * mounts and device nodes beyond the engine's own, network interfaces, the cgroup's memory and
 * pids limits, rlimits, and the environment's names (never its values: they may be credentials).
 *
 * Given the tool's entrypoint as its one argument, it also says whether that program is there and
 * executable by the sandbox's user: an image without its tool fails at the canary, not at a call. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

extern char **environ;

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The value of `Key:\t...` in /proc/self/status, or "unknown". */
static void status_field(const char *key, char *out, size_t size) {
    snprintf(out, size, "unknown");
    FILE *status = fopen("/proc/self/status", "r");
    if (!status) return;
    char line[512];
    size_t length = strlen(key);
    while (fgets(line, sizeof line, status)) {
        if (strncmp(line, key, length) == 0 && line[length] == ':') {
            char *value = line + length + 1;
            while (*value == ' ' || *value == '\t') value++;
            value[strcspn(value, "\n")] = 0;
            snprintf(out, size, "%s", value);
            break;
        }
    }
    fclose(status);
}

/* The first line of a file, or "unknown". */
static void first_line(const char *path, char *out, size_t size) {
    snprintf(out, size, "unknown");
    FILE *file = fopen(path, "r");
    if (!file) return;
    if (fgets(out, (int)size, file)) out[strcspn(out, "\n")] = 0;
    else snprintf(out, size, "unknown");
    fclose(file);
}

/* A cgroup limit: v2 (`memory.max`) or v1 (`memory/memory.limit_in_bytes`); v1's "no limit" is a
 * huge number, reported as "max" as v2 does. */
static void cgroup_limit(const char *v2, const char *v1, char *out, size_t size) {
    first_line(v2, out, size);
    if (strcmp(out, "unknown") != 0) return;
    first_line(v1, out, size);
    if (strcmp(out, "unknown") == 0) return;
    char *end = NULL;
    unsigned long long value = strtoull(out, &end, 10);
    if (end && *end == 0 && value >= (1ULL << 62)) snprintf(out, size, "max");
}

static void print_rlimit(const char *name, int resource) {
    struct rlimit limit;
    if (getrlimit(resource, &limit) != 0) { printf("%s=unknown\n", name); return; }
    if (limit.rlim_cur == RLIM_INFINITY) printf("%s=unlimited", name);
    else printf("%s=%llu", name, (unsigned long long)limit.rlim_cur);
    if (limit.rlim_max == RLIM_INFINITY) printf(":unlimited\n");
    else printf(":%llu\n", (unsigned long long)limit.rlim_max);
}

/* Whether this process can create a file in `directory`: tried, then removed. */
static int can_write(const char *directory) {
    char path[4096];
    snprintf(path, sizeof path, "%s/.airlock-probe-%d", strcmp(directory, "/") == 0 ? "" : directory, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return 0;
    close(fd);
    unlink(path);
    return 1;
}

/* Every mount point the process can create a file in, with whether programs there may run. */
static void writable_places(void) {
    FILE *mounts = fopen("/proc/self/mountinfo", "r");
    if (!mounts) { printf("writable=unknown\n"); return; }
    char *places[512];
    size_t count = 0;
    char line[4096];
    while (fgets(line, sizeof line, mounts) && count < 512) {
        /* id parent major:minor root mountpoint options ... */
        char point[4096], options[1024];
        if (sscanf(line, "%*s %*s %*s %*s %4095s %1023s", point, options) != 2) continue;
        /* Kernel interfaces: writing there is governed by the seccomp profile and capabilities. */
        if (!strncmp(point, "/proc", 5) || !strncmp(point, "/sys", 4) || !strcmp(point, "/dev/pts")) continue;
        if (!strcmp(point, "/airlock-probe")) continue;
        struct stat info;
        if (stat(point, &info) != 0 || !S_ISDIR(info.st_mode)) continue;
        if (!can_write(point)) continue;
        struct statvfs fs;
        int noexec = statvfs(point, &fs) == 0 && (fs.f_flag & ST_NOEXEC);
        char *entry = NULL;
        if (asprintf(&entry, "%s%s", point, noexec ? " noexec" : " exec") < 0) continue;
        places[count++] = entry;
    }
    fclose(mounts);
    /* The root itself, when it is not a mount point of its own here. */
    qsort(places, count, sizeof places[0], compare_strings);
    for (size_t i = 0; i < count; i++) { printf("writable=%s\n", places[i]); free(places[i]); }
}

/* Mount points the engine adds to every container, and the probe itself: anything else (a volume
 * from containers.conf, a mounts.conf default) is reported. */
static int engine_mount(const char *point) {
    static const char *known[] = {"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/mqueue", "/tmp", "/etc/hosts", "/etc/hostname",
                                  "/etc/resolv.conf", "/run/.containerenv", "/airlock-probe"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(point, known[i])) return 1;
    return !strncmp(point, "/proc/", 6) || !strncmp(point, "/sys/", 5);
}

static void other_mounts(void) {
    FILE *mounts = fopen("/proc/self/mountinfo", "r");
    if (!mounts) { printf("mount=unknown\n"); return; }
    char *points[512];
    size_t count = 0;
    char line[4096];
    while (fgets(line, sizeof line, mounts) && count < 512) {
        char point[4096];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 || engine_mount(point)) continue;
        points[count++] = strdup(point);
    }
    fclose(mounts);
    qsort(points, count, sizeof points[0], compare_strings);
    for (size_t i = 0; i < count; i++) { printf("mount=%s\n", points[i]); free(points[i]); }
}

/* Device nodes directly in /dev: a `devices` default of the engine adds to them. */
static void devices(void) {
    DIR *directory = opendir("/dev");
    if (!directory) { printf("device=unknown\n"); return; }
    char *names[256];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) && count < 256) {
        char path[512];
        struct stat info;
        snprintf(path, sizeof path, "/dev/%s", entry->d_name);
        if (lstat(path, &info) != 0 || !(S_ISCHR(info.st_mode) || S_ISBLK(info.st_mode))) continue;
        names[count++] = strdup(entry->d_name);
    }
    closedir(directory);
    qsort(names, count, sizeof names[0], compare_strings);
    for (size_t i = 0; i < count; i++) { printf("device=%s\n", names[i]); free(names[i]); }
}

static void interfaces(void) {
    struct if_nameindex *list = if_nameindex();
    if (!list) { printf("interface=unknown\n"); return; }
    char *names[256];
    size_t count = 0;
    for (struct if_nameindex *i = list; i->if_index != 0 && i->if_name && count < 256; i++) names[count++] = strdup(i->if_name);
    if_freenameindex(list);
    qsort(names, count, sizeof names[0], compare_strings);
    for (size_t i = 0; i < count; i++) { printf("interface=%s\n", names[i]); free(names[i]); }
}

static void environment_names(void) {
    char *names[1024];
    size_t count = 0;
    for (char **variable = environ; *variable && count < 1024; variable++) {
        size_t length = strcspn(*variable, "=");
        names[count++] = strndup(*variable, length);
    }
    qsort(names, count, sizeof names[0], compare_strings);
    for (size_t i = 0; i < count; i++) { printf("env=%s\n", names[i]); free(names[i]); }
}

/* `executable`, `missing` or `not executable`: the program as the engine would exec it (a name
 * without a slash is looked up in PATH, as execvp does). */
static const char *entrypoint_state(const char *program) {
    if (strchr(program, '/')) {
        if (access(program, F_OK) != 0) return "missing";
        struct stat info;
        if (stat(program, &info) != 0 || !S_ISREG(info.st_mode) || access(program, X_OK) != 0) return "not executable";
        return "executable";
    }
    const char *path = getenv("PATH");
    const char *state = "missing";
    char candidate[4096];
    while (path && *path) {
        size_t length = strcspn(path, ":");
        if (length > 0 && (size_t)snprintf(candidate, sizeof candidate, "%.*s/%s", (int)length, path, program) < sizeof candidate) {
            const char *found = entrypoint_state(candidate);
            if (strcmp(found, "executable") == 0) return found;
            if (strcmp(found, "not executable") == 0) state = found;
        }
        path += length;
        if (*path == ':') path++;
    }
    return state;
}

int main(int argc, char **argv) {
    char value[256];
    printf("probe=1\n");
    if (argc > 1) printf("entrypoint=%s\n", entrypoint_state(argv[1]));
    printf("uid=%d\n", (int)getuid());
    printf("euid=%d\n", (int)geteuid());
    printf("gid=%d\n", (int)getgid());
    gid_t groups[64];
    int group_count = getgroups(64, groups);
    printf("groups=");
    for (int i = 0; i < group_count; i++) printf("%s%d", i ? "," : "", (int)groups[i]);
    printf("\n");
    const char *capabilities[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    for (size_t i = 0; i < 5; i++) {
        status_field(capabilities[i], value, sizeof value);
        printf("%s=%s\n", capabilities[i], value);
    }
    int no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    printf("no_new_privs=%d\n", no_new_privs);
    status_field("Seccomp", value, sizeof value);
    printf("seccomp=%s\n", value);
    printf("root_writable=%d\n", can_write("/"));
    writable_places();
    other_mounts();
    devices();
    interfaces();
    cgroup_limit("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes", value, sizeof value);
    printf("memory_max=%s\n", value);
    cgroup_limit("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max", value, sizeof value);
    printf("pids_max=%s\n", value);
    print_rlimit("nofile", RLIMIT_NOFILE);
    print_rlimit("nproc", RLIMIT_NPROC);
    environment_names();
    return 0;
}
