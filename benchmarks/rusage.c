// SPDX-License-Identifier: BSL-1.0
/* benchmarks/rusage.c: runs a command and writes what wait4 says it cost.
 *
 *   h2coal_rusage REPORT_FILE COMMAND [ARG...]
 *
 * Forks, execs COMMAND, waits for it with wait4 and writes one line to REPORT_FILE:
 *   "exit=<code or -signal> user=<s> sys=<s> maxrss_kib=<KiB> wall=<s>"
 * and exits with COMMAND's status. benchmarks/compare runs every client through it: ru_maxrss counts
 * the memory of the process the child was forked from until it execs, so the fork must come from a
 * small process like this one, not from the Python interpreter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: h2coal_rusage REPORT_FILE COMMAND [ARG...]\n");
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("h2coal_rusage: fork");
    return 2;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror("h2coal_rusage: exec");
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("h2coal_rusage: wait4");
      return 2;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  FILE* f = fopen(argv[1], "w");
  if (!f) {
    perror("h2coal_rusage: report file");
    return 2;
  }
  fprintf(f, "exit=%d user=%.6f sys=%.6f maxrss_kib=%ld wall=%.6f\n", code, seconds(ru.ru_utime),
          seconds(ru.ru_stime), ru.ru_maxrss,
          (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  fclose(f);
  return code < 0 ? 128 - code : code;
}
