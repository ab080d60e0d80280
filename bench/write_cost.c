// What one write() of 110 bytes to a loopback TCP socket costs, nobody waiting on the reading end
// (the kernel's share of a gateway write; bench/write_cost.ts is the same in Deno).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000, rounds = argc > 2 ? atoi(argv[2]) : 50;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(l, (void *)&a, sizeof a); listen(l, 4096);
  socklen_t al = sizeof a; getsockname(l, (void *)&a, &al);
  int *w = malloc(n * sizeof(int)), *r = malloc(n * sizeof(int));
  for (int i = 0; i < n; i++) {
    r[i] = socket(AF_INET, SOCK_STREAM, 0);
    connect(r[i], (void *)&a, sizeof a);
    w[i] = accept(l, 0, 0);
    int one = 1; setsockopt(w[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  char buf[110] = {0x81, 108};
  struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int k = 0; k < rounds; k++) for (int i = 0; i < n; i++) if (write(w[i], buf, 110) != 110) return 1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double us = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
  printf("C write(): %.2f us per write (%d sockets x %d rounds)\n", us / n / rounds, n, rounds);
  return 0;
}
