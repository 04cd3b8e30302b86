/* The floor of one `jlock incr FILE` per exec: the same job — lock FILE.lock,
 * read the counter in FILE, add 1, write it to a temporary file, rename it
 * over FILE, unlock, print the new value — in C, one op per process, as a
 * shell loop runs it. Its arguments are jlock's (`one_op incr FILE`), so
 * docs/bench/startup.py can run it beside a jlock binary:
 *
 *   cc -O2 -static -o one_op docs/bench/one_op.c
 *   python3 docs/bench/startup.py ./one_op target/.../jlock 3000
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 3 || strcmp(argv[1], "incr") != 0) {
        fprintf(stderr, "usage: %s incr FILE\n", argv[0]);
        return 64;
    }
    const char *data = argv[2];
    char lock[4096], tmp[4096], buf[64];
    const char *slash = strrchr(data, '/');
    int dirlen = slash ? (int)(slash - data + 1) : 0;
    snprintf(lock, sizeof lock, "%s.lock", data);
    snprintf(tmp, sizeof tmp, "%.*s.%s.jlock-tmp", dirlen, data, data + dirlen);
    int lk = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0666);
    if (lk < 0 || flock(lk, LOCK_EX) < 0) die("lock");
    int fd = open(data, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open");
    ssize_t len = read(fd, buf, sizeof buf - 1);
    if (len < 0) die("read");
    buf[len] = 0;
    long n = strtol(buf, NULL, 10) + 1;
    int t = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (t < 0) die("create temp");
    int w = snprintf(buf, sizeof buf, "%ld\n", n);
    if (write(t, buf, w) != w) die("write");
    if (rename(tmp, data) < 0) die("rename");
    close(t);
    close(fd);
    flock(lk, LOCK_UN);
    close(lk);
    if (write(1, buf, w) != w) die("print");
    return 0;
}
