#!/usr/bin/env python3
"""A packet relay between two TUN devices that adds delay and random loss, per direction: a
userspace stand-in for `tc netem` (whose kernel module, sch_netem, many VM and CI kernels lack,
this machine's included), used by test/helpers/netns.ts.

Usage: tun-netem.py <instance-tun> <database-tun>

Both devices must exist (`ip tuntap add dev … mode tun`) in the namespace this runs in; the
instance's device may be moved to another namespace once "ready" is printed: the relay keeps its
file descriptors. IP packets read on one device are written to the other, unchanged, unless
dropped. Written in Python because attaching to a TUN device takes an ioctl (TUNSETIFF), which
Node cannot make.

Control, one line on stdin each, answered with "ok" on stdout:
  set <to-database|to-instance> <delay-ms> <loss 0..1>
A fixed delay keeps packets in order (as netem does without jitter). EOF on stdin ends the relay.
"""
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def attach(name):
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    instance_name, database_name = sys.argv[1], sys.argv[2]
    instance = attach(instance_name)
    database = attach(database_name)
    # direction -> [delay seconds, loss probability]
    shaping = {'to-database': [0.0, 0.0], 'to-instance': [0.0, 0.0]}
    route = {instance: (database, 'to-database'), database: (instance, 'to-instance')}
    pending = []  # heap of (due, sequence, fd, packet)
    sequence = 0
    stdin = sys.stdin.fileno()
    print('ready', flush=True)
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        readable, _, _ = select.select([instance, database, stdin], [], [], timeout)
        for fd in readable:
            if fd == stdin:
                line = sys.stdin.readline()
                if not line:
                    return
                parts = line.split()
                if len(parts) != 4 or parts[0] != 'set' or parts[1] not in shaping:
                    print(f'error: expected "set <to-database|to-instance> <delay-ms> <loss>", got {line.strip()!r}', flush=True)
                    continue
                shaping[parts[1]] = [float(parts[2]) / 1000.0, float(parts[3])]
                print('ok', flush=True)
                continue
            target, direction = route[fd]
            delay, loss = shaping[direction]
            # Drain what the device has queued: one read returns one packet.
            for _ in range(256):
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if loss > 0 and random.random() < loss:
                    continue
                sequence += 1
                heapq.heappush(pending, (time.monotonic() + delay, sequence, target, packet))
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, target, packet = heapq.heappop(pending)
            try:
                os.write(target, packet)
            except OSError:
                pass  # the device is down or gone (teardown): the packet is lost, as on a wire


if __name__ == '__main__':
    main()
