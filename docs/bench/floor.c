/* The floor: the fewest system calls a locked read-modify-write of a JSON
 * counter file can make, in C, with no JSON library (the counter is parsed
 * with strtol). One process, N operations, prints ops/s.
 *
 *   cc -O2 -o floor floor.c
 *   ./floor rename DIR N    flock sidecar, read, write temp file, rename
 *   ./floor fsync  DIR N    the same + fdatasync(temp) + fsync(dir)
 *   ./floor pwrite DIR N    flock sidecar, pread, pwrite in place (no rename)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s rename|fsync|pwrite DIR N\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[3]);
    char data[4096], tmp[4096], lock[4096], buf[64];
    snprintf(data, sizeof data, "%s/floor.json", argv[2]);
    snprintf(tmp, sizeof tmp, "%s/.floor.json.tmp", argv[2]);
    snprintf(lock, sizeof lock, "%s/floor.json.lock", argv[2]);
    int fd = open(data, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "0\n", 2) != 2) die("init");
    close(fd);
    int dirfd = open(argv[2], O_RDONLY | O_DIRECTORY);
    int lfd = open(lock, O_RDWR | O_CREAT, 0666);
    int pfd = open(data, O_RDWR);
    if (dirfd < 0 || lfd < 0 || pfd < 0) die("open");
    int in_place = strcmp(mode, "pwrite") == 0, sync = strcmp(mode, "fsync") == 0;

    double start = now();
    for (long i = 0; i < n; i++) {
        if (flock(lfd, LOCK_EX) != 0) die("flock");
        long value;
        if (in_place) {
            ssize_t r = pread(pfd, buf, sizeof buf - 1, 0);
            if (r < 0) die("pread");
            buf[r] = 0;
            value = strtol(buf, NULL, 10) + 1;
            int len = snprintf(buf, sizeof buf, "%ld\n", value);
            if (pwrite(pfd, buf, len, 0) != len) die("pwrite");
        } else {
            int rfd = open(data, O_RDONLY);
            ssize_t r = read(rfd, buf, sizeof buf - 1);
            if (rfd < 0 || r < 0) die("read");
            close(rfd);
            buf[r] = 0;
            value = strtol(buf, NULL, 10) + 1;
            int len = snprintf(buf, sizeof buf, "%ld\n", value);
            int wfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (wfd < 0 || write(wfd, buf, len) != len) die("write temp");
            if (sync && fdatasync(wfd) != 0) die("fdatasync");
            close(wfd);
            if (rename(tmp, data) != 0) die("rename");
            if (sync && fsync(dirfd) != 0) die("fsync dir");
        }
        if (flock(lfd, LOCK_UN) != 0) die("unlock");
    }
    double secs = now() - start;
    printf("%s %ld %.6f %.1f\n", mode, n, secs, n / secs);
    return 0;
}
