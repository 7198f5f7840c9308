// Bun listens with a fixed backlog of 512 (uSockets' listen(fd, 512); Bun.serve has no option for it).
// A flash crowd opens thousands of connections in the same instant: past 512 pending handshakes the
// kernel answers with SYN cookies, drops the ACKs it has no room for, and clients wait for their
// retransmits (1 s, then 3 s…). Linux lets a listening socket's backlog be changed by calling listen()
// on it again, so once Bun has bound the port this finds that socket among the process's descriptors
// and calls listen(fd, backlog) through bun:ffi. The kernel caps the value at net.core.somaxconn.
import { dlopen, FFIType } from "bun:ffi";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const BUN_BACKLOG = 512;

/** Raises the backlog of this process's listening TCP socket(s) on `port`; returns how many it changed. */
export function raiseListenBacklog(port: number, backlog: number): number {
  if (backlog <= BUN_BACKLOG || process.platform !== "linux") return 0;
  try {
    const inodes = listeningInodes(port);
    const libc = dlopen("libc.so.6", { listen: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
    let raised = 0;
    try {
      for (const fd of readdirSync("/proc/self/fd")) {
        let link: string;
        try {
          link = readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          continue; // closed since the listing
        }
        const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
        if (inode && inodes.has(inode) && libc.symbols.listen(Number(fd), backlog) === 0) raised++;
      }
    } finally {
      libc.close();
    }
    if (raised === 0) console.warn(`listen backlog: no listening socket of this process found on :${port}; it stays at ${BUN_BACKLOG}`);
    return raised;
  } catch (e) {
    console.warn(`listen backlog stays at ${BUN_BACKLOG}: ${(e as Error).message}`);
    return 0;
  }
}

/** Inodes of the sockets listening on `port` in this network namespace (/proc/net/tcp{,6}, state 0A). */
function listeningInodes(port: number): Set<string> {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue; // no IPv6
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === "0A" && f[1]?.endsWith(hexPort) && f[9]) inodes.add(f[9]);
    }
  }
  return inodes;
}
