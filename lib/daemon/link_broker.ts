// Symlink creation for the sandboxed daemon, done by its unsandboxed parent.
//
// Deno refuses Deno.symlink under path-scoped write permission (a link's
// target is resolved later, outside the grant). Rather than widening the
// sandbox, the sandboxed daemon asks its parent process, over its own
// stdin/stdout, to create each link; the parent re-checks that the link
// lands inside a writable module before making it. Link targets are only
// text: nothing is ever followed.
import type { FileEntry } from "../fs/entry.ts";
import { applySymlink } from "../fs/apply_tree.ts";
import { ContainedRoot } from "../fs/contained_root.ts";
import type { ModuleConfig } from "./config.ts";
import { MUNGE_PREFIX, staysInside } from "./symlink_policy.ts";

/** Marks a broker request on the child's stdout. */
export const BROKER_MARK = "\u001eBLIT-LINK ";

/** Creates a symlink entry under `root`. */
export type SymlinkMaker = (
  root: ContainedRoot,
  entry: FileEntry,
) => Promise<void>;

interface Request {
  id: number;
  /** The module's real path. */
  module: string;
  /** The link's path relative to the module. */
  path: string;
  target: string;
}

interface Response {
  id: number;
  error?: string;
}

/**
 * The sandboxed side: sends link requests to the parent and awaits answers.
 *
 * @example
 * ```ts ignore
 * const makeLink = brokerClient();
 * await makeLink("/srv/m", { path: "l", kind: "symlink", size: 1, mtimeMs: 0, mode: 0o777, linkTarget: "t" });
 * ```
 */
export function brokerClient(): SymlinkMaker {
  const waiting = new Map<
    number,
    { resolve: () => void; reject: (e: Error) => void }
  >();
  let nextId = 1;
  const encoder = new TextEncoder();
  (async () => {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const chunk of Deno.stdin.readable) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let response: Response;
        try {
          response = JSON.parse(line);
        } catch {
          continue;
        }
        const waiter = waiting.get(response.id);
        if (!waiter) continue;
        waiting.delete(response.id);
        if (response.error) {
          waiter.reject(new Deno.errors.PermissionDenied(response.error));
        } else waiter.resolve();
      }
    }
    for (const waiter of waiting.values()) {
      waiter.reject(new Error("Link broker went away"));
    }
    waiting.clear();
  })();
  return (root, entry) => {
    const id = nextId++;
    // Journal the directory first: the parent makes a temp name there.
    root.noteTemp(entry.path);
    const request: Request = {
      id,
      module: root.modulePath,
      path: root.base === "" ? entry.path : `${root.base}/${entry.path}`,
      target: entry.linkTarget ?? "",
    };
    const answer = new Promise<void>((resolve, reject) =>
      waiting.set(id, { resolve, reject })
    );
    Deno.stdout.writeSync(
      encoder.encode(`${BROKER_MARK}${JSON.stringify(request)}\n`),
    );
    return answer;
  };
}

/**
 * The parent side: serves link requests from `child`'s stdout (other
 * lines pass through to our stdout) and answers on its stdin. Only links
 * inside writable modules are made.
 *
 * Permissions: read and write on the modules; the parent is unsandboxed.
 */
export async function serveLinkBroker(
  child: Deno.ChildProcess,
  modules: readonly ModuleConfig[],
): Promise<void> {
  const writable = new Map(
    modules.filter((m) => !m.readOnly).map((m) => [m.path, m]),
  );
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of child.stdout) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (!line.startsWith(BROKER_MARK)) {
        Deno.stdout.writeSync(encoder.encode(line + "\n"));
        continue;
      }
      let response: Response;
      try {
        const request: Request = JSON.parse(line.slice(BROKER_MARK.length));
        response = { id: request.id };
        try {
          const module = writable.get(request.module);
          if (!module) throw new Error("Not a writable module");
          // Re-checked here: a sandbox escape must not buy a way out.
          if (
            module.mungeSymlinks &&
            !staysInside(request.path, request.target) &&
            !request.target.startsWith(MUNGE_PREFIX)
          ) {
            throw new Error(`Link target of ${request.path} leaves the module`);
          }
          // Walks from the module root refusing links, like the daemon.
          applySymlink(new ContainedRoot(module.path), {
            path: request.path,
            kind: "symlink",
            size: request.target.length,
            mtimeMs: 0,
            mode: 0o777,
            linkTarget: request.target,
          });
        } catch (error) {
          response.error = error instanceof Error
            ? error.message
            : String(error);
        }
      } catch {
        continue; // not a request we understand
      }
      await writer.write(encoder.encode(JSON.stringify(response) + "\n")).catch(
        () => {},
      );
    }
  }
  if (buffered) Deno.stdout.writeSync(encoder.encode(buffered));
  await writer.close().catch(() => {});
}
