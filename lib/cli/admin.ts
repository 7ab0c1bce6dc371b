// blit list, purge and modules.
import { type CliIo, type Flags, remoteArg } from "./flags.ts";
import { plural } from "./diagnostics.ts";
import { type RemoteAddress, UsageError } from "../client/address.ts";
import { formatBytes } from "../ui/format.ts";
import { escapeControls } from "../ui/escape.ts";

export function formatMtime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

export async function list(
  target: RemoteAddress,
  flags: Flags,
  io: CliIo,
): Promise<number> {
  const remote = await import("../client/admin.ts");
  const listing = await remote.listRemote(target, {
    recursive: flags.recursive,
  });
  if (flags.json) {
    io.stdout(
      JSON.stringify(listing.entries.map((e) => ({
        name: e.name,
        is_dir: e.isDir,
        is_symlink: e.isSymlink,
        size: e.size,
        mtime: Math.floor(e.mtimeMs / 1000),
      }))) + "\n",
    );
    return 0;
  }
  const lines = listing.entries.map((e) => {
    const kind = e.isDir ? "dir " : e.isSymlink ? "link" : "file";
    const name = e.isDir
      ? `${escapeControls(e.name)}/`
      : e.isSymlink
      ? `${escapeControls(e.name)} -> ${escapeControls(e.linkTarget ?? "")}`
      : escapeControls(e.name);
    return `${kind}  ${formatBytes(e.size).padStart(10)}  ${
      formatMtime(e.mtimeMs)
    }  ${name}`;
  });
  io.stdout(lines.length > 0 ? lines.join("\n") + "\n" : "");
  return 0;
}

export async function purge(
  target: RemoteAddress,
  flags: Flags,
  io: CliIo,
  raw: string,
): Promise<number> {
  const remote = await import("../client/admin.ts");
  const isRoot = target.path === "";
  if (isRoot && !flags.yes) {
    throw new UsageError(
      `purging the root of module ${target.module} empties it; add --yes to confirm`,
    );
  }
  if (!flags.yes && !flags.dryRun) {
    const listing = await remote.listRemote(target);
    if (listing.pathIsDir) {
      if (!io.stdinIsTerminal) {
        throw new UsageError(
          `${raw} is a directory; add --yes to purge it without a terminal`,
        );
      }
      const answer = io.prompt(`Delete ${raw} and everything under it? [y/N]`);
      if (answer === null || !/^y(es)?$/i.test(answer.trim())) {
        io.stderr("blit: purge cancelled\n");
        return 1;
      }
    }
  }
  const counts = await remote.purgeRemote(target, {
    dryRun: flags.dryRun,
    allowRoot: isRoot,
  });
  if (flags.json) {
    io.stdout(
      JSON.stringify({
        op: "purge",
        files_deleted: counts.filesDeleted,
        dirs_deleted: counts.dirsDeleted,
        dry_run: flags.dryRun,
      }) + "\n",
    );
  } else if (!flags.quiet) {
    io.stdout(
      `purge${flags.dryRun ? " (dry run)" : ""}: ${
        plural(counts.filesDeleted, "file")
      } and ${
        plural(counts.dirsDeleted, "directory").replace(
          "directorys",
          "directories",
        )
      } ${flags.dryRun ? "would be " : ""}deleted\n`,
    );
  }
  return 0;
}

export async function modules(
  arg: string,
  flags: Flags,
  io: CliIo,
): Promise<number> {
  const address = remoteArg(arg, flags, io, { moduleRequired: false });
  const remote = await import("../client/admin.ts");
  const found = await remote.listModules(address);
  if (flags.json) {
    io.stdout(
      JSON.stringify(
        // A protected module shows its name and that it needs a secret.
        found.map((m) =>
          m.auth ? { name: m.name, auth: true } : {
            name: m.name,
            read_only: m.readOnly,
            comment: m.comment,
            auth: false,
          }
        ),
      ) + "\n",
    );
  } else {
    for (const m of found) {
      io.stdout(
        m.auth
          ? `${escapeControls(m.name)} (secret required)\n`
          : `${escapeControls(m.name)}${m.readOnly ? " (read-only)" : ""}${
            m.comment ? `  ${escapeControls(m.comment)}` : ""
          }\n`,
      );
    }
  }
  return 0;
}
